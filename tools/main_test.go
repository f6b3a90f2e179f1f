package tools

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/evalctl/evalctl/tools/simmcp"
)

// The test binary doubles as the stdio tool server of the tests: with
// serverEnv set it serves simmcp on stdin and stdout, with the flags in
// argsEnv, instead of running tests.
const (
	serverEnv = "EVALCTL_TOOLS_TEST_SERVER"
	argsEnv   = "EVALCTL_TOOLS_TEST_ARGS"
)

func TestMain(m *testing.M) {
	switch os.Getenv(serverEnv) {
	case "":
		os.Exit(m.Run())
	case "simmcp":
		var o simmcp.Options
		fs := pflag.NewFlagSet("simmcp", pflag.ContinueOnError)
		o.Flags(fs)
		if err := fs.Parse(strings.Fields(os.Getenv(argsEnv))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		o.Log = os.Stderr
		if tok := os.Getenv("SECRET_TOKEN"); tok != "" {
			fmt.Fprintf(os.Stderr, "simmcp: starting with token %s\n", tok)
		}
		if err := simmcp.Serve(context.Background(), o, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "simmcp:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case "garbage":
		// Not an MCP server: it answers the handshake with text.
		fmt.Println("Hello! Type a command.")
		fmt.Fprintln(os.Stderr, "garbage: a chatty program")
		time.Sleep(time.Minute)
		os.Exit(0)
	case "garbage-exits":
		// Not an MCP server either: it prints its usage and leaves when its
		// stdin closes, as most programs do.
		fmt.Println("Usage: tool [--help]")
		fmt.Fprintln(os.Stderr, "garbage: usage: tool [--help]")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	case "silent":
		// Starts, then never says anything.
		time.Sleep(time.Minute)
		os.Exit(0)
	case "exit":
		fmt.Fprintln(os.Stderr, "exit: missing configuration file")
		os.Exit(4)
	}
}

// testServer returns a stdio server running the test binary in mode with
// the given simmcp flags.
func testServer(t testing.TB, name, mode, flags string) Server {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Server{Name: name, Command: []string{exe}, Env: map[string]string{serverEnv: mode, argsEnv: flags}}
}
