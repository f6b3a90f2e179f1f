package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/evalctl/evalctl/llm/tokens"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Options configure a simulated vendor.
type Options struct {
	// Latency is the mean time to answer; Jitter the ± fraction around it.
	Latency time.Duration
	Jitter  float64
	// RPM limits requests per minute (0: no limit); excess requests get 429
	// with Retry-After and retry-after-ms.
	RPM int
	// TPM limits tokens per minute (0: no limit), enforced per second as
	// OpenAI documents ("60,000 TPM may be enforced as 1,000 tokens per
	// second"): a request's prompt tokens must fit the bucket when it arrives
	// (else 429 with Retry-After), and its completion tokens are charged when
	// it is answered.
	TPM int
	// RateLimitHeaders sends OpenAI's x-ratelimit-limit-, -remaining- and
	// -reset-requests (and -tokens with TPM) on every answer; without it
	// the limits are unannounced, as many compatible servers keep them.
	RateLimitHeaders bool
	// RetryAfter, when set, is the Retry-After of every 429 for the RPM and
	// TPM limits, in whole seconds and without retry-after-ms, as plain
	// servers send it; by default the 429 says exactly when a request would
	// pass (Retry-After rounded up, and retry-after-ms).
	RetryAfter time.Duration
	// Fault rates: the share of attempts answered with a 500, a 429, no answer
	// at all (the connection hangs until the client gives up), or a malformed
	// 200 body. They add up to at most 1.
	FailRate, RateLimitRate, HangRate, GarbageRate float64
	// APIKey, when set, must come as "Authorization: Bearer KEY" (Azure
	// routes: "api-key: KEY"); other keys
	// get 401 with the presented key echoed back, as hostile as a vendor can be.
	APIKey string
	// Models, when set, lists the model names served; others get 404.
	Models []string
	// QuoteAnswer makes judge replies chatty: they quote the answer under
	// review before giving the verdict, as models without structured
	// outputs often do (a quoted answer may hold fake verdicts).
	QuoteAnswer bool
	// NoSchema makes the server refuse the json_schema response format with
	// a 400, as servers without structured outputs do (JSON mode is served).
	NoSchema bool
	// Seed varies every deterministic choice.
	Seed uint64

	// The Batch API (POST /v1/files, /v1/batches). BatchDelay is the time
	// from a batch's creation to its end (0: it is done when first looked
	// at): a tenth of it validating, eight tenths in progress (requests are
	// answered at an even pace), a tenth finalizing.
	BatchDelay time.Duration
	// BatchFailRate is the share of a batch's requests that fail (half of
	// them 500, half 429), written to its error file.
	BatchFailRate float64
	// BatchExpireRate is the share of batches that expire: half of their
	// requests are answered, the others go to the error file with code
	// batch_expired. 1 makes every batch expire.
	BatchExpireRate float64
	// BatchMaxRequests and BatchMaxBytes limit one batch's input file (0:
	// OpenAI's 50,000 requests and 200 MB).
	BatchMaxRequests int
	BatchMaxBytes    int64
	// Clock, when set, is the time of the batch lifecycle, for tests that
	// walk a batch through its states; nil means time.Now.
	Clock func() time.Time
}

// Stats counts what the server saw.
type Stats struct {
	Requests   int64         // all chat completion requests (batch requests apart)
	Generation int64         // answered 200 to a generation prompt
	Judge      int64         // answered 200 to a judge prompt
	Status     map[int]int64 // chat completion answers by HTTP status
	Hangs      int64
	Garbage    int64
	// MaxInFlight is the most requests the server was handling at once.
	MaxInFlight int64
	// Tokens is the prompt plus completion tokens of the answered requests.
	Tokens int64
	// PerSecond counts the requests admitted past the rate limits (whatever
	// fault then befell them) in each second since the first request.
	PerSecond []int64
	// Interactive counts the answers (200) of the chat endpoint; Generation,
	// Judge and Tokens count batch answers too.
	Interactive int64
	// Files and Batches count the files uploaded and batches created;
	// BatchAnswered the requests answered in batch output files, and
	// BatchFailed the requests written to batch error files (failed,
	// expired, cancelled).
	Files, Batches, BatchAnswered, BatchFailed int64
}

