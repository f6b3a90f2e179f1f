package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/store"
	"github.com/evalctl/evalctl/tools/simmcp"
	"github.com/evalctl/evalctl/trace"
)

// syncBuffer collects a server's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the buffer holds want, failing after a generous bound.
func (s *syncBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	for range 1000 {
		if strings.Contains(s.String(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("stderr never said %q; it holds:\n%s", want, s.String())
}

func start(t *testing.T, opts Options, servers ...Server) *Set {
	t.Helper()
	s, err := Start(context.Background(), servers, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func search(query string) llm.ToolCall {
	b, _ := json.Marshal(map[string]string{"query": query})
	return llm.ToolCall{ID: "call_1", Name: "web_search", Arguments: string(b)}
}

func TestStartListsTools(t *testing.T) {
	s := start(t, Options{}, testServer(t, "search", "simmcp", ""))
	tools := s.Tools()
	if len(tools) != 1 || tools[0].Name != "web_search" || !strings.Contains(tools[0].Description, "Markdown") {
		t.Fatalf("tools = %+v", tools)
	}
	var schema struct {
		Type       string `json:"type"`
		Required   []string
		Properties map[string]struct {
			Type    string `json:"type"`
			Default any    `json:"default"`
		}
	}
	if err := json.Unmarshal(tools[0].Parameters, &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Type != "object" || schema.Properties["query"].Type != "string" ||
		schema.Properties["max_results"].Type != "integer" || schema.Properties["max_results"].Default != 3.0 ||
		len(schema.Required) != 1 || schema.Required[0] != "query" {
		t.Errorf("schema = %s", tools[0].Parameters)
	}
	if !s.Offers("web_search") || s.Offers("web_searh") {
		t.Error("Offers")
	}
	d := s.Describe()
	if len(d) != 1 || d[0].Name != "search" || d[0].Transport != "stdio" || !strings.Contains(d[0].Target, "tools.test") ||
		len(d[0].Tools) != 1 || d[0].Tools[0].Name != "web_search" {
		t.Errorf("Describe = %+v", d)
	}
}

func TestCall(t *testing.T) {
	s := start(t, Options{}, testServer(t, "search", "simmcp", ""))
	failing := start(t, Options{}, testServer(t, "search", "simmcp", "--error-every 1"))
	tests := []struct {
		name    string
		set     *Set
		call    llm.ToolCall
		kind    string
		output  []string // substrings of Output
		err     string   // substring of Err
		notCall bool
	}{
		{name: "markdown results", set: s, call: search("What is an algorithm?"),
			output: []string{"1. [Algorithm - Wikipedia](https://en.wikipedia.org/wiki/Algorithm)\n   An algorithm is a finite sequence", "\n3. ["}},
		{name: "max_results", set: s, call: llm.ToolCall{Name: "web_search", Arguments: `{"query":"git branch","max_results":1}`},
			output: []string{"1. [Git Branching"}},
		{name: "no results is not an error", set: s, call: search("zzzz qqqq"), output: []string{`No results for "zzzz qqqq".`}},
		{name: "unknown tool", set: s, call: llm.ToolCall{Name: "web_searh", Arguments: `{}`}, kind: trace.ToolUnknown,
			output: []string{`no tool named "web_searh"; the tools are: web_search`}, err: "web_searh"},
		{name: "arguments not JSON", set: s, call: llm.ToolCall{Name: "web_search", Arguments: `{"query": "x"`}, kind: trace.ToolBadArgs,
			output: []string{"must be a JSON object: not valid JSON"}, err: "JSON object"},
		{name: "arguments an array", set: s, call: llm.ToolCall{Name: "web_search", Arguments: `["x"]`}, kind: trace.ToolBadArgs,
			err: "must be a JSON object: got an array"},
		{name: "arguments followed by more", set: s, call: llm.ToolCall{Name: "web_search", Arguments: `{"query":"x"} {}`}, kind: trace.ToolBadArgs,
			err: "more follows"},
		{name: "arguments against the schema", set: s, call: llm.ToolCall{Name: "web_search", Arguments: `{"max_results":2}`}, kind: trace.ToolError,
			output: []string{"query"}, err: "the tool reported an error"},
		{name: "isError", set: failing, call: search("algorithm"), kind: trace.ToolError,
			output: []string{"search backend unavailable (simulated failure of call 1)"}, err: "the tool reported an error: search backend unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.set.Call(context.Background(), tc.call)
			if r.ErrKind != tc.kind {
				t.Fatalf("ErrKind = %q, want %q (%+v)", r.ErrKind, tc.kind, r)
			}
			for _, o := range tc.output {
				if !strings.Contains(r.Output, o) {
					t.Errorf("Output = %q, want it to hold %q", r.Output, o)
				}
			}
			if !strings.Contains(r.Err, tc.err) || (tc.err == "") != (r.Err == "") {
				t.Errorf("Err = %q, want %q", r.Err, tc.err)
			}
			if r.Cached || r.Truncated {
				t.Errorf("cached %v, truncated %v", r.Cached, r.Truncated)
			}
			if want := "search"; tc.kind != trace.ToolUnknown && r.Server != want {
				t.Errorf("Server = %q", r.Server)
			}
		})
	}
}

func TestHangingCall(t *testing.T) {
	var stderr syncBuffer
	s := start(t, Options{Stderr: &stderr}, testServer(t, "search", "simmcp", "--hang-every 2"))
	if r := s.Call(context.Background(), search("algorithm")); r.ErrKind != "" {
		t.Fatalf("call 1: %+v", r)
	}

	// Call 2 hangs; call 3 on the same server answers meanwhile.
	ctx, cancel := context.WithCancel(context.Background())
	hung := make(chan eval.ToolResult, 1)
	go func() { hung <- s.Call(ctx, search("algorithm")) }()
	stderr.waitFor(t, "call 2 hangs")
	if r := s.Call(context.Background(), search("git")); r.ErrKind != "" || !strings.Contains(r.Output, "Git") {
		t.Fatalf("call 3 beside a hung call: %+v", r)
	}
	select {
	case r := <-hung:
		t.Fatalf("the hung call returned: %+v", r)
	default:
	}
	// The run's end cuts it short.
	cancel()
	if r := <-hung; r.ErrKind != trace.ToolError || !strings.Contains(r.Err, "canceled") {
		t.Errorf("canceled call: %+v", r)
	}

	// Call 4 hangs and its tool timeout cuts it.
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if r := s.Call(ctx, search("algorithm")); r.ErrKind != trace.ToolTimeout || !strings.Contains(r.Err, "no result within") || r.Server != "search" {
		t.Errorf("timed out call: %+v", r)
	}
	if r := s.Call(context.Background(), search("algorithm")); r.ErrKind != "" {
		t.Errorf("call 5: %+v", r)
	}
}

func TestCrash(t *testing.T) {
	tests := []struct {
		name  string
		flags func(dir string) string
		want  []string // ErrKind of successive calls
		errs  []string // substrings of their Err
	}{
		{name: "once, then restarted", flags: func(dir string) string { return "--crash-after 2 --crash-once " + filepath.Join(dir, "crashed") },
			want: []string{"", trace.ToolCrashed, "", ""},
			errs: []string{"", "crashed during the call (exit status 3; stderr: simmcp: crashing during call 2, as told); it was restarted", "", ""}},
		{name: "twice, then down", flags: func(string) string { return "--crash-after 1" },
			want: []string{trace.ToolCrashed, trace.ToolUnavailable, trace.ToolUnavailable},
			errs: []string{"it was restarted", "it crashed again after its restart (exit status 3; stderr: simmcp: crashing during call 1, as told)", "crashed again"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr syncBuffer
			s := start(t, Options{Stderr: &stderr}, testServer(t, "search", "simmcp", tc.flags(t.TempDir())))
			for i, want := range tc.want {
				r := s.Call(context.Background(), search("algorithm"))
				if r.ErrKind != want || !strings.Contains(r.Err, tc.errs[i]) || r.Server != "search" {
					t.Errorf("call %d: %+v, want %q with %q", i+1, r, want, tc.errs[i])
				}
				if want == "" && !strings.Contains(r.Output, "Algorithm") {
					t.Errorf("call %d: output %q", i+1, r.Output)
				}
			}
			if !strings.Contains(stderr.String(), "tool search: simmcp: crashing during call") {
				t.Errorf("the server's stderr was not passed on, prefixed:\n%s", stderr.String())
			}
		})
	}
}

// TestCrashConcurrent crashes the server under calls in flight: each of them
// is told of the crash, the server is restarted once, and the calls after
// it succeed.
func TestCrashConcurrent(t *testing.T) {
	s := start(t, Options{}, testServer(t, "search", "simmcp", "--latency 50ms --crash-after 3 --crash-once "+filepath.Join(t.TempDir(), "c")))
	var wg sync.WaitGroup
	results := make([]eval.ToolResult, 6)
	for i := range results {
		wg.Go(func() { results[i] = s.Call(context.Background(), search("algorithm")) })
	}
	wg.Wait()
	crashed := 0
	for _, r := range results {
		switch r.ErrKind {
		case trace.ToolCrashed:
			crashed++
		case "":
		default:
			t.Errorf("result %+v", r)
		}
	}
	if crashed == 0 {
		t.Error("no call saw the crash")
	}
	if r := s.Call(context.Background(), search("algorithm")); r.ErrKind != "" {
		t.Errorf("after the restart: %+v", r)
	}
}

// TestBrokenStdout covers a stdio server whose stdout stops being JSON-RPC:
// a line of text, or a message longer than evalctl reads. Either breaks the
// connection, so it is handled as a crash (restarted once, then down), not
// as the tool's error, and the error says what the server did.
func TestBrokenStdout(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		flags string
		want  []string // ErrKind of successive calls
		errs  []string // substrings of their Err
		big   bool
	}{
		{name: "a line of text", flags: "--garbage-every 2",
			want: []string{"", trace.ToolCrashed, "", trace.ToolUnavailable, trace.ToolUnavailable},
			errs: []string{"", `the tool server broke its stdio connection during the call (it wrote a line on stdout that is not JSON-RPC (invalid character 'S' looking for beginning of value): a stdio server must write only MCP messages on stdout, and its logs on stderr; stderr: simmcp: call 2 writes garbage on stdout, as told); it was restarted`,
				"", "it broke its stdio connection again after its restart (it wrote a line on stdout that is not JSON-RPC", "again after its restart"}},
		{name: "a message too long", opts: Options{MaxMessageBytes: 64 << 10}, flags: "--result-bytes 100000",
			want: []string{trace.ToolCrashed, trace.ToolUnavailable},
			errs: []string{"broke its stdio connection during the call (it sent a message longer than 64 KiB on stdout, the most evalctl reads); it was restarted",
				"it broke its stdio connection again after its restart (it sent a message longer than 64 KiB"}},
		// The default bound is well above the SDK's 16 MiB: a big page is
		// read, then cut to MaxResultBytes like any other.
		{name: "a result over 16 MiB", flags: "--result-bytes 17000000", want: []string{"", ""}, errs: []string{"", ""}, big: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.big && raceEnabled {
				t.Skip("17 MB of JSON takes too long under the race detector")
			}
			var stderr syncBuffer
			tc.opts.Stderr = &stderr
			s := start(t, tc.opts, testServer(t, "search", "simmcp", tc.flags))
			for i, want := range tc.want {
				r := s.Call(context.Background(), search("algorithm"))
				if r.ErrKind != want || !strings.Contains(r.Err, tc.errs[i]) || r.Server != "search" {
					t.Errorf("call %d: %s: %s, want %q with %q", i+1, r.ErrKind, r.Err, want, tc.errs[i])
				}
				if want == "" && (!strings.HasPrefix(r.Output, "1. [Algorithm") || len(r.Output) > DefaultMaxResultBytes) {
					t.Errorf("call %d: output of %d bytes: %.200q", i+1, len(r.Output), r.Output)
				}
			}
			if tc.want[0] != "" || len(tc.want) > 2 {
				stderr.waitFor(t, "evalctl: tool server search broke its stdio connection (")
			}
		})
	}
}

func TestStartFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/mcp"
	ln.Close()
	notMCP := httptest.NewServer(http.NotFoundHandler())
	defer notMCP.Close()
	mute := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server sees the client leave
		<-r.Context().Done()
	}))
	defer mute.Close()

	tests := []struct {
		name    string
		servers []Server
		opts    Options
		want    []string
	}{
		{name: "missing command", servers: []Server{{Name: "web", Command: []string{"evalctl-no-such-command", "--flag"}}},
			want: []string{`tool server "web" (command: evalctl-no-such-command --flag) will not start`, "executable file not found"}},
		{name: "exits at once", servers: []Server{testServer(t, "web", "exit", "")},
			want: []string{`tool server "web" (command: `, ") exited during the MCP handshake (exit status 4; stderr: exit: missing configuration file)"}},
		{name: "prints garbage", servers: []Server{testServer(t, "web", "garbage", "")},
			want: []string{`tool server "web" (command: `, ") does not speak MCP over stdio: the MCP handshake failed: ", "invalid character 'H'", "; stderr: garbage: a chatty program"}},
		{name: "prints garbage and leaves", servers: []Server{testServer(t, "web", "garbage-exits", "")},
			want: []string{`tool server "web" (command: `, ") does not speak MCP over stdio: the MCP handshake failed: it wrote a line on stdout that is not JSON-RPC (invalid character 'U'",
				"; stderr: garbage: usage: tool [--help]"}},
		{name: "silent", servers: []Server{testServer(t, "web", "silent", "")}, opts: Options{StartTimeout: 300 * time.Millisecond},
			want: []string{`tool server "web" (command: `, "): no answer to the MCP handshake within 300ms (the start timeout)"}},
		{name: "url refused", servers: []Server{{Name: "web", URL: refused}},
			want: []string{`tool server "web" (url: ` + refused + `)`, "MCP handshake", "connection refused"}},
		{name: "url not MCP", servers: []Server{{Name: "web", URL: notMCP.URL}},
			want: []string{`tool server "web" (url: ` + notMCP.URL + `)`, "MCP handshake", "Not Found"}},
		{name: "url silent", servers: []Server{{Name: "web", URL: mute.URL}}, opts: Options{StartTimeout: 300 * time.Millisecond},
			want: []string{`tool server "web" (url: ` + mute.URL + `): no answer to the MCP handshake within 300ms (the start timeout)`}},
		{name: "two servers, one name", servers: []Server{testServer(t, "a", "simmcp", ""), testServer(t, "a", "simmcp", "")},
			want: []string{`two tool servers are named "a"`}},
		{name: "no command, no url", servers: []Server{{Name: "a"}}, want: []string{`tool server "a": set command (stdio) or url`}},
		{name: "bad url", servers: []Server{{Name: "a", URL: "localhost:8080"}}, want: []string{`url "localhost:8080" is not an http://`}},
		{name: "all failures named", servers: []Server{{Name: "a", Command: []string{"evalctl-no-such-command"}}, testServer(t, "b", "exit", "")},
			want: []string{`tool server "a"`, `tool server "b"`}},
	}
	if _, err := exec.LookPath("false"); err == nil {
		tests = append(tests, struct {
			name    string
			servers []Server
			opts    Options
			want    []string
		}{name: "false", servers: []Server{{Name: "web", Command: []string{"false"}}},
			want: []string{`tool server "web" (command: false) exited during the MCP handshake (exit status 1)`}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Start(context.Background(), tc.servers, tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to hold %q", err, w)
				}
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	s := start(t, Options{MaxResultBytes: 120}, testServer(t, "search", "simmcp", ""))
	r := s.Call(context.Background(), search("algorithm"))
	if r.ErrKind != "" || !r.Truncated || len(r.Output) > 120 || !strings.HasSuffix(r.Output, trace.Marker) ||
		!strings.HasPrefix(r.Output, "1. [Algorithm") {
		t.Errorf("%+v (%d bytes)", r, len(r.Output))
	}
}

func TestRedaction(t *testing.T) {
	const secret = "tok-0123456789abcdef"
	var stderr syncBuffer
	sp := testServer(t, "search", "simmcp", "--crash-after 1")
	sp.Env["SECRET_TOKEN"] = secret
	s := start(t, Options{Stderr: &stderr, Redact: func(s string) string { return strings.ReplaceAll(s, "Wikipedia", "W.") }}, sp)
	r := s.Call(context.Background(), search("algorithm"))
	if r.ErrKind != trace.ToolCrashed || !strings.Contains(r.Err, "token [REDACTED]") || strings.Contains(r.Err, secret) {
		t.Errorf("crash: %+v", r)
	}
	if strings.Contains(stderr.String(), secret) || !strings.Contains(stderr.String(), "token [REDACTED]") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	if got := sp.SecretValues(); !contains(got, secret) {
		t.Errorf("SecretValues = %q", got)
	}
	s2 := start(t, Options{Redact: func(s string) string { return strings.ReplaceAll(s, "Wikipedia", "W.") }}, testServer(t, "search", "simmcp", ""))
	if r := s2.Call(context.Background(), search("algorithm")); !strings.Contains(r.Output, "[Algorithm - W.]") {
		t.Errorf("the Redact option was not applied: %q", r.Output)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// countingCache counts the lookups that hit.
type countingCache struct {
	Cache
	mu        sync.Mutex
	hits, put int
}

func (c *countingCache) GetTool(ctx context.Context, key string) (string, bool) {
	v, ok := c.Cache.GetTool(ctx, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok {
		c.hits++
	}
	return v, ok
}

func (c *countingCache) PutTool(ctx context.Context, key, tool, result string) {
	c.mu.Lock()
	c.put++
	c.mu.Unlock()
	c.Cache.PutTool(ctx, key, tool, result)
}

func TestCache(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cache := &countingCache{Cache: st}
	// Every second call fails: a failure is never cached.
	s := start(t, Options{Cache: cache}, testServer(t, "search", "simmcp", "--error-every 2"))
	ctx := context.Background()
	first := s.Call(ctx, llm.ToolCall{Name: "web_search", Arguments: `{"query":"algorithm","max_results":2}`})
	again := s.Call(ctx, llm.ToolCall{Name: "web_search", Arguments: "{ \"max_results\": 2,\n \"query\": \"algorithm\" }"})
	if first.ErrKind != "" || first.Cached || !again.Cached || again.Output != first.Output || again.Server != "search" {
		t.Fatalf("first %+v\nagain %+v", first, again)
	}
	failed := s.Call(ctx, search("git")) // call 2 on the server
	if failed.ErrKind != trace.ToolError {
		t.Fatalf("call 2 should fail: %+v", failed)
	}
	retried := s.Call(ctx, search("git")) // call 3: answered, not from the cache
	if retried.ErrKind != "" || retried.Cached {
		t.Fatalf("after a failure: %+v", retried)
	}
	if cache.hits != 1 || cache.put != 2 {
		t.Errorf("hits %d, puts %d; want 1, 2", cache.hits, cache.put)
	}

	// A resume starts the servers again and calls nothing it has called.
	s.Close()
	// (Same server and env: the env is part of the key, see TestCacheKeyEnv.)
	resumed := start(t, Options{Cache: st}, testServer(t, "search", "simmcp", "--error-every 2"))
	for _, c := range []llm.ToolCall{search("git"), {Name: "web_search", Arguments: `{"query":"algorithm","max_results":2}`}} {
		if r := resumed.Call(ctx, c); !r.Cached || r.ErrKind != "" {
			t.Errorf("resumed %s: %+v", c.Arguments, r)
		}
	}
	// Another server (here, another name) has its own entries.
	other := start(t, Options{Cache: st}, testServer(t, "other", "simmcp", ""))
	if r := other.Call(ctx, search("git")); r.Cached {
		t.Errorf("another server's call came from the cache: %+v", r)
	}
}

func TestHTTP(t *testing.T) {
	var mu sync.Mutex
	var auth []string
	h := simmcp.Handler(simmcp.Options{ErrorEvery: 3})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	const token = "Bearer sk-test-0123456789"
	s := start(t, Options{}, Server{Name: "web", URL: srv.URL, Headers: map[string]string{"Authorization": token}})
	if d := s.Describe(); d[0].Transport != "http" || d[0].Target != srv.URL {
		t.Errorf("Describe = %+v", d)
	}
	if r := s.Call(context.Background(), search("semantic versioning")); r.ErrKind != "" || !strings.Contains(r.Output, "1. [Semantic Versioning 2.0.0](https://semver.org/)") {
		t.Errorf("call 1: %+v", r)
	}
	var wg sync.WaitGroup
	results := make([]eval.ToolResult, 2)
	for i := range results {
		wg.Go(func() { results[i] = s.Call(context.Background(), search("git")) })
	}
	wg.Wait()
	errs := 0
	for _, r := range results {
		if r.ErrKind == trace.ToolError {
			errs++
		}
	}
	if errs != 1 {
		t.Errorf("calls 2 and 3 (one fails): %+v", results)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range auth {
		if a != token {
			t.Errorf("a request went without the header: %q", a)
		}
	}
}

// TestHTTPServerGone: a server that forgets its sessions (it restarted) is
// reconnected to once; one that goes away after that is down.
func TestHTTPServerGone(t *testing.T) {
	var mu sync.Mutex
	h := simmcp.Handler(simmcp.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cur := h
		mu.Unlock()
		cur.ServeHTTP(w, r)
	}))
	defer srv.Close()
	var stderr syncBuffer
	s := start(t, Options{Stderr: &stderr}, Server{Name: "web", URL: srv.URL})
	if r := s.Call(context.Background(), search("git")); r.ErrKind != "" {
		t.Fatalf("%+v", r)
	}
	mu.Lock()
	h = simmcp.Handler(simmcp.Options{}) // a new server: the session is unknown to it
	mu.Unlock()
	r := s.Call(context.Background(), search("git"))
	if r.ErrKind != trace.ToolCrashed || !strings.Contains(r.Err, "it was reconnected") {
		t.Errorf("after the server's restart: %+v", r)
	}
	if !strings.Contains(stderr.String(), "evalctl: tool server web connection failed (") {
		t.Errorf("stderr: %q", stderr.String())
	}
	if r := s.Call(context.Background(), search("git")); r.ErrKind != "" {
		t.Errorf("reconnected: %+v", r)
	}
	srv.Close()
	for i := range 2 {
		r := s.Call(context.Background(), search("git"))
		if r.ErrKind != trace.ToolUnavailable || !strings.Contains(r.Err, "its connection failed again after reconnecting") {
			t.Errorf("call %d after the server left: %+v", i, r)
		}
	}
}

func TestSubset(t *testing.T) {
	s := start(t, Options{}, testServer(t, "search", "simmcp", ""))
	all, err := s.Subset([]string{"search"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Tools()) != 1 || all.Call(context.Background(), search("git")).ErrKind != "" {
		t.Error("a subset of every server")
	}
	none, err := s.Subset(nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := none.Call(context.Background(), search("git")); len(none.Tools()) != 0 || r.ErrKind != trace.ToolUnknown ||
		!strings.Contains(r.Err, "no tools are offered") {
		t.Errorf("an empty subset: %+v", r)
	}
	if _, err := s.Subset([]string{"serch"}); err == nil || !strings.Contains(err.Error(), `no tool server named "serch" (the run's servers: search)`) {
		t.Errorf("unknown server: %v", err)
	}
}

// TestClose: Close stops every process and leaves no goroutine behind, even
// with a call hung and a server restarted.
func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	var stderr syncBuffer
	hanging := start(t, Options{Stderr: &stderr}, testServer(t, "a", "simmcp", "--hang-every 1"))
	crashing := start(t, Options{}, testServer(t, "b", "simmcp", "--crash-after 1 --crash-once "+filepath.Join(t.TempDir(), "c")))
	procs := []*process{hanging.servers[0].cur.proc, crashing.servers[0].cur.proc}

	ctx, cancel := context.WithCancel(context.Background())
	hung := make(chan eval.ToolResult)
	go func() { hung <- hanging.Call(ctx, search("x")) }()
	stderr.waitFor(t, "call 1 hangs")
	if r := crashing.Call(context.Background(), search("x")); r.ErrKind != trace.ToolCrashed {
		t.Fatalf("crash: %+v", r)
	}
	procs = append(procs, crashing.servers[0].cur.proc)
	cancel()
	<-hung
	for _, s := range []*Set{hanging, crashing} {
		s.Close()
		s.Close()
		if r := s.Call(context.Background(), search("x")); r.ErrKind != trace.ToolUnavailable {
			t.Errorf("a call after Close: %+v", r)
		}
	}
	for i, p := range procs {
		if !p.hasExited() {
			t.Errorf("process %d still runs", i)
		}
	}
	var after int
	for range 200 {
		if after = runtime.NumGoroutine(); after <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	t.Errorf("%d goroutines before, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
}

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		res  *mcp.CallToolResult
		want string
	}{
		{"texts joined", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a"}, &mcp.TextContent{Text: "b"}}}, "a\nb"},
		{"image described", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "chart:"}, &mcp.ImageContent{MIMEType: "image/png", Data: make([]byte, 1234)}}},
			"chart:\n[image/png, 1234 bytes]"},
		{"audio", &mcp.CallToolResult{Content: []mcp.Content{&mcp.AudioContent{Data: []byte("x")}}}, "[unknown type, 1 bytes]"},
		{"resource link", &mcp.CallToolResult{Content: []mcp.Content{&mcp.ResourceLink{Name: "spec", URI: "file:///spec.md"}}}, "[resource spec: file:///spec.md]"},
		{"embedded text", &mcp.CallToolResult{Content: []mcp.Content{&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "u", Text: "body"}}}}, "body"},
		{"embedded blob", &mcp.CallToolResult{Content: []mcp.Content{&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "u", MIMEType: "application/pdf", Blob: []byte("xy")}}}},
			"[resource u, application/pdf, 2 bytes]"},
		{"structured without text", &mcp.CallToolResult{StructuredContent: map[string]any{"b": 1, "a": []int{2}}}, `{"a":[2],"b":1}`},
		{"structured beside text", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "t"}}, StructuredContent: map[string]any{"a": 1}}, "t"},
		{"structured beside an image", &mcp.CallToolResult{Content: []mcp.Content{&mcp.ImageContent{MIMEType: "image/gif"}}, StructuredContent: []int{1}},
			"[image/gif, 0 bytes]\n[1]"},
		{"nothing", &mcp.CallToolResult{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := render(tc.res); got != tc.want {
				t.Errorf("render = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCanonicalArgs(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: `{"b":1,"a":{"d":[1,2.50],"c":"<x>"}}`, want: `{"a":{"c":"<x>","d":[1,2.50]},"b":1}`},
		{in: " \n", want: `{}`},
		{in: `{}`, want: `{}`},
		{in: `null`, err: "got null"},
		{in: `"q"`, err: "got a string"},
		{in: `3`, err: "got a number"},
		{in: `{"a":1}x`, err: "more follows"},
		{in: `{"a":}`, err: "not valid JSON"},
	}
	for _, tc := range tests {
		got, err := CanonicalArgs(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("CanonicalArgs(%q) = %s, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("CanonicalArgs(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func FuzzCanonicalArgs(f *testing.F) {
	for _, s := range []string{`{"query":"x","max_results":3}`, `{"a":[1,{"b":null}]}`, `[]`, ``, `{"a":1e400}`, `{"\u00e9":"\ud800"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalArgs(s)
		if err != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(c))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil || m == nil {
			t.Fatalf("canonical form %s of %q is not an object: %v", c, s, err)
		}
		again, err := CanonicalArgs(string(c))
		if err != nil || !bytes.Equal(again, c) {
			t.Fatalf("not idempotent: %q -> %s -> %s (%v)", s, c, again, err)
		}
	})
}

func TestModelName(t *testing.T) {
	for in, want := range map[string]string{
		"web_search": "web_search", "get-env": "get-env", "fs.read_file": "fs_read_file", "a/b c": "a_b_c",
		strings.Repeat("x", 70): strings.Repeat("x", 64), "": "_",
	} {
		if got := modelName(in); got != want {
			t.Errorf("modelName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCacheKeyEnv(t *testing.T) {
	args := json.RawMessage(`{"query":"x"}`)
	base := Server{Name: "s", Command: []string{"srv"}, Env: map[string]string{"MODE": "a"}}
	other := base
	other.Env = map[string]string{"MODE": "b"}
	if CacheKey(base, "t", args, 100) == CacheKey(other, "t", args, 100) {
		t.Error("servers with different env share cache entries")
	}
	if CacheKey(base, "t", args, 100) == CacheKey(base, "t", args, 200) {
		t.Error("results cut at different bounds share cache entries")
	}
	again := base
	again.Env = map[string]string{"MODE": "a"}
	if CacheKey(base, "t", args, 100) != CacheKey(again, "t", args, 100) {
		t.Error("the key is not stable")
	}
}

func TestSecretValuesByName(t *testing.T) {
	s := Server{Env: map[string]string{"API_KEY": "k-123456789", "TOPIC": "software", "GITHUB_TOKEN": "ghp_abcdefgh"},
		Headers: map[string]string{"Authorization": "Bearer tok-987654321", "X-Team": "platform-eng"}}
	got := strings.Join(s.SecretValues(), ",")
	for _, want := range []string{"k-123456789", "ghp_abcdefgh", "tok-987654321"} {
		if !strings.Contains(got, want) {
			t.Errorf("%s is not a secret: %s", want, got)
		}
	}
	for _, not := range []string{"software", "platform-eng"} {
		if strings.Contains(got, not) {
			t.Errorf("%s taken for a secret: %s", not, got)
		}
	}
}

// Secrets given as a command's arguments (--api-key=sk-…, --token TOK) are
// the server's secrets too: never shown, stored or put in messages.
func TestSecretArgs(t *testing.T) {
	tests := []struct {
		name    string
		command []string
		secrets []string
		target  string
	}{
		{name: "flag=value", command: []string{"srv", "--api-key=sk-live-0123456789abcdef", "--topic=git"},
			secrets: []string{"sk-live-0123456789abcdef"}, target: "srv --api-key=[REDACTED] --topic=git"},
		{name: "flag value", command: []string{"srv", "--token", "tok-0123456789abcdef", "-v"},
			secrets: []string{"tok-0123456789abcdef"}, target: "srv --token [REDACTED] -v"},
		{name: "password, secret, single dash", command: []string{"srv", "-password", "hunter2hunter2", "--client-secret", "cs-0123456789", "--db-passwd=p4ssw0rd!!"},
			secrets: []string{"cs-0123456789", "hunter2hunter2", "p4ssw0rd!!"}, target: "srv -password [REDACTED] --client-secret [REDACTED] --db-passwd=[REDACTED]"},
		{name: "a key-shaped value", command: []string{"srv", "sk-ant-api03-0123456789abcdefghij", "ghp_0123456789abcdefghijABCDEFGHIJ0123"},
			secrets: []string{"ghp_0123456789abcdefghijABCDEFGHIJ0123", "sk-ant-api03-0123456789abcdefghij"}, target: "srv [REDACTED] [REDACTED]"},
		{name: "a secret flag then another flag", command: []string{"srv", "--api-key", "--verbose"}, target: "srv --api-key --verbose"},
		{name: "the program itself is kept", command: []string{"/opt/token-server/bin/serve", "--port", "9000", "--key-file", "/etc/k.pem"},
			target: "/opt/token-server/bin/serve --port 9000 --key-file /etc/k.pem"},
		{name: "a key-shaped value of another flag", command: []string{"srv", "--auth=sk-proj-0123456789abcdefghij", "--author", "alice-and-bob"},
			secrets: []string{"sk-proj-0123456789abcdefghij"}, target: "srv --auth=[REDACTED] --author alice-and-bob"},
		{name: "nothing secret", command: []string{"npx", "-y", "@modelcontextprotocol/server-everything"}, target: "npx -y @modelcontextprotocol/server-everything"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Server{Name: "x", Command: tc.command}
			if got := s.SecretValues(); strings.Join(got, " ") != strings.Join(tc.secrets, " ") {
				t.Errorf("SecretValues = %q, want %q", got, tc.secrets)
			}
			if got := s.Target(); got != tc.target {
				t.Errorf("Target = %q, want %q", got, tc.target)
			}
		})
	}
	// A server started with a secret argument does not show it.
	sp := testServer(t, "search", "simmcp", "")
	sp.Command = append(sp.Command, "--token", "tok-0123456789abcdef")
	s := start(t, Options{}, sp)
	if d := s.Describe(); strings.Contains(d[0].Target, "tok-0123456789abcdef") {
		t.Errorf("Describe: %+v", d)
	}
}

func TestPlainText(t *testing.T) {
	for in, want := range map[string]string{
		"\x1b]0;HACKED\x07ready":  "ready",
		"\x1b[31mred\x1b[0m text": "red text",
		"bell\x07 and\rcarriage":  "bell andcarriage",
		"tab\tkept, ünïcode kept": "tab\tkept, ünïcode kept",
	} {
		if got := plainText(in); got != want {
			t.Errorf("plainText(%q) = %q, want %q", in, got, want)
		}
	}
}

// Two servers may offer one tool (two search backends compared): each
// variant uses one of them.
func TestOneToolTwoServers(t *testing.T) {
	s := start(t, Options{}, testServer(t, "a", "simmcp", ""), testServer(t, "b", "simmcp", ""))
	if _, err := s.Subset([]string{"a", "b"}); err == nil || !strings.Contains(err.Error(), `tool "web_search" is offered by "a" (`) {
		t.Fatalf("a variant with both: %v", err)
	}
	for _, name := range []string{"a", "b"} {
		box, err := s.Subset([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		if r := box.Call(context.Background(), search("git")); r.Server != name || r.ErrKind != "" {
			t.Errorf("variant of %s: %+v", name, r)
		}
	}
}
