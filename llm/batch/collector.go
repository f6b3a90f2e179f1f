package batch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/evalctl/evalctl/llm"
)

// Ledger keeps the batches a Collector submitted, so that a process started
// after one that was killed re-attaches to them instead of paying for their
// requests again (package store keeps one in the run store).
type Ledger interface {
	// Open returns the requests of the batches submitted earlier and not
	// yet collected: the id of the batch holding each, by request key.
	Open(ctx context.Context) (map[string]string, error)
	// Submitted records a batch that was just created: its id, model and
	// the keys of its requests.
	Submitted(ctx context.Context, id, model string, keys []string) error
	// Collected records that a batch's results were read: its answers, by
	// request key, are kept where a later ask finds them (the response
	// cache), and the batch is no longer open.
	Collected(ctx context.Context, id string, answers map[string]llm.Response) error
}

// Options configure a Collector.
type Options struct {
	// Key names a request: its custom id in the batch and its key in the
	// Ledger. Two requests with one key are asked once. Default: the
	// SHA-256 of the request.
	Key func(llm.Request) string
	// Ledger, when set, keeps the batches submitted for re-attaching.
	Ledger Ledger
	// Collect is the quiet time after the last request before the requests
	// gathered go as a batch (default 2s); MaxCollect bounds how long the
	// first of them waits for quiet (default 1m).
	Collect, MaxCollect time.Duration
	// Poll is the time between two reads of a batch's state (default 30s).
	Poll time.Duration
	// Fallback, when set, answers interactively the requests a batch did
	// not run (expired, cancelled, a batch refused as a whole) and those it
	// answered with a server error or a rate limit; when nil, they end
	// with that error.
	Fallback llm.Client
	// OnState, when set, is called with every state read of a batch.
	OnState func(model string, st State)
}

// Collector is an llm.Client sending its requests through the Batch API:
// the requests asked at about the same time (Options.Collect) go as one
// batch per model, and each Complete returns when its batch has ended. A
// run asks all its cells at once, so its answers go as one batch and its
// judges, which wait for the answers, as a second.
//
// Batches are recorded in the Ledger as soon as they are created; a
// Collector asked for a request that an open batch of the Ledger holds
// waits for that batch instead of sending the request again.
type Collector struct {
	c    *Client
	opts Options
	ctx  context.Context
	stop context.CancelFunc

	openOnce sync.Once
	openErr  error

	mu       sync.Mutex
	waiters  map[string]*waiter  // by key: asked, not yet answered
	open     map[string]string   // key → id of the open batch holding it
	members  map[string][]string // batch id → its keys
	watching map[string]bool     // batch ids being waited for
	pending  []string            // keys not yet submitted, in order
	first    time.Time           // when the oldest pending key was asked
	last     time.Time           // when the newest was
	kick     chan struct{}
	states   map[string]Progress // by batch id, of the batches waited for
	// answered holds the answers of the batches ended: a request asked
	// after its batch ended (its answer not yet in a cache above) is not
	// sent again.
	answered map[string]llm.Response
	wg       sync.WaitGroup
}

type waiter struct {
	req  llm.Request
	done chan struct{}
	out  Outcome
	// retry is set when the request was not run (or failed in a way an
	// interactive call may fix): the fallback answers it.
	retry bool
}

// Progress is the last known state of a batch a Collector waits for.
type Progress struct {
	Model string
	State State
}

// NewCollector returns a collector sending through c.
func NewCollector(c *Client, opts Options) *Collector {
	if opts.Key == nil {
		opts.Key = Key
	}
	if opts.Collect <= 0 {
		opts.Collect = 2 * time.Second
	}
	if opts.MaxCollect <= 0 {
		opts.MaxCollect = time.Minute
	}
	if opts.MaxCollect < opts.Collect {
		opts.MaxCollect = opts.Collect
	}
	ctx, stop := context.WithCancel(context.Background())
	col := &Collector{c: c, opts: opts, ctx: ctx, stop: stop,
		waiters: map[string]*waiter{}, open: map[string]string{}, members: map[string][]string{},
		watching: map[string]bool{}, answered: map[string]llm.Response{}, kick: make(chan struct{}, 1), states: map[string]Progress{}}
	col.wg.Add(1)
	go col.loop()
	return col
}

