package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/store"
	"github.com/evalctl/evalctl/view"
)

// ViewOptions are the inputs of `evalctl view`.
type ViewOptions struct {
	StoreOptions
	Addr     string
	Open     bool
	Token    string
	ReadOnly bool
	Author   string
	// ready, when set, is called with the address served (tests).
	ready func(url string)
}

// NewCmdView returns `evalctl view`.
func NewCmdView(a *app, runF func(*ViewOptions) error) *cobra.Command {
	opts := &ViewOptions{}
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Browse runs, compare them and label answers in the browser",
		Long: `Serve a web app over the run store: the runs (filter by name, tag, status, date and dataset,
with their pass rates; select two to compare), a run (pass rates by variant with 95% intervals,
tokens, latency and errors, every answer with server-side filters and paging), an answer (its
messages, every verdict with its rationale and judge, the judge calls, the trace), a comparison of
two runs (the paired differences with their intervals and McNemar p, and the questions that
flipped, answers side by side), the trend of a run name or tag across runs, and the prompt
versions with their diffs. Runs being written show as they progress.

People label answers there: pass or fail per criterion (a scorer), with a comment. On a run's
answers: j/k move, p/f label and move on, c comments, Enter opens; "review queue" puts first
the answers nobody labelled whose judges disagree or have no verdict. Labels are kept in the
store with their author (--author, default $USER) and time, never overwritten; evalctl judge
calibrate reads them.

Safe by default: it listens on 127.0.0.1 only. Any other address needs a token (--token or
$EVALCTL_VIEW_TOKEN, else one is made and printed once), checked on every request. Label
writes are refused from other sites; --read-only serves without them. Ctrl-C stops it (exit 0).

` + exitCodesHelp,
		Example: `  evalctl view                                   # http://127.0.0.1:8080/
  evalctl view --store ci.db --addr 127.0.0.1:0 --open
  evalctl view --addr 0.0.0.0:8080 --read-only   # on the network: prints its address with a token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Token == "" {
				opts.Token = a.io.getenv("EVALCTL_VIEW_TOKEN")
			}
			if opts.Author == "" {
				opts.Author = a.io.getenv("USER")
			}
			if runF != nil {
				return runF(opts)
			}
			return viewRun(a, opts)
		},
	}
	addStoreFlags(cmd, &opts.StoreOptions)
	cmd.Flags().StringVar(&opts.Addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	cmd.Flags().BoolVar(&opts.Open, "open", false, "open the page in the default browser")
	cmd.Flags().StringVar(&opts.Token, "token", "", "token required on every request (default $EVALCTL_VIEW_TOKEN; made up when the address is not loopback)")
	cmd.Flags().BoolVar(&opts.ReadOnly, "read-only", false, "serve without label writes")
	cmd.Flags().StringVar(&opts.Author, "author", "", "name that signs the labels given (default $USER)")
	return cmd
}

func viewRun(a *app, opts *ViewOptions) error {
	path, err := opts.locate(a)
	if err != nil {
		return err
	}
	switch fi, err := os.Stat(path); {
	case store.IsURL(path):
	case errors.Is(err, os.ErrNotExist):
		return usageErr("no run store at %s: record a run first (evalctl run), or point at one with --store PATH or --config FILE", path)
	case err != nil:
		return usageErr("store %s: %v", path, err)
	case fi.IsDir():
		return usageErr("store %s is a directory: --store names the database file (e.g. .evalctl/evalctl.db)", path)
	}
	var st *store.Store
	if opts.ReadOnly {
		// Read-only means the file is not written at all: no migration, no salt.
		st, err = store.OpenReadOnly(context.Background(), path)
	} else {
		st, err = store.Open(path)
	}
	if err != nil {
		return usageErr("%v", err)
	}
	defer st.Close()
	if _, err := st.Runs(context.Background()); err != nil {
		return usageErr("store %s: %v", path, err)
	}

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return usageErr("%s is in use (another evalctl view?): stop what listens there, or pass --addr 127.0.0.1:0 for a free port", opts.Addr)
		}
		return usageErr("--addr %s: %v", opts.Addr, unwrapOp(err))
	}
	defer ln.Close()
	tcp := ln.Addr().(*net.TCPAddr)
	loopback := tcp.IP.IsLoopback()
	token, made := opts.Token, false
	if !loopback && token == "" {
		token, made = view.NewToken(), true
	}
	author := opts.Author
	if author == "" {
		author = "anonymous"
	}
	srv, err := view.New(st, view.Options{Token: token, Loopback: loopback, ReadOnly: opts.ReadOnly, Author: author, Log: a.io.Stderr})
	if err != nil {
		return err
	}

	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	base := "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port)) + "/"
	open := base
	switch {
	case made:
		open = base + "?token=" + token
		fmt.Fprintf(a.io.Stderr, "evalctl view: %s is not loopback, so every request needs this token (printed once): open %s\n", opts.Addr, open)
	case token != "":
		fmt.Fprintf(a.io.Stderr, "evalctl view: every request needs your token: open %s?token=…\n", base)
	}
	mode := ""
	if opts.ReadOnly {
		mode = ", read-only"
	}
	fmt.Fprintf(a.io.Stderr, "evalctl view: serving %s at %s (labels by %s%s; Ctrl-C stops)\n", st.Path, base, author, mode)

	ctx, cancel := a.io.Context()
	defer cancel()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	go srv.Warm(ctx, 20)
	if opts.ready != nil {
		opts.ready(open)
	}
	if opts.Open {
		if err := openBrowser(open); err != nil {
			fmt.Fprintf(a.io.Stderr, "evalctl view: could not open a browser (%v): open %s yourself\n", err, base)
		}
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shut, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	hs.Shutdown(shut)
	return nil
}

// unwrapOp leaves out the "listen tcp" prefix of a listen error.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// openBrowser asks the desktop to open url.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
