package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/trace"
)

// server is one tool server of a Set, with its connection and the state of
// its one restart.
type server struct {
	set   *Set
	spec  Server
	tools []llm.Tool
	// mcpName maps a tool's name as offered to models to its name on the
	// server, where the two differ (see modelName).
	mcpName map[string]string
	sem     chan struct{} // bounds calls in flight

	mu        sync.Mutex
	cur       *conn         // nil while restarting or when down
	ready     chan struct{} // closed when a restart in progress ends; nil otherwise
	restarted bool
	crash     string // how the first crash went, for the calls that hit it: "crashed during the call (why)"
	dead      string // why the server is down for good; "" while it is up
}

// conn is one session with a server: for stdio, one process.
type conn struct {
	sess *mcp.ClientSession
	proc *process // nil for HTTP

	mu      sync.Mutex
	readErr error // what ended the reading of a stdio server's stdout
}

// connect starts the server (or reaches it), completes the handshake and
// lists its tools, within the start timeout.
func (s *server) connect(ctx context.Context) (*conn, []llm.Tool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.set.opts.StartTimeout)
	defer cancel()
	sp := s.spec
	where := fmt.Sprintf("tool server %q (command: %s)", sp.Name, sp.Target())
	if sp.URL != "" {
		where = fmt.Sprintf("tool server %q (url: %s)", sp.Name, sp.URL)
	}
	c := &conn{}
	var t mcp.Transport
	if sp.URL != "" {
		t = &mcp.StreamableClientTransport{Endpoint: sp.URL, DisableStandaloneSSE: true,
			HTTPClient: &http.Client{Transport: headers{sp.Headers, http.DefaultTransport}}}
	} else {
		sink := &stderrSink{prefix: "tool " + sp.Name + ": ", out: s.set.opts.Stderr, outMu: &s.set.stderrM, redact: s.set.redact}
		p, err := startProcess(sp, sink)
		if err != nil {
			return nil, nil, fmt.Errorf("%s will not start: %w", where, err)
		}
		c.proc = p
		t = &stdioTransport{c: c, in: &lineLimiter{r: p.stdout, max: s.set.opts.MaxMessageBytes}, out: p.stdin}
	}
	fail := func(step string, err error) (*conn, []llm.Tool, error) {
		if c.sess != nil {
			go c.sess.Close()
		}
		timedOut := ctx.Err() != nil
		if c.proc == nil {
			if timedOut {
				return nil, nil, fmt.Errorf("%s: no answer to %s within %s (the start timeout)", where, step, s.set.opts.StartTimeout)
			}
			return nil, nil, fmt.Errorf("%s: %s: %w", where, step, err)
		}
		// A process that closed its stdout is exiting: let it say how.
		broken := c.stdoutBroken()
		exited := !timedOut && c.proc.waitExit(500*time.Millisecond)
		c.proc.stop(0)
		tail := ""
		if t := c.proc.stderr.tail(); t != "" {
			tail = "; stderr: " + t
		}
		switch {
		case broken != nil:
			return nil, nil, fmt.Errorf("%s does not speak MCP over stdio: %s failed: %s%s", where, step, brokenStdout(broken), tail)
		case exited:
			return nil, nil, fmt.Errorf("%s exited during %s (%s)", where, step, c.proc.status())
		case timedOut:
			return nil, nil, fmt.Errorf("%s: no answer to %s within %s (the start timeout)%s", where, step, s.set.opts.StartTimeout, tail)
		}
		return nil, nil, fmt.Errorf("%s does not speak MCP over stdio: %s failed: %v%s", where, step, err, tail)
	}
	sess, err := s.set.client.Connect(ctx, t, nil)
	if err != nil {
		return fail("the MCP handshake", err)
	}
	c.sess = sess
	var tools []*mcp.Tool
	var cursor string
	for {
		res, err := sess.ListTools(ctx, &mcp.ListToolsParams{Cursor: cursor})
		if err != nil {
			return fail("listing tools", err)
		}
		tools = append(tools, res.Tools...)
		if cursor = res.NextCursor; cursor == "" {
			break
		}
	}
	sort.Slice(tools, func(i, j int) bool { return tools[i].Name < tools[j].Name })
	out := make([]llm.Tool, 0, len(tools))
	for _, t := range tools {
		schema, err := json.Marshal(t.InputSchema)
		if err != nil {
			return fail("listing tools", fmt.Errorf("tool %q: input schema: %w", t.Name, err))
		}
		out = append(out, llm.Tool{Name: t.Name, Description: t.Description, Parameters: schema})
	}
	return c, out, nil
}

