package sim

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The Batch API, shaped like OpenAI's: a JSONL input file is uploaded
// (POST /v1/files, purpose batch), a batch is created from it (POST
// /v1/batches) and goes validating → in_progress → finalizing → completed
// (or failed, expired, cancelling → cancelled); its answers are written to
// an output file and its failures to an error file, read with GET
// /v1/files/{id}/content. Each request is answered as the chat endpoint
// answers it (same text, same usage), without the interactive faults,
// latency and rate limits; BatchFailRate and BatchExpireRate stand for the
// batch's own failures. A batch moves on when it is looked at: every request
// is answered once, however often its batch and files are read.

// Batch statuses, as OpenAI names them.
const (
	statusValidating = "validating"
	statusFailed     = "failed"
	statusInProgress = "in_progress"
	statusFinalizing = "finalizing"
	statusCompleted  = "completed"
	statusExpired    = "expired"
	statusCancelling = "cancelling"
	statusCancelled  = "cancelled"
)

const (
	defaultBatchMaxRequests = 50_000
	defaultBatchMaxBytes    = 200 << 20
	chatEndpoint            = "/v1/chat/completions"
)

// batchStore holds the files and batches of a server.
type batchStore struct {
	mu      sync.Mutex
	files   map[string]*simFile
	batches map[string]*simBatch
	order   []string // batch ids, oldest first
	nFile   int
	nBatch  int

	// counters, read by Stats
	uploaded, created, answered, failed atomic.Int64
}

type simFile struct {
	id, name, purpose string
	data              []byte
	created           time.Time
}

func (f *simFile) object() map[string]any {
	return map[string]any{"id": f.id, "object": "file", "bytes": len(f.data), "created_at": f.created.Unix(),
		"filename": f.name, "purpose": f.purpose, "status": "processed", "status_details": nil}
}

// batchLine is a request of an input file.
type batchLine struct {
	customID string
	body     json.RawMessage
}

// lineError is a problem of an input file, reported in a failed batch's
// errors.
type lineError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
	Line    *int    `json:"line"`
}

type simBatch struct {
	id, inputFileID, window string
	metadata                map[string]any
	lines                   []batchLine
	invalid                 []lineError
	expire                  bool

	status                                                                               string
	created, inProgress, finalizing, completed, failedAt, expired, cancelling, cancelled time.Time
	done                                                                                 int // requests handled
	nOK, nFailed                                                                         int
	out, errs                                                                            bytes.Buffer
	outputFileID, errorFileID                                                            string
}

func (s *Server) batchRoutes() {
	s.batches.files = map[string]*simFile{}
	s.batches.batches = map[string]*simBatch{}
	s.mux.HandleFunc("POST /v1/files", s.uploadFile)
	s.mux.HandleFunc("GET /v1/files/{id}", s.getFile)
	s.mux.HandleFunc("GET /v1/files/{id}/content", s.fileContent)
	s.mux.HandleFunc("POST /v1/batches", s.createBatch)
	s.mux.HandleFunc("GET /v1/batches", s.listBatches)
	s.mux.HandleFunc("GET /v1/batches/{id}", s.getBatch)
	s.mux.HandleFunc("POST /v1/batches/{id}/cancel", s.cancelBatch)
}

func (s *Server) now() time.Time {
	if s.opts.Clock != nil {
		return s.opts.Clock()
	}
	return time.Now()
}

func (s *Server) maxBatchBytes() int64 {
	if s.opts.BatchMaxBytes > 0 {
		return s.opts.BatchMaxBytes
	}
	return defaultBatchMaxBytes
}

func (s *Server) maxBatchRequests() int {
	if s.opts.BatchMaxRequests > 0 {
		return s.opts.BatchMaxRequests
	}
	return defaultBatchMaxRequests
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) invalid(w http.ResponseWriter, param, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	var p any
	if param != "" {
		p = param
	}
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": msg, "type": "invalid_request_error", "param": p, "code": nil}})
}

func (s *Server) notFound(w http.ResponseWriter, what, id string) {
	writeError(w, http.StatusNotFound, "invalid_request_error", "", fmt.Sprintf("No such %s object: %s", what, id))
}

