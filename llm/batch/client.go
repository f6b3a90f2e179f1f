package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/openai"
	"github.com/evalctl/evalctl/llm/transport"
)

// Config configures a Client.
type Config struct {
	// Provider is the model-ref prefix ("openai"), used in error messages.
	Provider string
	// BaseURL of the API including /v1 ("" for OpenAI's).
	BaseURL string
	APIKey  string
	// HTTPClient carries the transport (retries, limits, pacing), the same
	// one as the provider's interactive client; nil means a client over
	// transport.New(nil, transport.DefaultPolicy).
	HTTPClient *http.Client
	// Redactor scrubs secrets from errors and answers; the APIKey is added.
	Redactor *transport.Redactor
	// Limits bound each batch (zero fields: OpenAI's).
	Limits Limits
	// NoSchema sends requests with a Schema in JSON mode, as the
	// interactive client does once a server refused json_schema.
	NoSchema bool
	// Metadata is attached to every batch created (at most 16 keys, as
	// OpenAI allows), e.g. the run it belongs to.
	Metadata map[string]string
}

// Client talks to an OpenAI-compatible Batch API.
type Client struct {
	cfg Config
	api *goopenai.Client
}

// New returns a client.
func New(cfg Config) *Client {
	if cfg.Provider == "" {
		cfg.Provider = "openai"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: transport.New(nil, transport.DefaultPolicy)}
	}
	if cfg.Redactor == nil {
		cfg.Redactor = &transport.Redactor{}
	}
	cfg.Redactor.Add(cfg.APIKey)
	oc := goopenai.DefaultConfig(cfg.APIKey)
	if cfg.BaseURL != "" {
		oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	}
	oc.HTTPClient = cfg.HTTPClient
	return &Client{cfg: cfg, api: goopenai.NewClientWithConfig(oc)}
}

// Batch statuses, as OpenAI names them.
const (
	StatusValidating = "validating"
	StatusFailed     = "failed"
	StatusInProgress = "in_progress"
	StatusFinalizing = "finalizing"
	StatusCompleted  = "completed"
	StatusExpired    = "expired"
	StatusCancelling = "cancelling"
	StatusCancelled  = "cancelled"
)

// State is a batch as the API reports it. Times are zero when unset.
type State struct {
	ID     string
	Status string
	// Total, Completed and Failed count requests (Total is 0 while the
	// batch is validated).
	Total, Completed, Failed  int
	InputFileID               string
	OutputFileID, ErrorFileID string
	// Errors are the problems of the input file that failed the batch.
	Errors []LineError

	CreatedAt, InProgressAt, FinalizingAt, CompletedAt time.Time
	FailedAt, ExpiredAt, CancellingAt, CancelledAt     time.Time
	ExpiresAt                                          time.Time
}

// LineError is a problem of a batch's input file.
type LineError struct {
	Code, Message, Param string
	Line                 int // from 1; 0 when the problem is the whole file's
}

func (e LineError) String() string {
	s := e.Code + ": " + e.Message
	if e.Line > 0 {
		s = fmt.Sprintf("line %d: %s", e.Line, s)
	}
	return s
}

// Done reports whether the batch has ended (completed, failed, expired or
// cancelled): its state will not change again.
func (s State) Done() bool {
	switch s.Status {
	case StatusCompleted, StatusFailed, StatusExpired, StatusCancelled:
		return true
	}
	return false
}

// Err is the failure of a batch that failed as a whole (its input was
// refused), as a KindClient *llm.Error naming the lines; nil otherwise.
func (s State) Err() error {
	if s.Status != StatusFailed {
		return nil
	}
	msg := "batch " + s.ID + " failed"
	for i, e := range s.Errors {
		if i == 5 {
			msg += fmt.Sprintf("; and %d more", len(s.Errors)-i)
			break
		}
		sep := ": "
		if i > 0 {
			sep = "; "
		}
		msg += sep + e.String()
	}
	return &llm.Error{Kind: llm.KindClient, Msg: msg, Attempts: 1}
}

// String is the state for people: "batch_abc in_progress 120/500 done, 3 failed".
func (s State) String() string {
	out := s.ID + " " + s.Status
	if s.Total > 0 {
		out += fmt.Sprintf(" %d/%d done", s.Completed+s.Failed, s.Total)
		if s.Failed > 0 {
			out += fmt.Sprintf(", %d failed", s.Failed)
		}
	}
	return out
}