// headers adds fixed headers to every request.
type headers struct {
	h    map[string]string
	next http.RoundTripper
}

func (h headers) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(h.h) > 0 {
		r = r.Clone(r.Context())
		for k, v := range h.h {
			r.Header.Set(k, v)
		}
	}
	return h.next.RoundTrip(r)
}

// close ends the session and stops the process, bounded in time.
func (c *conn) close() {
	done := make(chan struct{})
	go func() {
		c.sess.Close()
		close(done)
	}()
	if c.proc != nil {
		c.proc.stop(stopGrace)
	}
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// call makes one call. Its result is neither redacted nor bounded yet.
func (s *server) call(ctx context.Context, tool string, args json.RawMessage) eval.ToolResult {
	start := time.Now()
	r := eval.ToolResult{Server: s.spec.Name}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return s.ended(ctx, r, start)
	}
	// The tool timeout runs from here: time spent waiting for a slot is
	// evalctl's own queue, not the server's slowness.
	start = time.Now()
	if d, ok := eval.ToolTimeoutOf(ctx); ok && d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	c, err := s.live(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return s.ended(ctx, r, start)
		}
		r.ErrKind, r.Err = trace.ToolUnavailable, err.Error()
		return r
	}
	if n, ok := s.mcpName[tool]; ok {
		tool, r.Tool = n, n
	}
	res, err := c.sess.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	switch {
	case err == nil && res.IsError:
		r.Output = render(res)
		r.ErrKind, r.Err = trace.ToolError, "the tool reported an error: "+r.Output
		return r
	case err == nil:
		r.Output = render(res)
		return r
	case ctx.Err() != nil:
		return s.ended(ctx, r, start)
	}
	if answered(err) || !c.broken(err) {
		r.ErrKind, r.Err = trace.ToolError, fmt.Sprintf("the tool server refused the call: %v", err)
		return r
	}
	return s.crashed(ctx, c, err, r, start)
}

// ended is the result of a call cut by its context: the tool timeout, or
// the run's end.
func (s *server) ended(ctx context.Context, r eval.ToolResult, start time.Time) eval.ToolResult {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.ErrKind = trace.ToolTimeout
		r.Err = fmt.Sprintf("no result within %s (tool timeout)", time.Since(start).Round(time.Millisecond))
		return r
	}
	r.ErrKind, r.Err = trace.ToolError, "canceled: the run is stopping"
	return r
}

// answered reports whether err is the server's JSON-RPC error response, not
// a failure to reach it (which the SDK reports with codes of its own).
func answered(err error) bool {
	var wire *jsonrpc.Error
	if !errors.As(err, &wire) {
		return false
	}
	switch wire.Code {
	case codeClientClosing, codeServerClosing, codeRejected:
		return false
	}
	return true
}

// The SDK's own JSON-RPC error codes (internal/jsonrpc2): the call never got
// an answer.
const (
	codeClientClosing = -32003
	codeServerClosing = -32004
	codeRejected      = -32005
)

// broken reports whether a call's error means the session is gone: the
// process died or closed its pipes, wrote something on stdout that is not
// an MCP message (the SDK then ends the session, and hands its read error
// to the calls in flight), or the HTTP server could not be reached.
func (c *conn) broken(err error) bool {
	if c.proc == nil {
		return true // any failure short of a JSON-RPC error: reconnect
	}
	return c.proc.hasExited() || c.stdoutBroken() != nil || errors.Is(err, mcp.ErrConnectionClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrClosedPipe) || errors.Is(err, os.ErrClosed) || errors.Is(err, syscall.EPIPE)
}

