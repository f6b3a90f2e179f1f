package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/transport"
	"github.com/evalctl/evalctl/trace"
)

// Server names a tool server and says how to reach it: a Command run as a
// child process and spoken to over stdio, or a URL spoken to over MCP's
// streamable HTTP transport.
type Server struct {
	Name    string
	Command []string
	// Env is added to the child's environment (stdio only).
	Env map[string]string
	URL string
	// Headers are sent with every HTTP request (for example Authorization).
	Headers map[string]string
}

// Transport returns "stdio" or "http".
func (s Server) Transport() string {
	if s.URL != "" {
		return "http"
	}
	return "stdio"
}

// Target returns the server's command line (secret arguments redacted) or
// URL, for messages.
func (s Server) Target() string {
	if s.URL != "" {
		return s.URL
	}
	args := make([]string, len(s.Command))
	for i, a := range s.RedactedCommand() {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\") {
			a = strconv.Quote(a)
		}
		args[i] = a
	}
	return strings.Join(args, " ")
}

// RedactedCommand returns the command with its secret arguments (see
// SecretValues) replaced by [REDACTED]: what may be stored and shown.
func (s Server) RedactedCommand() []string {
	if len(s.Command) == 0 {
		return nil
	}
	out := slices.Clone(s.Command)
	for i, off := range secretArgs(s.Command) {
		out[i] = out[i][:off] + "[REDACTED]"
	}
	return out
}

