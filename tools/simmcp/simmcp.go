// Package simmcp is a deterministic MCP tool server for offline runs and
// tests: it offers web_search over a built-in corpus of software-engineering
// pages, and can be told to misbehave (hang, answer with errors, crash, be
// slow) so that evalctl's tool side can be tested against real processes.
// `evalctl sim mcp` serves it over stdio or streamable HTTP.
package simmcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/pflag"
)

// ToolName is the name of the tool the server offers.
const ToolName = "web_search"

// DefaultMaxResults is the number of results when the call does not say.
const DefaultMaxResults = 3

// Options set the server's faults. The zero value is a well-behaved server.
// Calls are numbered from 1 across all of a server's sessions.
type Options struct {
	// Latency delays every answer.
	Latency time.Duration
	// HangEvery makes every Nth call never answer (until the client gives
	// up on it).
	HangEvery int
	// ErrorEvery makes every Nth call answer with a tool error (isError).
	ErrorEvery int
	// CrashAfter makes the process exit during call N.
	CrashAfter int
	// CrashOnce, when set, names a file: the crash happens only if the file
	// does not exist, and the file is created before it, so that a
	// restarted server behaves. Without CrashAfter the crash is at call 1.
	CrashOnce string
	// GarbageEvery makes every Nth call write a line that is not JSON-RPC
	// on stdout before its answer (stdio only: Serve).
	GarbageEvery int
	// ResultBytes pads every result with filler to at least this many
	// bytes (a server returning a huge page).
	ResultBytes int
	// Exit ends the process when a crash is due; nil means os.Exit.
	Exit func(code int)
	// Log receives a line for each fault injected; nil discards them.
	Log io.Writer

	stdout io.Writer // Serve's out, shared with the session, for GarbageEvery
}

// Flags registers the options as command-line flags on fs.
func (o *Options) Flags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.Latency, "latency", 0, "delay every answer by this long")
	fs.IntVar(&o.HangEvery, "hang-every", 0, "every Nth call never answers (0: none)")
	fs.IntVar(&o.ErrorEvery, "error-every", 0, "every Nth call answers with a tool error, isError (0: none)")
	fs.IntVar(&o.CrashAfter, "crash-after", 0, "the process exits during call N (0: never)")
	fs.StringVar(&o.CrashOnce, "crash-once", "", "crash only if this file does not exist, creating it first, so a restarted server behaves")
	fs.IntVar(&o.GarbageEvery, "garbage-every", 0, "every Nth call writes a line that is not JSON-RPC on stdout before its answer (stdio only; 0: none)")
	fs.IntVar(&o.ResultBytes, "result-bytes", 0, "pad every result to at least this many bytes (0: no padding)")
}

// Validate checks the options' ranges.
func (o Options) Validate() error {
	if o.Latency < 0 || o.HangEvery < 0 || o.ErrorEvery < 0 || o.CrashAfter < 0 || o.GarbageEvery < 0 || o.ResultBytes < 0 {
		return errors.New("--latency, --hang-every, --error-every, --crash-after, --garbage-every and --result-bytes must not be negative")
	}
	return nil
}

// SearchArgs are web_search's arguments.
type SearchArgs struct {
	Query      string `json:"query"`
	MaxResults int    `json:"max_results,omitempty"`
}

func inputSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type: "object",
		Properties: map[string]*jsonschema.Schema{
			"query": {Type: "string", Description: "What to search the web for."},
			"max_results": {Type: "integer", Description: "How many results to return (1 to 10).",
				Default: []byte("3"), Minimum: ptr(1.0), Maximum: ptr(10.0)},
		},
		Required: []string{"query"},
	}
}

func ptr[T any](v T) *T { return &v }

// NewServer returns the MCP server.
func NewServer(o Options) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "evalctl-simmcp", Version: "1"}, nil)
	var calls atomic.Int64
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "simmcp: "+format+"\n", args...)
		}
	}
	mcp.AddTool(srv, &mcp.Tool{
		Name:        ToolName,
		Description: "Search the web. Returns the best matching pages as Markdown links, each with a snippet.",
		InputSchema: inputSchema(),
	}, func(ctx context.Context, req *mcp.CallToolRequest, args SearchArgs) (*mcp.CallToolResult, any, error) {
		n := int(calls.Add(1))
		if o.crashDue(n) {
			logf("crashing during call %d, as told", n)
			exit := o.Exit
			if exit == nil {
				exit = os.Exit
			}
			exit(3)
			return nil, nil, fmt.Errorf("simmcp: crashed during call %d", n)
		}
		if o.HangEvery > 0 && n%o.HangEvery == 0 {
			logf("call %d hangs, as told", n)
			<-ctx.Done()
			return nil, nil, ctx.Err()
		}
		if o.ErrorEvery > 0 && n%o.ErrorEvery == 0 {
			logf("call %d fails, as told", n)
			return nil, nil, fmt.Errorf("search backend unavailable (simulated failure of call %d)", n)
		}
		if o.Latency > 0 {
			t := time.NewTimer(o.Latency)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, nil, ctx.Err()
			}
		}
		max := args.MaxResults
		if max <= 0 {
			max = DefaultMaxResults
		}
		text := Format(args.Query, Search(args.Query, max))
		if n := o.ResultBytes - len(text); n > 0 {
			text += "\n" + strings.Repeat("filler ", n/7+1)
		}
		if o.GarbageEvery > 0 && n%o.GarbageEvery == 0 && o.stdout != nil {
			logf("call %d writes garbage on stdout, as told", n)
			fmt.Fprintf(o.stdout, "Searching for %q...\n", args.Query)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
	})
	return srv
}

// crashDue reports whether call n is to crash, creating the CrashOnce file
// when it is.
func (o Options) crashDue(n int) bool {
	at := o.CrashAfter
	if at == 0 && o.CrashOnce != "" {
		at = 1
	}
	if at == 0 || n != at {
		return false
	}
	if o.CrashOnce == "" {
		return true
	}
	f, err := os.OpenFile(o.CrashOnce, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return false // it exists: the crash already happened
	}
	f.Close()
	return true
}

// Serve serves one session over in and out (newline-delimited JSON-RPC, as
// on a stdio server's stdin and stdout) until the client closes in or ctx
// ends.
func Serve(ctx context.Context, o Options, in io.Reader, out io.Writer) error {
	lw := &lockedWriter{w: out}
	o.stdout = lw
	err := NewServer(o).Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(in), Writer: lw})
	if errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) {
		return nil
	}
	return err
}

// lockedWriter is a server's stdout, written whole lines at a time by the
// session and by GarbageEvery.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (*lockedWriter) Close() error { return nil }

// Handler serves the server over MCP's streamable HTTP transport.
func Handler(o Options) http.Handler {
	srv := NewServer(o)
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
}