func unix(p *int) time.Time {
	if p == nil || *p == 0 {
		return time.Time{}
	}
	return time.Unix(int64(*p), 0)
}

func stateOf(b goopenai.Batch, red *transport.Redactor) State {
	s := State{ID: b.ID, Status: b.Status, InputFileID: b.InputFileID,
		Total: b.RequestCounts.Total, Completed: b.RequestCounts.Completed, Failed: b.RequestCounts.Failed,
		CreatedAt: unix(&b.CreatedAt), InProgressAt: unix(b.InProgressAt), FinalizingAt: unix(b.FinalizingAt),
		CompletedAt: unix(b.CompletedAt), FailedAt: unix(b.FailedAt), ExpiredAt: unix(b.ExpiredAt),
		CancellingAt: unix(b.CancellingAt), CancelledAt: unix(b.CancelledAt), ExpiresAt: unix(b.ExpiresAt)}
	if b.OutputFileID != nil {
		s.OutputFileID = *b.OutputFileID
	}
	if b.ErrorFileID != nil {
		s.ErrorFileID = *b.ErrorFileID
	}
	if b.Errors != nil {
		for _, e := range b.Errors.Data {
			le := LineError{Code: e.Code, Message: red.Redact(e.Message)}
			if e.Param != nil {
				le.Param = *e.Param
			}
			if e.Line != nil {
				le.Line = *e.Line
			}
			s.Errors = append(s.Errors, le)
		}
	}
	return s
}

func (c *Client) fail(ctx context.Context, what string, err error) error {
	e := openai.Classify(ctx, err, c.cfg.Provider, "", c.cfg.Redactor)
	e.Msg = what + ": " + e.Msg
	return e
}