// Server is the simulator. The zero value is not usable; call New.
type Server struct {
	opts                  Options
	limiter               *rate.Limiter
	mu                    sync.Mutex
	tries                 map[[32]byte]int
	served                map[[32]byte]int // successful answers per request body
	status                map[int]int64
	reqs                  atomic.Int64
	gen                   atomic.Int64
	judge                 atomic.Int64
	hangs                 atomic.Int64
	garbage               atomic.Int64
	inFlight, maxInFlight atomic.Int64
	tokens                atomic.Int64
	lines                 lineCounts
	tpm                   *rate.Limiter
	perModel              map[string]struct{ rpm, tpm *rate.Limiter }
	start                 time.Time
	perSec                []int64
	mux                   *http.ServeMux
	interactive           atomic.Int64
	batches               batchStore
}

// New returns a simulator.
func New(opts Options) *Server {
	tokens.Load() // not on the first request's time
	s := &Server{opts: opts, tries: map[[32]byte]int{}, served: map[[32]byte]int{}, status: map[int]int64{},
		perModel: map[string]struct{ rpm, tpm *rate.Limiter }{}}
	s.limiter, s.tpm = s.newLimits()
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /v1/chat/completions", s.chat)
	s.mux.HandleFunc("POST /chat/completions", s.chat)
	s.mux.HandleFunc("GET /v1/models", s.models)
	// Azure OpenAI: the deployment in the path, an api-version query, the key
	// in an api-key header.
	s.mux.HandleFunc("POST /openai/deployments/{deployment}/chat/completions", s.chat)
	s.batchRoutes()
	return s
}

// newLimits returns the request and token buckets of one scope (the
// server, or a model), nil where there is no limit.
func (s *Server) newLimits() (rpm, tpm *rate.Limiter) {
	if s.opts.RPM > 0 {
		perSec := float64(s.opts.RPM) / 60
		rpm = rate.NewLimiter(rate.Limit(perSec), max(1, int(math.Ceil(perSec))))
	}
	if s.opts.TPM > 0 {
		tpm = rate.NewLimiter(rate.Limit(float64(s.opts.TPM)/60), max(1, s.opts.TPM/60))
	}
	return rpm, tpm
}

// limits returns the buckets a request to model draws from: OpenAI limits
// each model apart and says so in its headers; a server that announces
// nothing is limited as a whole.
func (s *Server) limits(model string) (rpm, tpm *rate.Limiter) {
	if !s.opts.RateLimitHeaders {
		return s.limiter, s.tpm
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.perModel[model]
	if !ok {
		l.rpm, l.tpm = s.newLimits()
		s.perModel[model] = l
	}
	return l.rpm, l.tpm
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := make(map[int]int64, len(s.status))
	for k, v := range s.status {
		st[k] = v
	}
	perSec := append([]int64(nil), s.perSec...)
	s.mu.Unlock()
	return Stats{Requests: s.reqs.Load(), Generation: s.gen.Load(), Judge: s.judge.Load(),
		Status: st, Hangs: s.hangs.Load(), Garbage: s.garbage.Load(), MaxInFlight: s.maxInFlight.Load(),
		Tokens: s.tokens.Load(), PerSecond: perSec, Interactive: s.interactive.Load(),
		Files: s.batches.uploaded.Load(), Batches: s.batches.created.Load(),
		BatchAnswered: s.batches.answered.Load(), BatchFailed: s.batches.failed.Load()}
}

// Running is a simulator listening on a loopback port.
type Running struct {
	*Server
	URL string // base URL including /v1
	srv *http.Server
	ln  net.Listener
}

// Start serves a new simulator on addr ("127.0.0.1:0" picks a free port).
func Start(addr string, opts Options) (*Running, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := New(opts)
	r := &Running{Server: s, URL: "http://" + ln.Addr().String() + "/v1", ln: ln,
		srv: &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}}
	go r.srv.Serve(ln)
	return r, nil
}

// Close stops the server at once, closing every connection (hung requests
// included): a simulator has nothing to drain.
func (r *Running) Close() error { return r.srv.Close() }

type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role       string     `json:"role"`
		Content    string     `json:"content"`
		ToolCalls  []toolCall `json:"tool_calls"`
		ToolCallID string     `json:"tool_call_id"`
	} `json:"messages"`
	Tools               []toolDef `json:"tools"`
	ParallelToolCalls   *bool     `json:"parallel_tool_calls"`
	MaxTokens           int       `json:"max_tokens"`
	MaxCompletionTokens int       `json:"max_completion_tokens"`
	Temperature         *float64  `json:"temperature"`
	Seed                *int      `json:"seed"`
	Stream              bool      `json:"stream"`
	ResponseFormat      *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

