package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/evalctl/evalctl/judges"
	"github.com/evalctl/evalctl/llm/transport"
	"github.com/evalctl/evalctl/scorers"
)

// Exit codes, documented in `evalctl --help` and README.md.
const (
	ExitOK          = 0   // the run completed and every gate passed
	ExitGate        = 1   // a gate failed
	ExitUsage       = 2   // usage, config or input error (nothing was spent), or the provider rejected the credentials or model
	ExitIncomplete  = 3   // the run is incomplete: errors above the allowed rate
	ExitInternal    = 4   // an unexpected error after calls began (the store, the disk, a bug): the run is left resumable
	ExitInterrupted = 130 // interrupted (Ctrl-C, SIGTERM or SIGHUP); what was done is kept
)

const exitCodesHelp = `Exit codes:
  0    ok
  1    a gate failed, or was refused: a judge people disagree with, or a run that is not complete
       (--fail-under, --max-drop, --no-significant-drop, gates: in evalctl.yaml)
  2    usage, config or input error (before any model call), credentials/model rejected by the
       provider, or an endpoint that never answered (connection refused, not JSON)
  3    run incomplete: failed answers or failed verdicts above max_error_rate, or --max-cost reached
  4    an unexpected error after calls began (the store, the disk, a bug): what was done is kept
       and the run is left resumable
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP); finished cells are written`

// ExitError is an error with an exit code and an optional one-line remedy.
// Only Main prints it.
type ExitError struct {
	Code int
	Err  error
	Hint string
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

func exitErr(code int, err error, hint string) *ExitError {
	return &ExitError{Code: code, Err: err, Hint: hint}
}

func usageErr(format string, args ...any) *ExitError {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// IO is the command tree's view of the operating system.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// LookupEnv reads an environment variable.
	LookupEnv func(string) (string, bool)
	// Getwd returns the working directory.
	Getwd func() (string, error)
	// StderrIsTerminal enables the live progress line.
	StderrIsTerminal bool
	// Context returns the root context, canceled on SIGINT or SIGTERM.
	Context func() (context.Context, context.CancelFunc)
	// Args are the command-line arguments without the program name.
	Args []string
}

// System returns the IO of the running process.
func System() *IO {
	return &IO{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		LookupEnv:        os.LookupEnv,
		Getwd:            os.Getwd,
		StderrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		Context: func() (context.Context, context.CancelFunc) {
			return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		},
		Args: os.Args[1:],
	}
}

func (o *IO) getenv(k string) string { v, _ := o.LookupEnv(k); return v }

// Option customises the command tree.
type Option func(*app)

// WithScorers makes Go scorers available to evalctl.yaml by their names:
// "- type: my_scorer" (or "- name: alias\n  type: my_scorer").
func WithScorers(s ...scorers.Scorer) Option {
	return func(a *app) {
		for _, x := range s {
			a.registry.RegisterScorer(x)
		}
	}
}

// WithScorerType registers a configurable scorer type.
func WithScorerType(typ string, f scorers.Factory) Option {
	return func(a *app) { a.registry.Register(typ, f) }
}

// app is what the commands share.
type app struct {
	io       *IO
	registry *scorers.Registry
	redactor *transport.Redactor
	// spending is set once a command may have made paid calls: an error
	// without its own code is then not a usage error (nothing spent) but
	// ExitInternal.
	spending bool
	// onPanic undoes what a command leaves half done if it panics (marks
	// its run interrupted).
	onPanic []func()
}

// Main runs the command tree and returns the exit code. It is the only place
// that prints errors.
func Main(sys *IO, opts ...Option) (code int) {
	a := &app{io: sys, registry: scorers.NewRegistry(), redactor: &transport.Redactor{}}
	defer func() {
		if v := recover(); v != nil {
			for _, f := range a.onPanic {
				func() { defer func() { recover() }(); f() }()
			}
			fmt.Fprintf(sys.Stderr, "evalctl: internal error: %s — this is a bug in evalctl; please report it with the command you ran and this line (what was done is kept: --resume continues a run)\n",
				a.redactor.Redact(strings.Join(strings.Fields(fmt.Sprint(v)), " ")))
			code = ExitInternal
		}
	}()
	judges.Register(a.registry)
	for _, o := range opts {
		o(a)
	}
	root := newRootCmd(a)
	root.SetArgs(sys.Args)
	root.SetIn(sys.Stdin)
	root.SetOut(sys.Stdout)
	root.SetErr(sys.Stderr)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	code = ExitUsage
	if a.spending {
		code = ExitInternal
	}
	hint := ""
	var ee *ExitError
	if errors.As(err, &ee) {
		code, hint = ee.Code, ee.Hint
	}
	// One line: what is wrong and where, then the remedy.
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if hint != "" {
		msg += " — " + hint
	}
	fmt.Fprintf(sys.Stderr, "evalctl: %s\n", a.redactor.Redact(msg))
	return code
}
