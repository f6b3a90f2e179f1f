package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/tools"
	"github.com/evalctl/evalctl/trace"
)

func TestSimMCPFlags(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		check func(*SimMCPOptions) bool
		err   string
	}{
		{args: nil, check: func(o *SimMCPOptions) bool { return o.HTTP == "" && o.Opts.CrashAfter == 0 }},
		{args: []string{"--http", "127.0.0.1:0", "--latency", "20ms", "--hang-every", "3", "--error-every", "4", "--crash-after", "5", "--crash-once", "f"},
			check: func(o *SimMCPOptions) bool {
				p := o.Opts
				return o.HTTP == "127.0.0.1:0" && p.Latency == 20*time.Millisecond && p.HangEvery == 3 && p.ErrorEvery == 4 && p.CrashAfter == 5 && p.CrashOnce == "f"
			}},
		{args: []string{"--hang-every", "-1"}, err: "must not be negative"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var got *SimMCPOptions
			cmd := NewCmdSimMCP(testApp(), func(o *SimMCPOptions) error { got = o; return nil })
			cmd.SetArgs(tc.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tc.err != "" {
				var ee *ExitError
				if err == nil || !errors.As(err, &ee) || ee.Code != ExitUsage || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want a usage error naming %q", err, tc.err)
				}
				return
			}
			if err != nil || got == nil || !tc.check(got) {
				t.Fatalf("err %v, options %+v", err, got)
			}
		})
	}
}

// TestSimMCPServes runs `evalctl sim mcp` as evalctl.yaml would, over stdio
// and over streamable HTTP, and searches through it.
func TestSimMCPServes(t *testing.T) {
	bin := binary(t)
	ctx := context.Background()

	set, err := tools.Start(ctx, []tools.Server{{Name: "search", Command: []string{bin, "sim", "mcp", "--crash-after", "2"}}}, tools.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	call := llm.ToolCall{Name: "web_search", Arguments: `{"query":"What is the waterfall model?"}`}
	if r := set.Call(ctx, call); r.ErrKind != "" || !strings.HasPrefix(r.Output, "1. [Waterfall model - Wikipedia](https://en.wikipedia.org/wiki/Waterfall_model)\n") {
		t.Errorf("stdio: %+v", r)
	}
	if r := set.Call(ctx, call); r.ErrKind != trace.ToolCrashed || !strings.Contains(r.Err, "crashing during call 2") {
		t.Errorf("stdio, call 2: %+v", r)
	}

	cmd := exec.Command(bin, "sim", "mcp", "--http", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url := regexp.MustCompile(`serving (http://\S+)`).FindStringSubmatch(line)
	if url == nil {
		t.Fatalf("stderr: %q", line)
	}
	hset, err := tools.Start(ctx, []tools.Server{{Name: "web", URL: url[1]}}, tools.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer hset.Close()
	if r := hset.Call(ctx, call); r.ErrKind != "" || !strings.Contains(r.Output, "Waterfall model") {
		t.Errorf("http: %+v", r)
	}
}