func (s *Server) count(code int) {
	s.mu.Lock()
	s.status[code]++
	s.mu.Unlock()
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	s.reqs.Add(1)
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.maxInFlight.Load(); n > m && !s.maxInFlight.CompareAndSwap(m, n); m = s.maxInFlight.Load() {
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return
	}
	deployment := r.PathValue("deployment")
	if deployment != "" && r.URL.Query().Get("api-version") == "" {
		s.apiError(w, http.StatusBadRequest, "invalid_request_error", "missing_api_version",
			"Missing required query parameter: api-version.")
		return
	}
	if !s.authorized(w, r, deployment != "") {
		s.count(http.StatusUnauthorized)
		return
	}
	req, aerr := s.parseChat(body, deployment)
	if aerr != nil {
		s.apiError(w, aerr.status, aerr.typ, aerr.code, aerr.msg)
		return
	}

	key := sha256.Sum256(body)
	s.mu.Lock()
	if s.start.IsZero() {
		s.start = time.Now()
	}
	s.tries[key]++
	try := s.tries[key]
	s.mu.Unlock()

	rpmLim, tpmLim := s.limits(req.Model)
	s.limitHeaders(w, rpmLim, tpmLim)
	if rpmLim != nil {
		res := rpmLim.Reserve()
		if d := res.Delay(); d > 0 {
			res.Cancel()
			s.retryAfter(w, d)
			s.apiError(w, http.StatusTooManyRequests, "requests", "rate_limit_exceeded",
				fmt.Sprintf("Rate limit reached for requests (limit %d RPM). Please try again in %dms.", s.opts.RPM, d.Milliseconds()))
			return
		}
	}

	promptTok := s.promptTokens(req)
	if tpmLim != nil {
		n := min(promptTok, tpmLim.Burst())
		res := tpmLim.ReserveN(time.Now(), n)
		if d := res.Delay(); d > 0 {
			res.Cancel()
			s.retryAfter(w, d)
			s.apiError(w, http.StatusTooManyRequests, "tokens", "rate_limit_exceeded",
				fmt.Sprintf("Rate limit reached for tokens (limit %d TPM, requested %d). Please try again in %dms.", s.opts.TPM, promptTok, d.Milliseconds()))
			return
		}
	}

	s.mu.Lock()
	sec := int(time.Since(s.start) / time.Second)
	for len(s.perSec) <= sec {
		s.perSec = append(s.perSec, 0)
	}
	s.perSec[sec]++
	s.mu.Unlock()

	u := s.uniform(key, try, 1)
	o := s.opts
	switch {
	case u < o.FailRate:
		s.apiError(w, http.StatusInternalServerError, "server_error", "", "The server had an error while processing your request. Sorry about that!")
		return
	case u < o.FailRate+o.RateLimitRate:
		w.Header().Set("Retry-After-Ms", "20")
		w.Header().Set("Retry-After", "1")
		s.apiError(w, http.StatusTooManyRequests, "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again in 20ms.")
		return
	case u < o.FailRate+o.RateLimitRate+o.HangRate:
		s.hangs.Add(1)
		select { // a vendor that never answers; the client must give up
		case <-r.Context().Done():
		case <-time.After(10 * time.Minute):
		}
		return
	}

	text, finish, calls, judge := s.compose(req, key)

	if o.Latency > 0 {
		f := 1 + o.Jitter*(2*s.uniform(key, try, 2)-1)
		select {
		case <-time.After(time.Duration(float64(o.Latency) * f)):
		case <-r.Context().Done():
			return
		}
	}

	if u < o.FailRate+o.RateLimitRate+o.HangRate+o.GarbageRate {
		s.garbage.Add(1)
		s.count(http.StatusOK)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"id":"chatcmpl-sim","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"`)
		return
	}

	resp, completionTok := s.response(req, key, promptTok, text, finish, calls)
	if tpmLim != nil {
		tpmLim.ReserveN(time.Now(), min(completionTok, tpmLim.Burst())) // charged, not refused
	}
	s.answered(judge, promptTok+completionTok)
	s.interactive.Add(1)
	s.count(http.StatusOK)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// authorized checks the API key of a request (in the api-key header for
// Azure routes), answering 401 when it is wrong (uncounted).
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, azure bool) bool {
	if s.opts.APIKey == "" {
		return true
	}
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if azure {
		got = r.Header.Get("api-key")
	}
	if got != s.opts.APIKey {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
			fmt.Sprintf("Incorrect API key provided: %s. You can find your API key in your account settings.", got))
		return false
	}
	return true
}

// apiErr is an error answer of the API.
type apiErr struct {
	status         int
	typ, code, msg string
}

// parseChat reads and checks a chat completion request body as the chat
// endpoint does, for the interactive endpoint and batch lines alike.
// deployment is the Azure deployment of the path ("" for none).
func (s *Server) parseChat(body []byte, deployment string) (*chatRequest, *apiErr) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &apiErr{http.StatusBadRequest, "invalid_request_error", "", "We could not parse the JSON body of your request: " + err.Error()}
	}
	if deployment != "" {
		req.Model = deployment // Azure answers with the deployment's model
	}
	if req.Model == "" || len(req.Messages) == 0 {
		return nil, &apiErr{http.StatusBadRequest, "invalid_request_error", "", "'model' and 'messages' are required"}
	}
	if req.Stream {
		return nil, &apiErr{http.StatusBadRequest, "invalid_request_error", "", "the simulator does not stream"}
	}
	if len(s.opts.Models) > 0 && !slices.Contains(s.opts.Models, req.Model) {
		return nil, &apiErr{http.StatusNotFound, "invalid_request_error", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model)}
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type == "json_schema" {
		if s.opts.NoSchema {
			return nil, &apiErr{http.StatusBadRequest, "invalid_request_error", "",
				"Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model."}
		}
		if rf.JSONSchema == nil || rf.JSONSchema.Name == "" || !json.Valid(rf.JSONSchema.Schema) {
			return nil, &apiErr{http.StatusBadRequest, "invalid_request_error", "",
				"Invalid parameter: 'response_format.json_schema' needs a name and a schema."}
		}
	}
	return &req, nil
}

// promptTokens counts the prompt of a request as OpenAI does.
func (s *Server) promptTokens(req *chatRequest) int {
	contents := make([]string, len(req.Messages))
	for i, m := range req.Messages {
		contents[i] = m.Content
	}
	return s.lines.chat(contents)
}

// compose decides the answer to a request whose body hashes to key: a
// text, tool calls, or a judge's verdict. A request with a temperature
// above 0 takes the next draw of its body, whichever endpoint it came by.
func (s *Server) compose(req *chatRequest, key [32]byte) (text, finish string, calls []toolCall, judge bool) {
	user := req.Messages[len(req.Messages)-1].Content
	// Sampling: with a temperature above 0, the n-th identical request is
	// the n-th draw, as a sampling model would vary.
	variant := 0
	if req.Temperature != nil && *req.Temperature > 0 {
		s.mu.Lock()
		variant = s.served[key]
		s.served[key]++
		s.mu.Unlock()
	}
	if isJudgePrompt(user) {
		judge = true
		jkey := key
		// The seed varies the judge's choices too, and so does the draw.
		if s.opts.Seed != 0 || variant != 0 {
			var b [48]byte
			copy(b[:], key[:])
			binary.LittleEndian.PutUint64(b[32:], s.opts.Seed)
			binary.LittleEndian.PutUint64(b[40:], uint64(variant))
			jkey = sha256.Sum256(b[:])
		}
		temp := 0.0
		if req.Temperature != nil {
			temp = *req.Temperature
		}
		text, finish = judgeReply(req.Model, user, jkey, temp), "stop"
		if s.opts.QuoteAnswer {
			if ans, ok := block(user, "ANSWER"); ok {
				text = "The answer under review reads:\n\n" + ans + "\n\nMy verdict:\n" + text
			}
		}
	} else {
		system := ""
		if req.Messages[0].Role == "system" {
			system = req.Messages[0].Content
		}
		maxTok := req.MaxCompletionTokens
		if maxTok == 0 {
			maxTok = req.MaxTokens
		}
		// A sampling temperature shapes the answer too: a sweep over
		// temperatures gets answers that differ, as a real model's would.
		draw := variant
		if req.Temperature != nil && *req.Temperature > 0 {
			draw += 1 + int(math.Round(*req.Temperature*10))
		}
		if len(req.Tools) > 0 {
			question, rounds := "", 0
			var results []string
			for _, m := range req.Messages {
				switch {
				case m.Role == "user" && question == "":
					question = m.Content
				case m.Role == "assistant" && len(m.ToolCalls) > 0:
					rounds++
				case m.Role == "tool":
					results = append(results, m.Content)
				}
			}
			parallel := req.ParallelToolCalls == nil || *req.ParallelToolCalls
			calls, text, finish = agentTurn(req.Model, system, question, maxTok, draw, req.Tools, parallel, rounds, results)
		} else {
			text, finish = answer(req.Model, system, user, maxTok, draw)
		}
	}

	return text, finish, calls, judge
}

// response is the chat completion object of an answer, and its completion
// tokens.
func (s *Server) response(req *chatRequest, key [32]byte, promptTok int, text, finish string, calls []toolCall) (map[string]any, int) {
	completionTok := s.lines.count(text)
	message := map[string]any{"role": "assistant", "content": text}
	if len(calls) > 0 {
		message["content"] = nil
		message["tool_calls"] = calls
		for _, c := range calls {
			completionTok += s.lines.count(c.Function.Name + " " + c.Function.Arguments)
		}
	}
	return map[string]any{
		"id":                 fmt.Sprintf("chatcmpl-sim-%x", key[:8]),
		"object":             "chat.completion",
		"created":            1767225600,
		"model":              req.Model,
		"system_fingerprint": "evalctl-sim",
		"choices": []any{map[string]any{
			"index":         0,
			"message":       message,
			"finish_reason": finish,
		}},
		"usage": map[string]int{
			"prompt_tokens":     promptTok,
			"completion_tokens": completionTok,
			"total_tokens":      promptTok + completionTok,
		},
	}, completionTok
}

// answered counts an answer, by either endpoint.
func (s *Server) answered(judge bool, tokens int) {
	if judge {
		s.judge.Add(1)
	} else {
		s.gen.Add(1)
	}
	s.tokens.Add(int64(tokens))
}

// retryAfter tells a refused request when to come back: exactly (d), or
// the configured whole seconds.
func (s *Server) retryAfter(w http.ResponseWriter, d time.Duration) {
	if s.opts.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Round(s.opts.RetryAfter.Seconds())))))
		return
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	w.Header().Set("Retry-After-Ms", strconv.FormatInt(max(1, d.Milliseconds()), 10))
}

// limitHeaders announces the limits as OpenAI does, when told to.
func (s *Server) limitHeaders(w http.ResponseWriter, rpm, tpm *rate.Limiter) {
	if !s.opts.RateLimitHeaders {
		return
	}
	h := w.Header()
	now := time.Now()
	announce := func(kind string, perMinute int, l *rate.Limiter) {
		tok := max(0, l.TokensAt(now))
		refill := time.Duration((float64(l.Burst()) - tok) / float64(l.Limit()) * float64(time.Second))
		h.Set("X-Ratelimit-Limit-"+kind, strconv.Itoa(perMinute))
		h.Set("X-Ratelimit-Remaining-"+kind, strconv.Itoa(int(tok)))
		h.Set("X-Ratelimit-Reset-"+kind, refill.Round(time.Millisecond).String())
	}
	if rpm != nil {
		announce("Requests", s.opts.RPM, rpm)
	}
	if tpm != nil {
		announce("Tokens", s.opts.TPM, tpm)
	}
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	var data []any
	for _, m := range s.opts.Models {
		data = append(data, map[string]any{"id": m, "object": "model", "owned_by": "evalctl-sim"})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

// apiError answers a chat completion request with an error, and counts it.
func (s *Server) apiError(w http.ResponseWriter, code int, typ, errCode, msg string) {
	s.count(code)
	writeError(w, code, typ, errCode, msg)
}

// writeError writes an error in OpenAI's shape.
func writeError(w http.ResponseWriter, code int, typ, errCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	var c any
	if errCode != "" {
		c = errCode
	}
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": c,
	}})
}

// uniform returns a deterministic value in [0,1) for a request, attempt and
// purpose.
func (s *Server) uniform(key [32]byte, try, purpose int) float64 {
	var b [48]byte
	copy(b[:], key[:])
	binary.LittleEndian.PutUint64(b[32:], s.opts.Seed)
	binary.LittleEndian.PutUint32(b[40:], uint32(try))
	binary.LittleEndian.PutUint32(b[44:], uint32(purpose))
	h := sha256.Sum256(b[:])
	return float64(binary.LittleEndian.Uint64(h[:])>>11) / (1 << 53)
}
