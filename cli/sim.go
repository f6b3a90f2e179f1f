package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/llm/sim"
	"github.com/evalctl/evalctl/tools/simmcp"
)

// SimServeOptions are the inputs of `evalctl sim serve`.
type SimServeOptions struct {
	Addr      string
	Opts      sim.Options
	APIKeyEnv string
}

func newCmdSim(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "The built-in simulators: an OpenAI-compatible LLM, and an MCP web-search tool",
	}
	cmd.AddCommand(NewCmdSimServe(a, nil), NewCmdSimMCP(a, nil))
	return cmd
}

// NewCmdSimServe returns `evalctl sim serve`.
func NewCmdSimServe(a *app, runF func(*SimServeOptions) error) *cobra.Command {
	opts := &SimServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the simulator on an address until interrupted",
		Long: `Serve a deterministic OpenAI-compatible chat completions API (POST /v1/chat/completions).

It writes plausible exam answers (their length and wording depend on the model name and prompt),
answers judge prompts with JSON verdicts, reports token usage, and can be told to behave like a
struggling vendor: latency with jitter, a requests-per-minute limit (429 with Retry-After), and a
share of attempts answered with 500, 429, a hang or a malformed body.

It also serves OpenAI's Batch API: POST /v1/files (a .jsonl input file, purpose batch), GET
/v1/files/{id} and /v1/files/{id}/content, POST /v1/batches, GET /v1/batches and /v1/batches/{id},
POST /v1/batches/{id}/cancel. A batch is validated (problems are reported by line, and fail the
batch), answers each request as the chat endpoint would, and writes an output and an error file.
--batch-delay is the time a batch takes; --batch-fail-rate and --batch-expire-rate make some
requests fail and some batches expire.

Point evalctl at it with OPENAI_BASE_URL=http://ADDR/v1 and openai:NAME models, or use sim:NAME
models, which start a private simulator inside evalctl.`,
		Example: `  evalctl sim serve --addr 127.0.0.1:8089 --latency 50ms --fail-rate 0.1 --rate-limit-rate 0.1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o := opts.Opts
			if o.FailRate < 0 || o.RateLimitRate < 0 || o.HangRate < 0 || o.GarbageRate < 0 ||
				o.FailRate+o.RateLimitRate+o.HangRate+o.GarbageRate > 1 {
				return usageErr("fault rates must be between 0 and 1 and add up to at most 1")
			}
			if o.BatchDelay < 0 || o.BatchFailRate < 0 || o.BatchFailRate > 1 || o.BatchExpireRate < 0 || o.BatchExpireRate > 1 ||
				o.BatchMaxRequests < 0 || o.BatchMaxBytes < 0 {
				return usageErr("--batch-delay, --batch-max-requests and --batch-max-bytes must not be negative; --batch-fail-rate and --batch-expire-rate are between 0 and 1")
			}
			if o.Latency < 0 || o.RPM < 0 || o.TPM < 0 || o.RetryAfter < 0 || o.Jitter < 0 || o.Jitter > 1 {
				return usageErr("--latency, --rpm, --tpm and --retry-after must not be negative; --jitter is between 0 and 1")
			}
			if opts.APIKeyEnv != "" {
				opts.Opts.APIKey = a.io.getenv(opts.APIKeyEnv)
				if opts.Opts.APIKey == "" {
					return usageErr("--require-key-env %s: the variable is not set", opts.APIKeyEnv)
				}
				a.redactor.Add(opts.Opts.APIKey)
			}
			if runF != nil {
				return runF(opts)
			}
			return simServe(a, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Addr, "addr", "127.0.0.1:8089", "address to listen on")
	f.DurationVar(&opts.Opts.Latency, "latency", 0, "mean response time")
	f.Float64Var(&opts.Opts.Jitter, "jitter", 0.2, "± fraction of latency")
	f.IntVar(&opts.Opts.RPM, "rpm", 0, "requests per minute before 429 (0: no limit)")
	f.IntVar(&opts.Opts.TPM, "tpm", 0, "tokens per minute before 429 (0: no limit)")
	f.BoolVar(&opts.Opts.RateLimitHeaders, "rate-limit-headers", false, "announce the rpm and tpm limits in x-ratelimit-* headers, as OpenAI does")
	f.DurationVar(&opts.Opts.RetryAfter, "retry-after", 0, "Retry-After of 429s for the limits, in whole seconds (default: exact, with retry-after-ms)")
	f.Float64Var(&opts.Opts.FailRate, "fail-rate", 0, "share of attempts answered 500")
	f.Float64Var(&opts.Opts.RateLimitRate, "rate-limit-rate", 0, "share of attempts answered 429 with Retry-After")
	f.Float64Var(&opts.Opts.HangRate, "hang-rate", 0, "share of attempts that never answer")
	f.Float64Var(&opts.Opts.GarbageRate, "garbage-rate", 0, "share of attempts answered with a malformed body")
	f.Uint64Var(&opts.Opts.Seed, "seed", 0, "varies every deterministic choice")
	f.StringSliceVar(&opts.Opts.Models, "models", nil, "model names served (default: any; others get 404)")
	f.DurationVar(&opts.Opts.BatchDelay, "batch-delay", 0, "time a Batch API batch takes from creation to completion (0: done when first looked at)")
	f.Float64Var(&opts.Opts.BatchFailRate, "batch-fail-rate", 0, "share of a batch's requests that fail (500 or 429 in its error file)")
	f.Float64Var(&opts.Opts.BatchExpireRate, "batch-expire-rate", 0, "share of batches that expire, half their requests unanswered (batch_expired)")
	f.IntVar(&opts.Opts.BatchMaxRequests, "batch-max-requests", 0, "most requests in a batch input file (0: OpenAI's 50000)")
	f.Int64Var(&opts.Opts.BatchMaxBytes, "batch-max-bytes", 0, "largest batch input file in bytes (0: OpenAI's 200 MB)")
	f.StringVar(&opts.APIKeyEnv, "require-key-env", "", "require the API key held in this environment variable (others get 401)")
	return cmd
}

func simServe(a *app, opts *SimServeOptions) error {
	srv, err := sim.Start(opts.Addr, opts.Opts)
	if err != nil {
		return usageErr("listening on %s: %v", opts.Addr, err)
	}
	defer srv.Close()
	fmt.Fprintf(a.io.Stderr, "evalctl sim: serving %s (OPENAI_BASE_URL=%s); Ctrl-C to stop\n", srv.URL, srv.URL)
	ctx, stop := a.io.Context()
	defer stop()
	<-ctx.Done()
	st := srv.Stats()
	fmt.Fprintf(a.io.Stderr, "evalctl sim: %d requests (%d answers, %d verdicts) in all; by status %v; %d hangs, %d malformed\n",
		st.Requests, st.Generation, st.Judge, st.Status, st.Hangs, st.Garbage)
	if st.Batches > 0 {
		fmt.Fprintf(a.io.Stderr, "evalctl sim: %d batches: %d requests answered, %d failed\n", st.Batches, st.BatchAnswered, st.BatchFailed)
	}
	return nil
}

// SimMCPOptions are the inputs of `evalctl sim mcp`.
type SimMCPOptions struct {
	// HTTP, when set, is the address to serve streamable HTTP on; otherwise
	// the server speaks over stdin and stdout.
	HTTP string
	Opts simmcp.Options
}

// NewCmdSimMCP returns `evalctl sim mcp`.
func NewCmdSimMCP(a *app, runF func(*SimMCPOptions) error) *cobra.Command {
	opts := &SimMCPOptions{}
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve a deterministic web_search MCP tool server (stdio, or streamable HTTP)",
		Long: `Serve a deterministic MCP tool server offering one tool, web_search(query, max_results = 3),
over a built-in corpus of software-engineering pages. It answers with Markdown links and snippets,
ranked by the words they share with the query, and the same query always gets the same answer, so
agent runs can be tried and tested offline.

By default it speaks MCP over stdin and stdout, as evalctl starts tool servers. Use it in
evalctl.yaml:

  tools:
    - name: search
      command: [evalctl, sim, mcp]

With --http ADDR it serves MCP's streamable HTTP transport instead (use it with url:).

It can also misbehave, to see how a run copes: calls are numbered from 1, and --hang-every,
--error-every and --crash-after make some of them hang, answer with a tool error (isError) or end
the process. evalctl restarts a crashed server once; with --crash-once FILE the crash happens only
while FILE does not exist (it is created), so the restarted server behaves. --garbage-every writes a
line that is not JSON-RPC on stdout (stdio only), and --result-bytes pads every result.`,
		Example: `  evalctl sim mcp
  evalctl sim mcp --http 127.0.0.1:8090 --latency 200ms
  evalctl sim mcp --crash-after 5 --crash-once /tmp/crashed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Opts.Validate(); err != nil {
				return usageErr("%v", err)
			}
			if runF != nil {
				return runF(opts)
			}
			return simMCP(a, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.HTTP, "http", "", "serve streamable HTTP on this address (e.g. 127.0.0.1:8090) instead of stdio")
	opts.Opts.Flags(f)
	return cmd
}

func simMCP(a *app, opts *SimMCPOptions) error {
	ctx, stop := a.io.Context()
	defer stop()
	o := opts.Opts
	o.Log = a.io.Stderr
	if opts.HTTP == "" {
		if err := simmcp.Serve(ctx, o, a.io.Stdin, a.io.Stdout); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	}
	ln, err := net.Listen("tcp", opts.HTTP)
	if err != nil {
		return usageErr("listening on %s: %v", opts.HTTP, err)
	}
	srv := &http.Server{Handler: simmcp.Handler(o), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(a.io.Stderr, "evalctl sim mcp: serving http://%s (url: http://%s in evalctl.yaml); Ctrl-C to stop\n", ln.Addr(), ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Streams still open after the grace period are cut.
		srv.Close()
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	return nil
}
