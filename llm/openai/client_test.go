package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/openai"
	"github.com/evalctl/evalctl/llm/sim"
	"github.com/evalctl/evalctl/llm/transport"
)

var fastPolicy = transport.Policy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxWait: time.Second, AttemptTimeout: 2 * time.Second}

func newClient(url, key string, p transport.Policy) (*openai.Client, *transport.Redactor) {
	red := &transport.Redactor{}
	return openai.New(openai.Config{Provider: "openai", BaseURL: url, APIKey: key, Redactor: red,
		HTTPClient: &http.Client{Transport: transport.New(nil, p)}}), red
}

func ptr[T any](v T) *T { return &v }

// recorder is a vendor that answers from a script and keeps the request bodies.
type recorder struct {
	mu     sync.Mutex
	bodies []map[string]any
	script func(n int, w http.ResponseWriter) bool // true when it answered
	n      atomic.Int32
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, m)
	rc.mu.Unlock()
	n := int(rc.n.Add(1))
	if rc.script != nil && rc.script(n, w) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}}`)
}

func TestParamsOnTheWire(t *testing.T) {
	tests := []struct {
		name   string
		model  string
		params llm.Params
		want   map[string]any
		absent []string
	}{
		{name: "temperature 0 is sent", model: "gpt-4.1-mini", params: llm.Params{Temperature: ptr(0.0), TopP: ptr(0.0)},
			want: map[string]any{"temperature": 0.0, "top_p": 0.0}},
		{name: "unset temperature is omitted", model: "gpt-4.1-mini", absent: []string{"temperature", "max_tokens", "seed"}},
		{name: "max_tokens and seed", model: "gpt-4.1-mini", params: llm.Params{MaxTokens: 500, Seed: ptr(7), Temperature: ptr(0.7)},
			want: map[string]any{"max_tokens": 500.0, "seed": 7.0}},
		{name: "reasoning models take max_completion_tokens", model: "gpt-5-mini", params: llm.Params{MaxTokens: 500},
			want: map[string]any{"max_completion_tokens": 500.0}, absent: []string{"max_tokens"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			c, _ := newClient(srv.URL+"/v1", "k", fastPolicy)
			resp, err := c.Complete(context.Background(), llm.Request{Model: tc.model, Params: tc.params,
				Messages: []llm.Message{{Role: "user", Content: "hi"}}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Text != "hello" || resp.Usage.PromptTokens != 7 || resp.Attempts != 1 {
				t.Errorf("resp = %+v", resp)
			}
			body := rec.bodies[0]
			for k, v := range tc.want {
				if body[k] != v {
					t.Errorf("%s = %v, want %v (body %v)", k, body[k], v, body)
				}
			}
			for _, k := range tc.absent {
				if _, ok := body[k]; ok {
					t.Errorf("%s present: %v", k, body)
				}
			}
		})
	}
}

func TestFaults(t *testing.T) {
	const key = "sk-test-SECRET-abcdef123456"
	apiErr := func(w http.ResponseWriter, code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "x"}})
	}
	tests := []struct {
		name     string
		script   func(n int, w http.ResponseWriter) bool
		wantKind llm.Kind
		wantText string
		requests int
	}{
		{name: "429 with retry-after-ms then success", requests: 2, script: func(n int, w http.ResponseWriter) bool {
			if n == 1 {
				w.Header().Set("Retry-After-Ms", "5")
				apiErr(w, 429, "slow down")
				return true
			}
			return false
		}},
		{name: "502 then 503 then success", requests: 3, script: func(n int, w http.ResponseWriter) bool {
			if n <= 2 {
				w.WriteHeader(500 + n)
				io.WriteString(w, "<html>bad gateway</html>")
				return true
			}
			return false
		}},
		{name: "persistent 500 exhausts attempts", requests: 4, wantKind: llm.KindServer, wantText: "after 4 attempts",
			script: func(n int, w http.ResponseWriter) bool { apiErr(w, 500, "boom"); return true }},
		{name: "malformed body is retried then reported", requests: 4, wantKind: llm.KindMalformed,
			script: func(n int, w http.ResponseWriter) bool {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"choices":[{"mess`)
				return true
			}},
		{name: "401 is not retried and the echoed key is redacted", requests: 1, wantKind: llm.KindAuth, wantText: "[REDACTED]",
			script: func(n int, w http.ResponseWriter) bool {
				apiErr(w, 401, "Incorrect API key provided: "+key)
				return true
			}},
		{name: "404 model is not retried", requests: 1, wantKind: llm.KindNotFound,
			script: func(n int, w http.ResponseWriter) bool { apiErr(w, 404, "no such model"); return true }},
		{name: "400 is a client error", requests: 1, wantKind: llm.KindClient,
			script: func(n int, w http.ResponseWriter) bool { apiErr(w, 400, "bad"); return true }},
		{name: "empty choices", requests: 1, wantKind: llm.KindMalformed, script: func(n int, w http.ResponseWriter) bool {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"choices":[]}`)
			return true
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{script: tc.script}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			c, _ := newClient(srv.URL+"/v1", key, fastPolicy)
			resp, err := c.Complete(context.Background(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}})
			if got := int(rec.n.Load()); got != tc.requests {
				t.Errorf("server saw %d requests, want %d", got, tc.requests)
			}
			if tc.wantKind == 0 {
				if err != nil || resp.Text != "hello" || resp.Attempts != tc.requests {
					t.Fatalf("resp %+v err %v", resp, err)
				}
				return
			}
			e := llm.AsError(err)
			if e == nil || e.Kind != tc.wantKind {
				t.Fatalf("err = %v, want kind %v", err, tc.wantKind)
			}
			if !strings.Contains(e.Error(), tc.wantText) {
				t.Errorf("error %q lacks %q", e.Error(), tc.wantText)
			}
			if strings.Contains(e.Error(), key) {
				t.Errorf("secret leaked: %q", e.Error())
			}
			if e.Attempts != tc.requests {
				t.Errorf("attempts = %d, want %d", e.Attempts, tc.requests)
			}
		})
	}
}

func TestHangTimesOut(t *testing.T) {
	srv, err := sim.Start("127.0.0.1:0", sim.Options{HangRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p := fastPolicy
	p.AttemptTimeout = 50 * time.Millisecond
	p.MaxAttempts = 2
	c, _ := newClient(srv.URL, "", p)
	_, err = c.Complete(context.Background(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}})
	if e := llm.AsError(err); e == nil || e.Kind != llm.KindTimeout || e.Attempts != 2 {
		t.Fatalf("err = %#v", err)
	}
	if h := srv.Stats().Hangs; h != 2 {
		t.Errorf("hangs = %d, want 2", h)
	}
}

func TestCancel(t *testing.T) {
	srv, _ := sim.Start("127.0.0.1:0", sim.Options{HangRate: 1})
	defer srv.Close()
	c, _ := newClient(srv.URL, "", fastPolicy)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for srv.Stats().Hangs == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.Complete(ctx, llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}})
	if e := llm.AsError(err); e == nil || e.Kind != llm.KindCanceled {
		t.Fatalf("err = %v", err)
	}
}

func TestSimulatorRoundTrip(t *testing.T) {
	srv, _ := sim.Start("127.0.0.1:0", sim.Options{RateLimitRate: 0.3, FailRate: 0.2, Seed: 3})
	defer srv.Close()
	c, _ := newClient(srv.URL, "", transport.Policy{MaxAttempts: 10, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxWait: time.Second})
	req := llm.Request{Model: "a", Messages: []llm.Message{{Role: "system", Content: "You are a professor."}, {Role: "user", Content: "Question: What is an algorithm?\n\nAnswer the question above."}}}
	first, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(first.Text), "algorithm") || first.Usage.CompletionTokens == 0 {
		t.Errorf("answer %q usage %+v", first.Text, first.Usage)
	}
	again, err := c.Complete(context.Background(), req)
	if err != nil || again.Text != first.Text {
		t.Errorf("not deterministic: %q vs %q (%v)", again.Text, first.Text, err)
	}
}

// Structured outputs: a schema goes on the wire as a strict json_schema
// response format; a server that refuses it gets JSON mode from then on.
func TestSchemaAndFallback(t *testing.T) {
	schema := &llm.Schema{Name: "verdict", Schema: json.RawMessage(`{"type":"object","properties":{"result":{"type":"string","enum":["yes","no"]}},"required":["result"],"additionalProperties":false}`)}
	req := llm.Request{Model: "gpt-4.1-mini", Schema: schema, Messages: []llm.Message{{Role: "user", Content: "hi"}}}
	for _, tc := range []struct {
		name    string
		refuse  bool
		formats []string // response_format.type of each request on the wire
	}{
		{"supported", false, []string{"json_schema", "json_schema"}},
		{"refused once, then JSON mode", true, []string{"json_schema", "json_object", "json_object"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{script: func(n int, w http.ResponseWriter) bool {
				if tc.refuse && n == 1 {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusBadRequest)
					io.WriteString(w, `{"error":{"message":"Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.","type":"invalid_request_error","param":"response_format","code":null}}`)
					return true
				}
				return false
			}}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			c, _ := newClient(srv.URL+"/v1", "k", fastPolicy)
			for range 2 {
				if _, err := c.Complete(context.Background(), req); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, b := range rec.bodies {
				rf, _ := b["response_format"].(map[string]any)
				got = append(got, fmt.Sprint(rf["type"]))
				if rf["type"] == "json_schema" {
					js := rf["json_schema"].(map[string]any)
					if js["name"] != "verdict" || js["strict"] != true || js["schema"] == nil {
						t.Errorf("json_schema on the wire: %v", js)
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.formats, ",") {
				t.Errorf("response formats %v, want %v", got, tc.formats)
			}
		})
	}
}

// A host that does not exist is not retried, and stops the run (Fatal).
func TestUnknownHostIsFatal(t *testing.T) {
	base := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.DNSError{Err: "no such host", Name: "api.example.invalid", IsNotFound: true}
	}}
	c := openai.New(openai.Config{Provider: "openai", BaseURL: "http://api.example.invalid/v1",
		HTTPClient: &http.Client{Transport: transport.New(base, fastPolicy)}})
	_, err := c.Complete(context.Background(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}})
	e := llm.AsError(err)
	if e == nil || e.Kind != llm.KindUnreachable || !e.Kind.Fatal() || e.Attempts != 1 {
		t.Fatalf("err = %#v", err)
	}
}

// Azure OpenAI: the deployment goes in the path, the api-version in the
// query, the key in an api-key header; against the simulator's Azure route.
func TestAzure(t *testing.T) {
	const key = "azure-key-0123456789abcdef"
	srv, err := sim.Start("127.0.0.1:0", sim.Options{APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	endpoint := strings.TrimSuffix(srv.URL, "/v1")
	newAzure := func(k, version string) *openai.Client {
		return openai.New(openai.Config{Provider: "azure", BaseURL: endpoint, APIKey: k, Azure: true, APIVersion: version,
			HTTPClient: &http.Client{Transport: transport.New(nil, fastPolicy)}, Redactor: &transport.Redactor{}})
	}
	req := llm.Request{Model: "my-gpt-4o", Messages: []llm.Message{{Role: "user", Content: "Question: What is a commit?"}}}
	resp, err := newAzure(key, "2024-10-21").Complete(context.Background(), req)
	if err != nil || resp.Text == "" || resp.Usage.PromptTokens == 0 {
		t.Fatalf("azure: %+v %v", resp, err)
	}
	_, err = newAzure("wrong-key-0123456789", "2024-10-21").Complete(context.Background(), req)
	if e := llm.AsError(err); e == nil || e.Kind != llm.KindAuth || strings.Contains(e.Error(), "wrong-key-0123456789") {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := newAzure(key, "").Complete(context.Background(), req); llm.AsError(err) == nil || llm.AsError(err).Kind != llm.KindClient {
		t.Errorf("no api-version: %v", err)
	}
}

// A key the server echoes inside a normal 200 answer never reaches the
// caller: answers and judge replies (the same call) come back redacted, and
// so do other keys the run's redactor knows (a judge's provider).
func TestKeyEchoedInAnswerIsRedacted(t *testing.T) {
	const key, other = "sk-evalctl-ECHO-0123456789abcdef", "sk-judge-provider-0000000000"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		content, _ := json.Marshal(fmt.Sprintf(`You sent %s; also %s. {"rationale": "key %s", "result": "yes"}`, got, other, got))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":9,"total_tokens":16}}`, content)
	}))
	defer srv.Close()
	c, red := newClient(srv.URL+"/v1", key, fastPolicy)
	red.Add(other)
	resp, err := c.Complete(context.Background(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "Repeat my API key."}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `You sent [REDACTED]; also [REDACTED]. {"rationale": "key [REDACTED]", "result": "yes"}`
	if resp.Text != want {
		t.Errorf("text = %q\nwant %q", resp.Text, want)
	}
}