// Key is the default request key: the hex SHA-256 of the request (its
// Sample included).
func Key(req llm.Request) string {
	b, _ := json.Marshal(req)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Close stops waiting: requests still waiting end canceled, and the
// batches run on at the provider (a later process re-attaches to them).
func (col *Collector) Close() {
	col.stop()
	col.wg.Wait()
}

// Batches returns the state of each batch the collector waits for or has
// waited for, by id.
func (col *Collector) Batches() map[string]Progress {
	col.mu.Lock()
	defer col.mu.Unlock()
	out := make(map[string]Progress, len(col.states))
	for id, p := range col.states {
		out[id] = p
	}
	return out
}

func canceled() error { return &llm.Error{Kind: llm.KindCanceled, Msg: "canceled"} }

// Complete asks for req in a batch and returns its answer once that batch
// has ended. When ctx ends first, the request stays in its batch.
func (col *Collector) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	col.openOnce.Do(func() {
		if col.opts.Ledger == nil {
			return
		}
		open, err := col.opts.Ledger.Open(col.ctx)
		if err != nil {
			col.openErr = fmt.Errorf("reading the batches submitted earlier: %w", err)
			return
		}
		col.mu.Lock()
		for k, id := range open {
			col.open[k] = id
			col.members[id] = append(col.members[id], k)
		}
		col.mu.Unlock()
	})
	if col.openErr != nil {
		return llm.Response{}, col.openErr
	}
	if col.ctx.Err() != nil {
		return llm.Response{}, canceled()
	}
	key := col.opts.Key(req)
	col.mu.Lock()
	if resp, ok := col.answered[key]; ok {
		col.mu.Unlock()
		return resp, nil
	}
	w := col.waiters[key]
	if w == nil {
		w = &waiter{req: req, done: make(chan struct{})}
		col.waiters[key] = w
		if id, ok := col.open[key]; ok {
			col.watch(id, req.Model) // submitted by an earlier process
		} else {
			now := time.Now()
			if len(col.pending) == 0 {
				col.first = now
			}
			col.last = now
			col.pending = append(col.pending, key)
			select {
			case col.kick <- struct{}{}:
			default:
			}
		}
	}
	col.mu.Unlock()
	select {
	case <-w.done:
	case <-ctx.Done():
		return llm.Response{}, canceled()
	case <-col.ctx.Done():
		return llm.Response{}, canceled()
	}
	if w.out.Err == nil {
		return w.out.Response, nil
	}
	if w.retry && col.opts.Fallback != nil {
		return col.opts.Fallback.Complete(ctx, req)
	}
	e := *w.out.Err // the caller's own: one failure ends many requests
	return llm.Response{}, &e
}

// loop submits the pending requests once they have been quiet for Collect
// (or the oldest has waited MaxCollect, or there are a batch's worth).
func (col *Collector) loop() {
	defer col.wg.Done()
	for {
		select {
		case <-col.kick:
		case <-col.ctx.Done():
			return
		}
		for {
			col.mu.Lock()
			n := len(col.pending)
			due := col.last.Add(col.opts.Collect)
			if cap := col.first.Add(col.opts.MaxCollect); cap.Before(due) {
				due = cap
			}
			col.mu.Unlock()
			if n == 0 {
				break
			}
			wait := time.Until(due)
			if n >= col.c.cfg.Limits.orDefault().MaxRequests || wait <= 0 {
				col.flush()
				continue
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-col.ctx.Done():
				t.Stop()
				return
			}
		}
	}
}