// SecretValues returns the values of the server's env and headers whose
// names say they are credentials (KEY, TOKEN, SECRET, PASSWORD, AUTH,
// CREDENTIAL, COOKIE), a bearer token, and the command's secret arguments:
// the value of a flag named so (--api-key=VALUE, --token VALUE), or an
// argument shaped like a well-known API key (sk-…, ghp_…). The caller's
// redactor should learn them. The Set redacts them from what it reports in
// any case. Other values (a topic, a path) are left alone: redacting every
// value would corrupt answers and arguments that happen to contain it.
func (s Server) SecretValues() []string {
	var out []string
	for i, off := range secretArgs(s.Command) {
		out = append(out, s.Command[i][off:])
	}
	for _, m := range []map[string]string{s.Env, s.Headers} {
		for k, v := range m {
			if secretKey(k) {
				out = append(out, v)
			}
		}
		if h := m["Authorization"]; h != "" {
			// "Bearer TOKEN": the token alone is the secret.
			if _, tok, ok := strings.Cut(h, " "); ok {
				out = append(out, strings.TrimSpace(tok))
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// Validate checks the server's definition.
func (s Server) Validate() error {
	switch {
	case s.Name == "":
		return errors.New("a tool server needs a name")
	case len(s.Command) > 0 && s.URL != "":
		return fmt.Errorf("tool server %q: set command (stdio) or url (streamable HTTP), not both", s.Name)
	case len(s.Command) == 0 && s.URL == "":
		return fmt.Errorf("tool server %q: set command (stdio) or url (streamable HTTP)", s.Name)
	case len(s.Command) > 0 && s.Command[0] == "":
		return fmt.Errorf("tool server %q: the command's program is empty", s.Name)
	case s.URL != "" && len(s.Env) > 0:
		return fmt.Errorf("tool server %q: env is for command servers; an HTTP server takes headers", s.Name)
	case len(s.Command) > 0 && len(s.Headers) > 0:
		return fmt.Errorf("tool server %q: headers are for url servers; a command server takes env", s.Name)
	}
	if s.URL != "" {
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("tool server %q: url %q is not an http:// or https:// URL", s.Name, s.URL)
		}
	}
	return nil
}

// Cache keeps successful tool results across runs. The store implements it.
type Cache interface {
	GetTool(ctx context.Context, key string) (string, bool)
	PutTool(ctx context.Context, key, tool, result string)
}

// Options tune a Set.
type Options struct {
	// Cache, when set, answers a call made before with the same server,
	// tool and arguments, and keeps new successful results.
	Cache Cache
	// Redact is run over results, errors and server stderr.
	Redact func(string) string
	// MaxResultBytes cuts longer results (with trace.Marker); 0 means
	// DefaultMaxResultBytes.
	MaxResultBytes int
	// MaxConcurrent bounds the calls in flight per server; 0 means
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// Stderr receives the stderr of stdio servers, each line prefixed with
	// the server's name; nil discards it (its tail still shows in errors).
	Stderr io.Writer
	// StartTimeout bounds a server's start: process start (or connection),
	// MCP handshake and tool listing. 0 means DefaultStartTimeout.
	StartTimeout time.Duration
	// MaxMessageBytes bounds one message (one line) read from a stdio
	// server's stdout; 0 means the larger of DefaultMaxMessageBytes and 8
	// times MaxResultBytes.
	MaxMessageBytes int
}

// Defaults of Options left zero.
const (
	DefaultMaxResultBytes = 16 << 10
	DefaultMaxConcurrent  = 8
	DefaultStartTimeout   = 30 * time.Second
	// DefaultMaxMessageBytes is well above the SDK's own 16 MiB bound: a
	// result is cut to MaxResultBytes once read, so only memory limits it.
	DefaultMaxMessageBytes = 64 << 20
)

// stopGrace is how long a stdio server may take to leave after its stdin is
// closed before it is killed.
const stopGrace = 2 * time.Second

// maxErrBytes bounds ToolResult.Err.
const maxErrBytes = 2 << 10

// Set is the running tool servers of a run. It implements eval.Toolbox and
// is safe for concurrent use.
type Set struct {
	opts    Options
	redact  func(string) string
	client  *mcp.Client
	servers []*server
	byName  map[string]*server
	byTool  map[string][]*server // servers offering a tool, in order
	stderrM sync.Mutex

	ctx    context.Context // ends at Close: bounds restarts
	cancel context.CancelFunc
	wg     sync.WaitGroup // restarts in progress
	closed sync.Once
}

// ServerInfo describes a running server, for `evalctl run` to print.
type ServerInfo struct {
	Name      string
	Transport string // "stdio" or "http"
	Target    string // the command line or the URL
	Tools     []ToolInfo
}

// ToolInfo is a tool a server offers.
type ToolInfo struct {
	Name        string
	Description string
}

// Start starts the servers (concurrently), completes the MCP handshake with
// each and lists their tools. A server that will not start, or two servers
// offering the same tool, fail Start with an error naming them; servers
// already started are then closed. The servers live until Close; ctx bounds
// only the start.
func Start(ctx context.Context, servers []Server, opts Options) (*Set, error) {
	if opts.MaxResultBytes <= 0 {
		opts.MaxResultBytes = DefaultMaxResultBytes
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = max(DefaultMaxMessageBytes, 8*opts.MaxResultBytes)
	}
	secrets := &transport.Redactor{}
	for _, sp := range servers {
		for _, v := range sp.SecretValues() {
			secrets.Add(v)
		}
	}
	redact := secrets.Redact
	if opts.Redact != nil {
		redact = func(s string) string { return opts.Redact(secrets.Redact(s)) }
	}
	s := &Set{opts: opts, redact: redact, byName: map[string]*server{}, byTool: map[string][]*server{},
		client: mcp.NewClient(&mcp.Implementation{Name: "evalctl", Version: "1"}, nil)}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))

	for _, sp := range servers {
		if err := sp.Validate(); err != nil {
			s.cancel()
			return nil, err
		}
		if _, dup := s.byName[sp.Name]; dup {
			s.cancel()
			return nil, fmt.Errorf("two tool servers are named %q: give each its own name", sp.Name)
		}
		srv := &server{set: s, spec: sp, sem: make(chan struct{}, opts.MaxConcurrent)}
		s.servers = append(s.servers, srv)
		s.byName[sp.Name] = srv
	}

	errs := make([]error, len(s.servers))
	var wg sync.WaitGroup
	for i, srv := range s.servers {
		wg.Go(func() {
			c, tools, err := srv.connect(ctx)
			if err != nil {
				errs[i] = errors.New(redact(err.Error()))
				return
			}
			srv.cur, srv.tools = c, tools
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.Close()
		return nil, err
	}
	for _, srv := range s.servers {
		for i, t := range srv.tools {
			if n := modelName(t.Name); n != t.Name {
				// Two names may map to one safe name (web.search, web_search):
				// the later gets a suffix.
				for i := 2; len(s.byTool[n]) > 0 || srv.hasTool(n, t.Name); i++ {
					n = modelName(fmt.Sprintf("%s_%d", modelName(t.Name), i))
				}
				if srv.mcpName == nil {
					srv.mcpName = map[string]string{}
				}
				srv.mcpName[n] = t.Name
				srv.tools[i].Name = n
				t.Name = n
			}
			// Two servers may offer one tool name: a variant may use only
			// one of them (Subset checks).
			s.byTool[t.Name] = append(s.byTool[t.Name], srv)
		}
	}
	return s, nil
}

// Tools returns the tools of all servers, in server order and by name
// within a server.
func (s *Set) Tools() []llm.Tool { return s.tools(nil) }

func (s *Set) tools(only map[*server]bool) []llm.Tool {
	var out []llm.Tool
	for _, srv := range s.servers {
		if only != nil && !only[srv] {
			continue
		}
		out = append(out, srv.tools...)
	}
	return out
}

// Offers reports whether a server of the set offers the tool.
func (s *Set) Offers(tool string) bool {
	if len(s.byTool[tool]) > 0 {
		return true
	}
	for _, srv := range s.servers { // a server's own name for a renamed tool
		for _, n := range srv.mcpName {
			if n == tool {
				return true
			}
		}
	}
	return false
}

// Describe returns the servers and their tools.
func (s *Set) Describe() []ServerInfo {
	out := make([]ServerInfo, 0, len(s.servers))
	for _, srv := range s.servers {
		info := ServerInfo{Name: srv.spec.Name, Transport: srv.spec.Transport(), Target: s.redact(srv.spec.Target())}
		for _, t := range srv.tools {
			info.Tools = append(info.Tools, ToolInfo{Name: t.Name, Description: t.Description})
		}
		out = append(out, info)
	}
	return out
}

// Subset returns a toolbox offering only the tools of the named servers, for
// a variant that uses some of the run's servers. The servers are shared: a
// crash seen through one toolbox is seen through all.
func (s *Set) Subset(servers []string) (eval.Toolbox, error) {
	only := map[*server]bool{}
	for _, name := range servers {
		srv := s.byName[name]
		if srv == nil {
			names := make([]string, len(s.servers))
			for i, x := range s.servers {
				names[i] = x.spec.Name
			}
			return nil, fmt.Errorf("no tool server named %q (the run's servers: %s)", name, strings.Join(names, ", "))
		}
		only[srv] = true
	}
	for tool, srvs := range s.byTool {
		var in []string
		for _, srv := range srvs {
			if only[srv] {
				in = append(in, fmt.Sprintf("%q (%s)", srv.spec.Name, s.redact(srv.spec.Target())))
			}
		}
		if len(in) > 1 {
			return nil, fmt.Errorf("tool %q is offered by %s: a variant may use only one of them", tool, strings.Join(in, " and "))
		}
	}
	return &subset{s, only}, nil
}

type subset struct {
	set  *Set
	only map[*server]bool
}

func (v *subset) Tools() []llm.Tool { return v.set.tools(v.only) }

func (v *subset) Call(ctx context.Context, c llm.ToolCall) eval.ToolResult {
	return v.set.call(ctx, c, v.only)
}

// Call calls a tool. It never fails otherwise than through the result's
// ErrKind, and returns when ctx ends.
func (s *Set) Call(ctx context.Context, c llm.ToolCall) eval.ToolResult { return s.call(ctx, c, nil) }

func (s *Set) call(ctx context.Context, c llm.ToolCall, only map[*server]bool) eval.ToolResult {
	var srv *server
	for _, x := range s.byTool[c.Name] {
		if only == nil || only[x] {
			srv = x
			break
		}
	}
	if srv == nil {
		var names []string
		for _, t := range s.tools(only) {
			names = append(names, t.Name)
		}
		msg := fmt.Sprintf("there is no tool named %q; the tools are: %s", c.Name, strings.Join(names, ", "))
		if len(names) == 0 {
			msg = fmt.Sprintf("there is no tool named %q; no tools are offered", c.Name)
		}
		return eval.ToolResult{Output: msg, ErrKind: trace.ToolUnknown, Err: msg}
	}
	args, err := CanonicalArgs(c.Arguments)
	if err != nil {
		msg := fmt.Sprintf("the arguments of %s must be a JSON object: %v", c.Name, err)
		return s.finish(eval.ToolResult{Server: srv.spec.Name, Output: msg, ErrKind: trace.ToolBadArgs, Err: msg})
	}
	var key string
	if s.opts.Cache != nil {
		key = CacheKey(srv.spec, c.Name, args, s.opts.MaxResultBytes)
		if raw, ok := s.opts.Cache.GetTool(ctx, key); ok {
			var e cacheEntry
			if json.Unmarshal([]byte(raw), &e) == nil {
				return eval.ToolResult{Server: srv.spec.Name, Tool: srv.mcpName[c.Name], Output: e.Output, Truncated: e.Truncated, Cached: true}
			}
		}
	}
	res := s.finish(srv.call(ctx, c.Name, args))
	if key != "" && res.ErrKind == "" {
		raw, _ := json.Marshal(cacheEntry{res.Output, res.Truncated})
		s.opts.Cache.PutTool(ctx, key, c.Name, string(raw))
	}
	return res
}

// cacheEntry is a tool result as the cache keeps it.
type cacheEntry struct {
	Output    string `json:"output"`
	Truncated bool   `json:"truncated,omitempty"`
}

// finish redacts a result and bounds it.
func (s *Set) finish(r eval.ToolResult) eval.ToolResult {
	var cut bool
	r.Output, cut = trace.Bound(s.redact(r.Output), s.opts.MaxResultBytes)
	r.Truncated = r.Truncated || cut
	r.Err, _ = trace.Bound(s.redact(r.Err), maxErrBytes)
	return r
}

// Close stops the servers: stdio servers have their stdin closed and are
// killed if they do not leave within a grace period. It is safe to call
// more than once.
func (s *Set) Close() error {
	s.closed.Do(func() {
		s.cancel()
		s.wg.Wait()
		var wg sync.WaitGroup
		for _, srv := range s.servers {
			srv.mu.Lock()
			c := srv.cur
			srv.cur, srv.dead = nil, "the run's tool servers were closed"
			srv.mu.Unlock()
			if c != nil {
				wg.Go(func() { c.close() })
			}
		}
		wg.Wait()
	})
	return nil
}

var modelNameRE = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// modelName is a tool's name as models are offered it: OpenAI takes
// function names of 1 to 64 letters, digits, '_' and '-' and refuses every
// request naming another, while MCP allows dots, slashes and longer names.
// Other characters become '_' and the name is cut to 64 bytes; the server
// is still called by its own name.
func modelName(name string) string {
	n := modelNameRE.ReplaceAllString(name, "_")
	if n == "" {
		n = "_"
	}
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

var secretKeyRE = regexp.MustCompile(`(?i)(key|token|secret|passw|pwd|auth|credential|cookie|session)`)

// secretKey reports whether an env variable or header name says its value
// is a credential.
func secretKey(name string) bool { return secretKeyRE.MatchString(name) }

var (
	// secretFlagRE: a command-line flag whose value is a credential. Not
	// auth or session, as for env names: --author, --session-dir.
	secretFlagRE = regexp.MustCompile(`(?i)(key|token|secret|passw|pwd|credential|cookie)`)
	// pathFlagRE: a flag naming where a credential is (--key-file): the
	// path is no secret.
	pathFlagRE = regexp.MustCompile(`(?i)[-_.]?(file|path|dir|url|uri)$`)
	// keyShapeRE: an argument shaped like a well-known API key.
	keyShapeRE = regexp.MustCompile(`^(sk-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|` +
		`xox[abpr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,}|hf_[A-Za-z0-9]{20,})$`)
)

// secretArgs finds a command's secret arguments: by index, the offset in
// the argument where the secret starts (after "--api-key=").
func secretArgs(command []string) map[int]int {
	out := map[int]int{}
	for i := 1; i < len(command); i++ {
		a := command[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			if keyShapeRE.MatchString(a) {
				out[i] = 0
			}
			continue
		}
		name, val, eq := strings.Cut(strings.TrimLeft(a, "-"), "=")
		secret := secretFlagRE.MatchString(name) && !pathFlagRE.MatchString(name)
		switch {
		case eq && val != "" && (secret || keyShapeRE.MatchString(val)):
			out[i] = len(a) - len(val)
		case !eq && secret && i+1 < len(command) && !strings.HasPrefix(command[i+1], "-") && command[i+1] != "":
			out[i+1] = 0
			i++
		}
	}
	return out
}

// hasTool reports whether the server lists a tool named n other than the
// one named self.
func (s *server) hasTool(n, self string) bool {
	for _, t := range s.tools {
		if t.Name == n && t.Name != self {
			return true
		}
	}
	return false
}
