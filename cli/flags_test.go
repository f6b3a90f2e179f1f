package cli

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/evalctl/evalctl/llm/transport"
	"github.com/evalctl/evalctl/scorers"
)

// testApp is an app over buffers, for flag-parsing tests.
func testApp() *app {
	return &app{io: &IO{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, LookupEnv: func(string) (string, bool) { return "", false }},
		registry: scorers.NewRegistry(), redactor: &transport.Redactor{}}
}

// Flags are parsed and checked without running anything (the runF seam):
// what each flag sets, and the usage errors (exit 2) a bad value gets.
func TestRunFlags(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		check func(*RunOptions) bool
		err   string
	}{
		{args: []string{"--prompts", "basic@production,basic", "--models", "openai:a, sim:b", "-j", "4"},
			check: func(o *RunOptions) bool {
				return slices.Equal(o.Prompts, []string{"basic@production", "basic"}) && len(o.Models) == 2 && o.Concurrency == 4 && o.set("models") && !o.set("judge")
			}},
		{args: []string{"--max-error-rate", "0.2", "--max-cost", "3.5", "--fail-under", "english@hot=0.9"},
			check: func(o *RunOptions) bool { return o.MaxErrorRate == 0.2 && o.MaxCost == 3.5 && len(o.FailUnder) == 1 }},
		{args: []string{"--max-error-rate", "1.5"}, err: "--max-error-rate"},
		{args: []string{"--max-cost", "-1"}, err: "--max-cost"},
		{args: []string{"--fail-under", "english=1.5"}, err: "1.5"},
		{args: []string{"--shard", "3/2"}, err: "shard"},
		{args: []string{"-j", "0"}, err: "concurrency"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var got *RunOptions
			cmd := NewCmdRun(testApp(), func(o *RunOptions) error { got = o; return nil })
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

func TestReportFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{args: []string{"last", "--format", "html", "-o", "r.html"}},
		{args: []string{"last", "--out", "out", "--csv-raw"}},
		{args: []string{"last", "--assessment", "2", "--format", "json"}},
		{args: []string{"--format", "pdf"}, err: "--format"},
		{args: []string{"--format", "json", "--csv-raw"}, err: "--csv-raw"},
		{args: []string{"--out", "out", "--format", "json"}, err: "--out"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var got *ReportOptions
			cmd := NewCmdReport(testApp(), func(o *ReportOptions) error { got = o; return nil })
			cmd.SetArgs(tc.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil || got == nil {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestSimServeBatchFlags(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		check func(*SimServeOptions) bool
		err   string
	}{
		{args: []string{"--batch-delay", "2s", "--batch-fail-rate", "0.1", "--batch-expire-rate", "0.5", "--batch-max-requests", "10", "--batch-max-bytes", "1000"},
			check: func(o *SimServeOptions) bool {
				b := o.Opts
				return b.BatchDelay.Seconds() == 2 && b.BatchFailRate == 0.1 && b.BatchExpireRate == 0.5 && b.BatchMaxRequests == 10 && b.BatchMaxBytes == 1000
			}},
		{args: []string{"--batch-fail-rate", "1.5"}, err: "--batch-fail-rate"},
		{args: []string{"--batch-delay", "-1s"}, err: "--batch-delay"},
		{args: []string{"--batch-max-requests", "-1"}, err: "--batch-max-requests"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var got *SimServeOptions
			cmd := NewCmdSimServe(testApp(), func(o *SimServeOptions) error { got = o; return nil })
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