// live returns the current connection, waiting for a restart in progress.
func (s *server) live(ctx context.Context) (*conn, error) {
	for {
		s.mu.Lock()
		if s.dead != "" {
			dead := s.dead
			s.mu.Unlock()
			return nil, errors.New(dead)
		}
		c, ready := s.cur, s.ready
		s.mu.Unlock()
		if ready == nil {
			return c, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// crashed handles a call whose session broke. The first call to see a
// session break starts its recovery (a restart, the first time); every call
// that hit the break waits for it, then reports ToolCrashed if the server is
// back, or ToolUnavailable if it is down for good.
func (s *server) crashed(ctx context.Context, c *conn, cause error, r eval.ToolResult, start time.Time) eval.ToolResult {
	s.mu.Lock()
	if s.cur == c && s.dead == "" && s.set.ctx.Err() == nil {
		s.cur, s.ready = nil, make(chan struct{})
		s.set.wg.Add(1)
		go s.recover(c, cause)
	}
	ready := s.ready
	s.mu.Unlock()
	if ready != nil {
		select {
		case <-ready:
		case <-ctx.Done():
			return s.ended(ctx, r, start)
		}
	}
	s.mu.Lock()
	dead, crash := s.dead, s.crash
	s.mu.Unlock()
	if dead != "" {
		r.ErrKind, r.Err = trace.ToolUnavailable, dead
		return r
	}
	r.ErrKind = trace.ToolCrashed
	if c.proc == nil {
		r.Err = fmt.Sprintf("the connection to the tool server failed during the call (%s); it was reconnected", crash)
	} else {
		r.Err = fmt.Sprintf("the tool server %s; it was restarted", crash)
	}
	return r
}

// recover closes a broken connection and, the first time, starts the
// server again; otherwise, or when it will not start, the server is down.
func (s *server) recover(old *conn, cause error) {
	defer s.set.wg.Done()
	why, verb := cause.Error(), "crashed"
	switch {
	case old.proc == nil:
		old.close()
	case old.stdoutBroken() != nil:
		// The process may well be running: what it wrote is the cause.
		why, verb = brokenStdout(old.stdoutBroken()), "broke its stdio connection"
		old.proc.waitExit(500 * time.Millisecond) // the SDK closed its stdin: let it finish its stderr
		old.close()
		if t := old.proc.stderr.tail(); t != "" {
			why += "; stderr: " + t
		}
	default:
		old.proc.waitExit(500 * time.Millisecond) // it is dying: let it say how
		old.close()
		why = old.proc.status()
	}
	s.mu.Lock()
	again := s.restarted
	s.restarted = true
	s.mu.Unlock()

	var c *conn
	var dead string
	switch {
	case again && old.proc == nil:
		dead = fmt.Sprintf("its connection failed again after reconnecting (%s)", why)
	case again:
		dead = fmt.Sprintf("it %s again after its restart (%s)", verb, why)
	default:
		var err error
		c, _, err = s.connect(s.set.ctx)
		switch {
		case err == nil:
		case old.proc == nil:
			dead = fmt.Sprintf("its connection failed (%s) and reconnecting failed: %v", why, err)
		default:
			dead = fmt.Sprintf("it %s (%s) and would not start again: %v", verb, why, err)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.set.ctx.Err() != nil:
		if c != nil {
			go c.close()
		}
		s.dead = "the run's tool servers were closed"
	case dead != "":
		s.dead = dead
	default:
		s.cur, s.crash = c, fmt.Sprintf("%s during the call (%s)", verb, why)
		what := verb + " (%s); restarted it"
		if old.proc == nil {
			s.crash = why
			what = "connection failed (%s); reconnected"
		}
		s.set.stderrM.Lock()
		fmt.Fprintf(stderrOf(s.set), "evalctl: tool server %s "+what+"\n", s.spec.Name, s.set.redact(why))
		s.set.stderrM.Unlock()
	}
	close(s.ready)
	s.ready = nil
}

func stderrOf(s *Set) io.Writer {
	if s.opts.Stderr == nil {
		return io.Discard
	}
	return s.opts.Stderr
}