// Submit sends items as one or more batches (one model each, within the
// limits) and returns their ids, in order. Every item is encoded and
// checked before anything is sent. When a batch cannot be created, the ids
// of those created before it come back with the error: they are running,
// and paid for.
//
// Creating a batch is not repeated after a lost answer (a retry could create
// a second one): Submit looks for a batch created from the same file
// instead, and returns it.
func (c *Client) Submit(ctx context.Context, items []Item) ([]string, error) {
	var ids []string
	err := c.SubmitEach(ctx, items, func(id string, _ []Item) error {
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// SubmitEach is Submit calling created with each batch as soon as it
// exists, with the items it holds, so that the caller records the id before
// anything else can happen to the process. An error from created stops the
// submission and comes back (the batch it was given is running).
func (c *Client) SubmitEach(ctx context.Context, items []Item, created func(id string, items []Item) error) error {
	if len(items) == 0 {
		return errors.New("batch: nothing to submit")
	}
	parts, err := split(items, c.cfg.Limits, !c.cfg.NoSchema)
	if err != nil {
		return err
	}
	for i, p := range parts {
		id, err := c.submitFile(ctx, join(p.lines), i+1, len(parts))
		if err != nil {
			return err
		}
		if err := created(id, p.items); err != nil {
			return err
		}
	}
	return nil
}

// submitFile uploads one input file and creates its batch.
func (c *Client) submitFile(ctx context.Context, data []byte, part, parts int) (string, error) {
	name := fmt.Sprintf("evalctl-batch-%d-of-%d.jsonl", part, parts)
	f, err := c.api.CreateFileBytes(ctx, goopenai.FileBytesRequest{Name: name, Bytes: data, Purpose: goopenai.PurposeBatch})
	if err != nil {
		return "", c.fail(ctx, "uploading "+name, err)
	}
	return c.create(ctx, f.ID, part, parts)
}

func (c *Client) create(ctx context.Context, fileID string, part, parts int) (string, error) {
	md := map[string]any{}
	for k, v := range c.cfg.Metadata {
		md[k] = v
	}
	if parts > 1 {
		md["evalctl_part"] = fmt.Sprintf("%d/%d", part, parts)
	}
	if len(md) == 0 {
		md = nil
	}
	b, err := c.api.CreateBatch(transport.Once(ctx), goopenai.CreateBatchRequest{InputFileID: fileID,
		Endpoint: goopenai.BatchEndpointChatCompletions, CompletionWindow: "24h", Metadata: md})
	if err == nil {
		return b.ID, nil
	}
	e := c.fail(ctx, "creating a batch from "+fileID, err).(*llm.Error)
	if e.Kind == llm.KindClient || e.Kind.Fatal() || e.Kind == llm.KindCanceled || e.Kind == llm.KindRateLimited {
		return "", e // refused: nothing was created
	}
	// The answer was lost: the batch may exist all the same.
	if id, ok := c.find(ctx, fileID); ok {
		return id, nil
	}
	return "", e
}

// find returns the newest batch created from fileID, among the latest 100.
func (c *Client) find(ctx context.Context, fileID string) (string, bool) {
	limit := 100
	list, err := c.api.ListBatch(ctx, nil, &limit)
	if err != nil {
		return "", false
	}
	for _, b := range list.Data {
		if b.InputFileID == fileID {
			return b.ID, true
		}
	}
	return "", false
}

// Status returns a batch's state. Any client with the batch id can ask:
// a new process re-attaches to the batches an earlier one submitted.
func (c *Client) Status(ctx context.Context, id string) (State, error) {
	b, err := c.api.RetrieveBatch(ctx, id)
	if err != nil {
		return State{ID: id}, c.fail(ctx, "batch "+id, err)
	}
	return stateOf(b.Batch, c.cfg.Redactor), nil
}

// Cancel asks for a batch to stop; it is cancelling, then cancelled. The
// requests answered by then stay in its output file; the others come back
// with Code batch_cancelled.
func (c *Client) Cancel(ctx context.Context, id string) (State, error) {
	b, err := c.api.CancelBatch(ctx, id)
	if err != nil {
		return State{ID: id}, c.fail(ctx, "cancelling batch "+id, err)
	}
	return stateOf(b.Batch, c.cfg.Redactor), nil
}

// maxPollFailures is how many polls in a row may fail (after the
// transport's own retries) before Wait gives up.
const maxPollFailures = 5

// Wait polls a batch every poll (30 seconds when 0 or less) until it has
// ended, calling progress, when set, with every state
// it reads. It returns the final state, or the last state read and the
// context's error when ctx ends first (the batch runs on: Wait again, or
// Cancel it). A fatal error (authentication, an unknown batch) ends it at
// once; other failed polls are tolerated, up to 5 in a row.
func (c *Client) Wait(ctx context.Context, id string, poll time.Duration, progress func(State)) (State, error) {
	if poll <= 0 {
		poll = 30 * time.Second
	}
	last, fails := State{ID: id}, 0
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-t.C:
		}
		st, err := c.Status(ctx, id)
		switch {
		case err == nil:
			fails, last = 0, st
			if progress != nil {
				progress(st)
			}
			if st.Done() {
				return st, nil
			}
		case ctx.Err() != nil:
			return last, ctx.Err()
		default:
			fails++
			if k := llm.AsError(err).Kind; k.Fatal() || k == llm.KindClient || fails >= maxPollFailures {
				return last, err
			}
		}
		t.Reset(poll)
	}
}

// Results reads the output and error files of an ended batch: an Outcome
// per request found in them, keyed by custom id. A batch that failed as a
// whole has no results: its State.Err comes back. A batch that has not
// ended yet is an error (its files do not exist yet). When some lines of
// the files are unreadable, the outcomes of the others come with the error;
// requests missing from the files are the caller's to notice.
func (c *Client) Results(ctx context.Context, st State) (map[string]Outcome, error) {
	if !st.Done() {
		return nil, fmt.Errorf("batch %s is %s: its results are read once it has ended", st.ID, st.Status)
	}
	if err := st.Err(); err != nil {
		return map[string]Outcome{}, err
	}
	out := map[string]Outcome{}
	var errs []error
	for _, fid := range []string{st.OutputFileID, st.ErrorFileID} {
		if fid == "" {
			continue
		}
		data, err := c.content(ctx, fid)
		if err != nil {
			return nil, err
		}
		got, err := ParseResults(data, c.cfg.Provider, c.cfg.Redactor)
		if err != nil {
			errs = append(errs, fmt.Errorf("file %s: %w", fid, err))
		}
		for id, o := range got {
			if prev, dup := out[id]; dup && (prev.Err == nil || o.Err != nil) {
				continue
			}
			out[id] = o
		}
	}
	return out, errors.Join(errs...)
}

func (c *Client) content(ctx context.Context, fileID string) ([]byte, error) {
	raw, err := c.api.GetFileContent(transport.File(ctx), fileID) // JSONL, not an API answer
	if err != nil {
		return nil, c.fail(ctx, "reading file "+fileID, err)
	}
	defer raw.Close()
	data, err := io.ReadAll(raw)
	if err != nil {
		return nil, c.fail(ctx, "reading file "+fileID, err)
	}
	return data, nil
}