// uploadFile is POST /v1/files: a multipart form with purpose=batch and a
// .jsonl file. The content is checked when a batch is created from it, as
// OpenAI does.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r, false) {
		return
	}
	limit := s.maxBatchBytes()
	mr, err := r.MultipartReader()
	if err != nil {
		s.invalid(w, "", "The request must be multipart/form-data: "+err.Error())
		return
	}
	var purpose, name string
	var data []byte
	var haveFile bool
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.invalid(w, "", "Malformed multipart body: "+err.Error())
			return
		}
		switch part.FormName() {
		case "purpose":
			b, _ := io.ReadAll(io.LimitReader(part, 64))
			purpose = string(b)
		case "file":
			haveFile, name = true, part.FileName()
			data, err = io.ReadAll(io.LimitReader(part, limit+1))
			if err != nil {
				s.invalid(w, "file", "Reading the file: "+err.Error())
				return
			}
		}
		part.Close()
	}
	switch {
	case !haveFile:
		s.invalid(w, "file", "'file' is a required property")
		return
	case purpose != "batch":
		s.invalid(w, "purpose", fmt.Sprintf("The simulator accepts files for purpose 'batch' only, not %q.", purpose))
		return
	case !strings.HasSuffix(name, ".jsonl"):
		s.invalid(w, "file", "Invalid file format for Batch API. Must be .jsonl")
		return
	case int64(len(data)) > limit:
		s.invalid(w, "file", fmt.Sprintf("File is too large: the Batch API takes input files of at most %d bytes.", limit))
		return
	}
	st := &s.batches
	st.mu.Lock()
	st.nFile++
	f := &simFile{id: fmt.Sprintf("file-sim%06d", st.nFile), name: name, purpose: purpose, data: data, created: s.now()}
	st.files[f.id] = f
	st.mu.Unlock()
	st.uploaded.Add(1)
	writeJSON(w, f.object())
}

func (s *Server) file(w http.ResponseWriter, r *http.Request) *simFile {
	if !s.authorized(w, r, false) {
		return nil
	}
	id := r.PathValue("id")
	s.batches.mu.Lock()
	f := s.batches.files[id]
	s.batches.mu.Unlock()
	if f == nil {
		s.notFound(w, "File", id)
	}
	return f
}

func (s *Server) getFile(w http.ResponseWriter, r *http.Request) {
	if f := s.file(w, r); f != nil {
		writeJSON(w, f.object())
	}
}

// fileContent serves a file's bytes as OpenAI does: not as JSON.
func (s *Server) fileContent(w http.ResponseWriter, r *http.Request) {
	if f := s.file(w, r); f != nil {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
		w.Write(f.data)
	}
}