// flush submits the pending requests.
func (col *Collector) flush() {
	col.mu.Lock()
	keys := col.pending
	col.pending = nil
	items := make([]Item, len(keys))
	for i, k := range keys {
		items[i] = Item{CustomID: k, Req: col.waiters[k].req}
	}
	col.mu.Unlock()
	sent := map[string]bool{}
	// A submission is not cut short by Close: a batch created but not
	// recorded would be paid for again by the next process.
	ctx := context.WithoutCancel(col.ctx)
	err := col.c.SubmitEach(ctx, items, func(id string, its []Item) error {
		ks := make([]string, len(its))
		for i, it := range its {
			ks[i] = it.CustomID
			sent[it.CustomID] = true
		}
		model := its[0].request().Model
		col.mu.Lock()
		col.members[id] = ks
		for _, k := range ks {
			col.open[k] = id
		}
		col.mu.Unlock()
		var lerr error
		if col.opts.Ledger != nil {
			lerr = col.opts.Ledger.Submitted(ctx, id, model, ks)
		}
		col.mu.Lock()
		col.watch(id, model)
		col.mu.Unlock()
		if lerr != nil {
			return fmt.Errorf("recording batch %s (it runs on, and is paid for): %w", id, lerr)
		}
		return nil
	})
	if err == nil {
		return
	}
	// The requests of no batch end with the error; an interactive call may
	// answer them unless the provider refused (a key, a missing Batch API).
	e := llm.AsError(err)
	retry := e == nil || !(e.Kind.Fatal() || e.Kind == llm.KindClient || e.Kind == llm.KindCanceled)
	if e == nil {
		e = &llm.Error{Kind: llm.KindUnknown, Msg: err.Error()}
	} else if e.Kind == llm.KindNotFound && len(sent) == 0 {
		e.Msg += " (this endpoint seems to have no Batch API: ask it interactively, without batch:)"
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, k := range keys {
		if !sent[k] {
			col.resolve(k, Outcome{Err: e}, retry)
		}
	}
}

// resolve ends the wait of a key's requests. Called with mu held.
func (col *Collector) resolve(key string, out Outcome, retry bool) {
	w := col.waiters[key]
	if w == nil {
		return
	}
	delete(col.waiters, key)
	w.out, w.retry = out, retry
	close(w.done)
}

// watch waits for a batch, once, and hands its results to their waiters.
// Called with mu held.
func (col *Collector) watch(id, model string) {
	if col.watching[id] {
		return
	}
	col.watching[id] = true
	col.states[id] = Progress{Model: model, State: State{ID: id, Status: StatusValidating}}
	col.wg.Add(1)
	go func() {
		defer col.wg.Done()
		col.await(id, model)
	}()
}

func (col *Collector) await(id, model string) {
	st, err := col.c.Wait(col.ctx, id, col.opts.Poll, func(st State) {
		col.mu.Lock()
		col.states[id] = Progress{Model: model, State: st}
		col.mu.Unlock()
		if col.opts.OnState != nil {
			col.opts.OnState(model, st)
		}
	})
	if col.ctx.Err() != nil {
		return // the batch runs on; a later process re-attaches
	}
	if e := llm.AsError(err); e != nil && e.Kind == llm.KindNotFound {
		col.lost(id, model, "the endpoint does not know it")
		return
	}
	if err != nil {
		// The batch may still run, and is paid for: it stays open, to be
		// waited for again by the next ask of one of its requests, and the
		// requests waiting now end with the error.
		col.end(id, nil, llm.AsError(err), false, false)
		return
	}
	if err := st.Err(); err != nil {
		col.end(id, nil, llm.AsError(err), true, true) // refused as a whole: nothing ran
		col.collected(id, nil)
		return
	}
	outs, err := col.c.Results(col.ctx, st)
	if outs == nil {
		switch e := llm.AsError(err); {
		case col.ctx.Err() != nil:
		case e != nil && e.Kind == llm.KindNotFound:
			col.lost(id, model, "its result files are gone")
		default:
			col.end(id, nil, e, false, false)
		}
		return
	}
	missing := &llm.Error{Kind: llm.KindMalformed, Model: model,
		Msg: fmt.Sprintf("batch %s (%s) ended %s without a result for this request", id, model, st.Status)}
	if err != nil {
		missing.Msg += " (" + err.Error() + ")"
	}
	answers := map[string]llm.Response{}
	for k, o := range outs {
		if o.Err == nil {
			answers[k] = o.Response
		}
	}
	// Recorded before anybody gets an answer: once a request's answer is
	// used, it is in the ledger's keeping.
	col.collected(id, answers)
	col.end(id, outs, missing, true, true)
}

// end hands a batch's outcomes to its waiters; a key without an outcome
// gets otherwise (retried when retry is set). With forget, the batch is
// done with: a later ask of one of its requests is a new request; without,
// the batch stays open and a later ask waits for it again.
func (col *Collector) end(id string, outs map[string]Outcome, otherwise *llm.Error, retry, forget bool) {
	if otherwise == nil {
		otherwise = &llm.Error{Kind: llm.KindUnknown, Msg: "batch " + id + " failed"}
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for k, o := range outs {
		if o.Err == nil {
			col.answered[k] = o.Response
		}
	}
	for _, k := range col.members[id] {
		o, ok := outs[k]
		if !ok {
			col.resolve(k, Outcome{Err: otherwise}, retry)
		} else {
			col.resolve(k, o, o.Err != nil && rerun(o))
		}
		if forget && col.open[k] == id {
			delete(col.open, k)
		}
	}
	delete(col.watching, id)
	if forget {
		delete(col.members, id)
	}
}

// rerun reports whether a request the batch failed may be asked again
// interactively: it was not run, or met a server error or a rate limit.
func rerun(o Outcome) bool {
	switch o.Err.Kind {
	case llm.KindTimeout, llm.KindCanceled, llm.KindServer, llm.KindRateLimited, llm.KindUnreachable:
		return true
	}
	return false
}

// collected records an ended batch in the ledger. A failure to record
// leaves the batch open there: a later process reads its results again,
// which costs nothing.
func (col *Collector) collected(id string, answers map[string]llm.Response) {
	if col.opts.Ledger != nil {
		_ = col.opts.Ledger.Collected(col.ctx, id, answers)
	}
}

// lost gives up a batch whose answers cannot be had: the endpoint does
// not know it (a restarted simulator, or a key of another organisation,
// whose batch may still run and be paid for there) or its files are gone.
// Sending its requests again could pay for them twice, so that is left to
// the user: the batch is dropped from the ledger, and its requests waiting
// now end with a fatal error saying so (the run stops); the next ask of
// them sends them anew.
func (col *Collector) lost(id, model, why string) {
	col.collected(id, nil)
	col.mu.Lock()
	n := len(col.members[id])
	delete(col.states, id) // not waited for anymore
	col.mu.Unlock()
	col.end(id, nil, &llm.Error{Kind: llm.KindNotFound, Model: model,
		Msg: fmt.Sprintf("batch %s (%d requests) cannot be read: %s (a restarted server, or an API key of another organisation, whose batch may still run and be paid for there); its requests were not sent again: a resume sends them anew", id, n, why)},
		false, true)
}