// RequestBody is what Complete sends, byte for byte (the Batch API client
// writes it into its input files).
func TestRequestBodyIsTheWireBody(t *testing.T) {
	msgs := []llm.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "hi <&> \u2028"}}
	tests := []struct {
		name string
		req  llm.Request
	}{
		{"plain", llm.Request{Model: "gpt-4.1-mini", Messages: msgs}},
		{"explicit zeros", llm.Request{Model: "gpt-4.1-mini", Messages: msgs, Params: llm.Params{Temperature: ptr(0.0), TopP: ptr(0.0), Seed: ptr(0)}}},
		{"reasoning model", llm.Request{Model: "gpt-5-mini", Messages: msgs, Params: llm.Params{MaxTokens: 64, Temperature: ptr(1.0)}}},
		{"schema", llm.Request{Model: "gpt-4.1", Messages: msgs, Schema: &llm.Schema{Name: "verdict", Schema: json.RawMessage(`{"type":"object"}`)}}},
		{"json mode", llm.Request{Model: "gpt-4.1", Messages: msgs, JSON: true, Params: llm.Params{MaxTokens: 5}}},
		{"tools", llm.Request{Model: "gpt-4.1", Messages: append(msgs,
			llm.Message{Role: "assistant", ToolCalls: []llm.ToolCall{{ID: "c1", Name: "search", Arguments: `{"q":"x"}`}}},
			llm.Message{Role: "tool", ToolCallID: "c1", Content: "found"}),
			Tools: []llm.Tool{{Name: "search"}, {Name: "fetch", Parameters: json.RawMessage(`{"type":"object"}`)}}, ParallelToolCalls: ptr(false)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, _ = io.ReadAll(r.Body)
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}]}`)
			}))
			defer srv.Close()
			c, _ := newClient(srv.URL+"/v1", "k", fastPolicy)
			if _, err := c.Complete(context.Background(), tc.req); err != nil {
				t.Fatal(err)
			}
			want, err := openai.RequestBody(tc.req, true)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("wire body and RequestBody differ:\nwire %s\nbody %s", got, want)
			}
		})
	}
}