// createBatch is POST /v1/batches.
func (s *Server) createBatch(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r, false) {
		return
	}
	var req struct {
		InputFileID      string         `json:"input_file_id"`
		Endpoint         string         `json:"endpoint"`
		CompletionWindow string         `json:"completion_window"`
		Metadata         map[string]any `json:"metadata"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		s.invalid(w, "", "We could not parse the JSON body of your request: "+err.Error())
		return
	}
	switch {
	case req.InputFileID == "":
		s.invalid(w, "input_file_id", "Missing required parameter: 'input_file_id'.")
		return
	case req.Endpoint != chatEndpoint:
		s.invalid(w, "endpoint", fmt.Sprintf("Invalid value for 'endpoint': the simulator serves batches for %s only, not %q.", chatEndpoint, req.Endpoint))
		return
	case req.CompletionWindow != "24h":
		s.invalid(w, "completion_window", fmt.Sprintf("Invalid value for 'completion_window': only '24h' is supported, not %q.", req.CompletionWindow))
		return
	}
	st := &s.batches
	st.mu.Lock()
	f := st.files[req.InputFileID]
	st.mu.Unlock()
	if f == nil {
		s.notFound(w, "File", req.InputFileID)
		return
	}
	if f.purpose != "batch" {
		s.invalid(w, "input_file_id", fmt.Sprintf("File %s has purpose %q, not 'batch'.", f.id, f.purpose))
		return
	}
	lines, problems := s.parseInput(f.data)
	sum := sha256.Sum256(f.data)
	b := &simBatch{inputFileID: f.id, window: req.CompletionWindow, metadata: req.Metadata, lines: lines,
		invalid: problems, status: statusValidating, created: s.now(),
		expire: s.uniform(sum, 0, 4) < s.opts.BatchExpireRate}
	st.mu.Lock()
	st.nBatch++
	b.id = fmt.Sprintf("batch_sim%06d", st.nBatch)
	st.batches[b.id] = b
	st.order = append(st.order, b.id)
	obj := b.object()
	st.mu.Unlock()
	st.created.Add(1)
	writeJSON(w, obj)
}

// parseInput reads an input file and lists its problems as OpenAI reports
// them, by line (from 1).
func (s *Server) parseInput(data []byte) ([]batchLine, []lineError) {
	var lines []batchLine
	var problems []lineError
	bad := func(n int, code, param, msg string) {
		if len(problems) >= 100 {
			return
		}
		e := lineError{Code: code, Message: msg, Line: &n}
		if param != "" {
			e.Param = &param
		}
		problems = append(problems, e)
	}
	raw := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(data) == 0 {
		bad(1, "empty_file", "", "The batch input file is empty.")
		return nil, problems
	}
	seen := map[string]int{}
	model := ""
	for i, text := range raw {
		n := i + 1
		text = strings.TrimSuffix(text, "\r")
		var l struct {
			CustomID *string         `json:"custom_id"`
			Method   *string         `json:"method"`
			URL      *string         `json:"url"`
			Body     json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal([]byte(text), &l); err != nil {
			bad(n, "invalid_json_line", "", "This line is not parseable as valid JSON.")
			continue
		}
		var body struct {
			Model string `json:"model"`
		}
		switch {
		case l.CustomID == nil || *l.CustomID == "":
			bad(n, "missing_required_parameter", "custom_id", "Missing required parameter: 'custom_id'.")
			continue
		case seen[*l.CustomID] > 0:
			bad(n, "duplicate_custom_id", "custom_id", fmt.Sprintf("The custom_id %q of this request is a duplicate of the one on line %d; the custom_id must be unique for each request in a batch.", *l.CustomID, seen[*l.CustomID]))
			continue
		case l.Method == nil || *l.Method != http.MethodPost:
			bad(n, "invalid_method", "method", "The method of this request must be POST.")
		case l.URL == nil || *l.URL != chatEndpoint:
			bad(n, "url_mismatch", "url", fmt.Sprintf("The URL of this request does not match the batch's endpoint %s.", chatEndpoint))
		case len(l.Body) == 0 || l.Body[0] != '{' || json.Unmarshal(l.Body, &body) != nil:
			bad(n, "missing_required_parameter", "body", "Missing required parameter: 'body' (a JSON object).")
		case model != "" && body.Model != model:
			bad(n, "model_mismatch", "body.model", fmt.Sprintf("The model %q of this request does not match the model %q of the other requests in the file: a batch serves one model.", body.Model, model))
		}
		seen[*l.CustomID] = n
		if model == "" {
			model = body.Model
		}
		lines = append(lines, batchLine{customID: *l.CustomID, body: l.Body})
	}
	if limit := s.maxBatchRequests(); len(raw) > limit {
		bad(len(raw), "too_many_tasks", "", fmt.Sprintf("The batch input file has %d requests, more than the limit of %d.", len(raw), limit))
	}
	return lines, problems
}

func (b *simBatch) terminal() bool {
	switch b.status {
	case statusFailed, statusCompleted, statusExpired, statusCancelled:
		return true
	}
	return false
}

func unixOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

func idOrNil(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// object is the batch as the API shows it.
func (b *simBatch) object() map[string]any {
	var errs any
	if len(b.invalid) > 0 && b.status == statusFailed {
		errs = map[string]any{"object": "list", "data": b.invalid}
	}
	total := 0
	if !b.inProgress.IsZero() || b.status == statusCancelled {
		total = len(b.lines)
	}
	return map[string]any{
		"id": b.id, "object": "batch", "endpoint": chatEndpoint, "errors": errs,
		"input_file_id": b.inputFileID, "completion_window": b.window, "status": b.status,
		"output_file_id": idOrNil(b.outputFileID), "error_file_id": idOrNil(b.errorFileID),
		"created_at": b.created.Unix(), "in_progress_at": unixOrNil(b.inProgress),
		"expires_at": b.created.Add(24 * time.Hour).Unix(), "finalizing_at": unixOrNil(b.finalizing),
		"completed_at": unixOrNil(b.completed), "failed_at": unixOrNil(b.failedAt),
		"expired_at": unixOrNil(b.expired), "cancelling_at": unixOrNil(b.cancelling),
		"cancelled_at":   unixOrNil(b.cancelled),
		"request_counts": map[string]int{"total": total, "completed": b.nOK, "failed": b.nFailed},
		"metadata":       b.metadata,
	}
}

// advance moves a batch to where it stands at now, answering the requests
// due by then. The caller holds s.batches.mu.
func (s *Server) advance(b *simBatch, now time.Time) {
	if b.terminal() {
		return
	}
	d := s.opts.BatchDelay
	at := func(f float64) time.Time { return b.created.Add(time.Duration(f * float64(d))) }
	if !b.cancelling.IsZero() {
		if end := b.cancelling.Add(d / 10); !now.Before(end) {
			s.close(b, statusCancelled, end, "batch_cancelled", "This request was not executed because the batch was cancelled.")
		}
		return
	}
	start, end := at(0.1), at(0.9)
	if now.Before(start) {
		return
	}
	if len(b.invalid) > 0 {
		b.status, b.failedAt = statusFailed, start
		return
	}
	if b.inProgress.IsZero() {
		b.status, b.inProgress = statusInProgress, start
	}
	target := len(b.lines)
	if now.Before(end) {
		target = int(float64(len(b.lines)) * float64(now.Sub(start)) / float64(end.Sub(start)))
	}
	if b.expire {
		target = min(target, len(b.lines)/2)
	}
	for b.done < target {
		s.batchAnswer(b, b.lines[b.done])
		b.done++
	}
	if now.Before(end) {
		return
	}
	if b.expire {
		if stop := at(1); !now.Before(stop) {
			s.close(b, statusExpired, stop, "batch_expired", "This request could not be executed before the completion window expired.")
		}
		return
	}
	if b.finalizing.IsZero() {
		b.status, b.finalizing = statusFinalizing, end
	}
	if stop := at(1); !now.Before(stop) {
		s.close(b, statusCompleted, stop, "", "")
	}
}

// close ends a batch with status at t: the requests not handled yet go to
// the error file with code (cancelled, expired), and the files are written.
func (s *Server) close(b *simBatch, status string, t time.Time, code, msg string) {
	for ; b.done < len(b.lines); b.done++ {
		l := b.lines[b.done]
		s.batchLineOut(b, l, nil, map[string]any{"code": code, "message": msg})
	}
	st := &s.batches
	file := func(buf *bytes.Buffer) string {
		if buf.Len() == 0 {
			return ""
		}
		st.nFile++
		f := &simFile{id: fmt.Sprintf("file-sim%06d", st.nFile), name: b.id + "_output.jsonl", purpose: "batch_output",
			data: bytes.Clone(buf.Bytes()), created: t}
		st.files[f.id] = f
		return f.id
	}
	b.outputFileID, b.errorFileID = file(&b.out), file(&b.errs)
	b.out, b.errs = bytes.Buffer{}, bytes.Buffer{}
	b.status = status
	switch status {
	case statusCompleted:
		b.completed = t
	case statusExpired:
		b.expired = t
	case statusCancelled:
		b.cancelled = t
	}
}

// batchAnswer answers one request of a batch as the chat endpoint would.
func (s *Server) batchAnswer(b *simBatch, l batchLine) {
	req, aerr := s.parseChat(l.body, "")
	if aerr != nil {
		s.batchLineOut(b, l, &lineResponse{aerr.status, errorBody(aerr)}, nil)
		return
	}
	h := sha256.Sum256(append([]byte(l.customID+"\x00"), l.body...))
	if u := s.uniform(h, 0, 3); u < s.opts.BatchFailRate {
		e := &apiErr{http.StatusInternalServerError, "server_error", "", "The server had an error while processing your request. Sorry about that!"}
		if s.uniform(h, 0, 5) < 0.5 {
			e = &apiErr{http.StatusTooManyRequests, "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."}
		}
		s.batchLineOut(b, l, &lineResponse{e.status, errorBody(e)}, nil)
		return
	}
	key := sha256.Sum256(l.body) // as the chat endpoint keys the same body
	promptTok := s.promptTokens(req)
	text, finish, calls, judge := s.compose(req, key)
	resp, completionTok := s.response(req, key, promptTok, text, finish, calls)
	s.answered(judge, promptTok+completionTok)
	s.batchLineOut(b, l, &lineResponse{http.StatusOK, resp}, nil)
}

type lineResponse struct {
	status int
	body   any
}

func errorBody(e *apiErr) map[string]any {
	var c any
	if e.code != "" {
		c = e.code
	}
	return map[string]any{"error": map[string]any{"message": e.msg, "type": e.typ, "param": nil, "code": c}}
}

// batchLineOut writes a request's outcome to the batch's output file (a
// 200) or error file (an error status, or an error of the batch itself).
func (s *Server) batchLineOut(b *simBatch, l batchLine, resp *lineResponse, batchErr map[string]any) {
	h := sha256.Sum256([]byte(b.id + "\x00" + l.customID))
	line := map[string]any{"id": fmt.Sprintf("batch_req_%x", h[:12]), "custom_id": l.customID, "response": nil, "error": nil}
	if resp != nil {
		line["response"] = map[string]any{"status_code": resp.status, "request_id": fmt.Sprintf("req_%x", h[12:24]), "body": resp.body}
	}
	if batchErr != nil {
		line["error"] = batchErr
	}
	enc, _ := json.Marshal(line)
	enc = append(enc, '\n')
	if resp != nil && resp.status == http.StatusOK {
		b.out.Write(enc)
		b.nOK++
		s.batches.answered.Add(1)
		return
	}
	b.errs.Write(enc)
	b.nFailed++
	s.batches.failed.Add(1)
}

func (s *Server) batch(w http.ResponseWriter, r *http.Request) *simBatch {
	if !s.authorized(w, r, false) {
		return nil
	}
	id := r.PathValue("id")
	s.batches.mu.Lock()
	b := s.batches.batches[id]
	s.batches.mu.Unlock()
	if b == nil {
		s.notFound(w, "Batch", id)
	}
	return b
}

func (s *Server) getBatch(w http.ResponseWriter, r *http.Request) {
	b := s.batch(w, r)
	if b == nil {
		return
	}
	s.batches.mu.Lock()
	s.advance(b, s.now())
	obj := b.object()
	s.batches.mu.Unlock()
	writeJSON(w, obj)
}

// cancelBatch is POST /v1/batches/{id}/cancel: the batch is cancelling,
// then cancelled a tenth of BatchDelay later; what was answered by then
// stays in its output file.
func (s *Server) cancelBatch(w http.ResponseWriter, r *http.Request) {
	b := s.batch(w, r)
	if b == nil {
		return
	}
	st := &s.batches
	st.mu.Lock()
	now := s.now()
	s.advance(b, now)
	if b.terminal() {
		status := b.status
		st.mu.Unlock()
		s.invalid(w, "", fmt.Sprintf("Cannot cancel a batch with status '%s'.", status))
		return
	}
	if b.cancelling.IsZero() {
		b.status, b.cancelling = statusCancelling, now
	}
	obj := b.object()
	st.mu.Unlock()
	writeJSON(w, obj)
}

// listBatches is GET /v1/batches: newest first, with limit and after.
func (s *Server) listBatches(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r, false) {
		return
	}
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			s.invalid(w, "limit", "Invalid 'limit': an integer from 1 to 100.")
			return
		}
		limit = n
	}
	after := r.URL.Query().Get("after")
	st := &s.batches
	st.mu.Lock()
	now := s.now()
	data := []any{}
	skipping := after != ""
	more := false
	for i := len(st.order) - 1; i >= 0; i-- {
		id := st.order[i]
		if skipping {
			skipping = id != after
			continue
		}
		if len(data) == limit {
			more = true
			break
		}
		b := st.batches[id]
		s.advance(b, now)
		data = append(data, b.object())
	}
	st.mu.Unlock()
	resp := map[string]any{"object": "list", "data": data, "has_more": more, "first_id": nil, "last_id": nil}
	if len(data) > 0 {
		resp["first_id"] = data[0].(map[string]any)["id"]
		resp["last_id"] = data[len(data)-1].(map[string]any)["id"]
	}
	writeJSON(w, resp)
}
