package cli

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evalctl/evalctl/llm/sim"
)

// batchProject is 2,000 cells (500 rows × 2 prompts × 2 models) judged by
// a guideline, on openai: models; extra goes under providers.openai.
func batchProject(t *testing.T, providers string) string {
	return project(t, map[string]string{
		"questions.csv":       numberedQuestions(500),
		"prompts/basic.txt":   "Question: {question}",
		"prompts/concise.txt": "Question: {question}\nAnswer the question above.",
		"evalctl.yaml": `dataset: questions.csv
prompts: {use: [basic, concise], system: ''}
models: [openai:gpt-4.1-mini, openai:gpt-5-mini]
judge: openai:gpt-4.1-mini
scorers:
  - {name: enough_words, type: word_count, min: 11}
  - {name: english, type: guidelines, guidelines: "The answer should be in English."}
` + providers,
	})
}

// startRun starts evalctl in its own process against vendor.
func startRun(t *testing.T, bin, vendor string, args ...string) (*exec.Cmd, *lockedBuffer, *lockedBuffer, chan error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"OPENAI_BASE_URL=" + vendor, "OPENAI_API_KEY=sk-test-batch", "PATH=" + os.Getenv("PATH")}
	out, errb := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, out, errb, done
}

// killWhen SIGKILLs a run once cond holds, a moment after (the batch it
// waits for is recorded by then: the ledger is written before the run
// polls it).
func killWhen(t *testing.T, cmd *exec.Cmd, stderr *lockedBuffer, done chan error, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("the run ended (%v) before %s:\n%s", err, what, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 90s:\n%s", what, stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for !strings.Contains(stderr.String(), "in_progress") {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-done
}

var latencyOrCost = regexp.MustCompile(`(\d+(\.\d+)?(µs|ms|s)\b)|(\$\d+\.\d+)`)

// scoreTable is the comparison table with its latencies and costs blanked:
// a batch has no latency per request, and costs half.
func scoreTable(s string) string {
	return strings.Join(strings.Fields(latencyOrCost.ReplaceAllString(s, "-")), " ")
}

// dropColumns returns a CSV's records without the named columns.
func dropColumns(recs [][]string, names ...string) [][]string {
	var keep []int
	for i, h := range recs[0] {
		if !slices.Contains(names, h) {
			keep = append(keep, i)
		}
	}
	out := make([][]string, len(recs))
	for r, rec := range recs {
		for _, i := range keep {
			out[r] = append(out[r], rec[i])
		}
	}
	return out
}

// A 2,000-cell batch run killed while its answers' batches run, and again
// while its judges' batch runs, pays for no request twice: each resume
// waits for the batches the killed process left. It ends with the answers,
// verdicts and table of an interactive run.
func TestBatchRunSurvivesKills(t *testing.T) {
	bin := binary(t)
	opts := sim.Options{BatchDelay: 3 * time.Second}
	vendor, err := sim.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer vendor.Close()
	cfg := batchProject(t, "providers:\n  openai:\n    batch: {poll: 100ms, collect: 300ms}\n")
	dir := filepath.Dir(cfg)
	out := filepath.Join(dir, "batch-out")

	// Killed while the answers' two batches (one per model) run.
	cmd, _, stderr, done := startRun(t, bin, vendor.URL, "run", "--config", cfg)
	killWhen(t, cmd, stderr, done, "answers' batches", func() bool { return vendor.Stats().Batches >= 2 })
	if st := vendor.Stats(); st.BatchAnswered >= 2000 {
		t.Fatalf("the answers' batches had ended (%d requests answered) before the kill", st.BatchAnswered)
	}
	// Resumed, and killed while the judges' batch runs.
	cmd, _, stderr, done = startRun(t, bin, vendor.URL, "run", "--config", cfg, "--resume", "last")
	killWhen(t, cmd, stderr, done, "judges' batch", func() bool { return vendor.Stats().Batches >= 3 })
	if st := vendor.Stats(); st.BatchAnswered >= 4000 {
		t.Fatalf("the judges' batches had ended (%d requests answered) before the kill", st.BatchAnswered)
	}
	// Resumed to the end.
	_, stdout, stderr, done := startRun(t, bin, vendor.URL, "run", "--config", cfg, "--resume", "last", "--out", out)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the last resume failed: %v\n%s", err, stderr.String())
		}
	case <-time.After(120 * time.Second):
		t.Fatalf("the last resume did not end:\n%s", stderr.String())
	}
	st := vendor.Stats()
	t.Logf("vendor: %d batches, %d requests answered in batches, %d failed, %d interactive", st.Batches, st.BatchAnswered, st.BatchFailed, st.Interactive)
	// Every request answered once: 2,000 answers (a batch per model), then
	// 2,000 verdicts (a batch or two, as the answers' batches ended).
	if st.BatchAnswered != 4000 || st.BatchFailed != 0 || st.Interactive != 0 || st.Batches < 3 || st.Batches > 4 {
		t.Errorf("the vendor ran %d batches answering %d requests (%d failed) and %d interactive calls; want 4,000 requests in all (2,000 answers, 2,000 verdicts) in 3 or 4 batches, nothing else",
			st.Batches, st.BatchAnswered, st.BatchFailed, st.Interactive)
	}
	if !strings.Contains(stderr.String(), "batches:") {
		t.Errorf("the progress shows no batch states:\n%s", stderr.String())
	}

	// The same evaluation, interactively, against a vendor of the same
	// options (its answers depend only on them and the request), on the
	// same store (whose salt the judges' prompts hold) without its cache.
	inter, err := sim.Start("127.0.0.1:0", sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inter.Close()
	icfg := batchProject(t, "")
	iout := filepath.Join(filepath.Dir(icfg), "out")
	_, istdout, istderr, idone := startRun(t, bin, inter.URL, "run", "--config", icfg, "--out", iout,
		"--store", filepath.Join(dir, ".evalctl", "evalctl.db"), "--no-cache")
	if err := <-idone; err != nil {
		t.Fatalf("interactive run: %v\n%s", err, istderr.String())
	}
	if a, b := scoreTable(stdout.String()), scoreTable(istdout.String()); a != b {
		t.Errorf("the batch run's table differs from the interactive one's:\nbatch:\n%s\ninteractive:\n%s", a, b)
	}
	for _, f := range []struct {
		name string
		drop []string
	}{
		{"answers.csv", []string{"latency_ms", "attempts"}},
		{"feedback.csv", []string{"judge_latency_ms"}},
	} {
		a := dropColumns(readCSV(t, filepath.Join(out, f.name)), f.drop...)
		b := dropColumns(readCSV(t, filepath.Join(iout, f.name)), f.drop...)
		if len(a) != 2001 && f.name == "answers.csv" {
			t.Errorf("%s: %d rows, want 2,000", f.name, len(a)-1)
		}
		if fmt.Sprint(a) != fmt.Sprint(b) {
			for i := range min(len(a), len(b)) {
				if fmt.Sprint(a[i]) != fmt.Sprint(b[i]) {
					t.Errorf("%s differs first at record %d:\nbatch:       %q\ninteractive: %q", f.name, i, a[i], b[i])
					break
				}
			}
		}
	}
}

// What a batch does not answer (an expired batch's requests, failed
// requests) is asked interactively by default, and recorded as errors
// with on_failure: error.
func TestBatchFailures(t *testing.T) {
	for _, tc := range []struct {
		name, batch string
		code        int
		interactive bool
	}{
		{"interactive", "{poll: 20ms, collect: 100ms}", ExitOK, true},
		{"error", "{poll: 20ms, collect: 100ms, on_failure: error}", ExitIncomplete, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vendor, err := sim.Start("127.0.0.1:0", sim.Options{BatchExpireRate: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer vendor.Close()
			cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
prompts: {use: [basic, concise]}
models: [openai:gpt-4.1-mini]
scorers:
  - {name: enough_words, type: word_count, min: 11}
providers:
  openai:
    batch: ` + tc.batch + "\n"})
			r := run(t, nil, map[string]string{"OPENAI_BASE_URL": vendor.URL, "OPENAI_API_KEY": "sk-x"}, "run", "--config", cfg)
			st := vendor.Stats()
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, tc.code, r.stdout, r.stderr)
			}
			// The batch expired with half its requests unanswered.
			if st.Batches != 1 || st.BatchAnswered != 2 || (st.Interactive == 2) != tc.interactive {
				t.Errorf("%d batches, %d answered in batch, %d interactively", st.Batches, st.BatchAnswered, st.Interactive)
			}
			if !strings.Contains(r.stderr, "1 expired") {
				t.Errorf("the progress does not show the batch expired:\n%s", r.stderr)
			}
			if !tc.interactive && !strings.Contains(r.stdout, "2 generation errors") {
				t.Errorf("the unanswered requests are not errors:\n%s", r.stdout)
			}
		})
	}
}

// A dry run prices batched models at the batch price and says so.
func TestBatchDryRun(t *testing.T) {
	cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
prompts: {use: [basic]}
models: [openai:gpt-4.1-mini]
scorers:
  - {name: enough_words, type: word_count, min: 11}
`})
	cost := func(args ...string) string {
		r := run(t, nil, map[string]string{}, append([]string{"run", "--config", cfg, "--dry-run", "--no-cache"}, args...)...)
		if r.code != ExitOK {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		m := regexp.MustCompile(`completion tokens, \$(\d+\.\d+)`).FindStringSubmatch(r.stderr)
		if m == nil {
			t.Fatalf("no cost in:\n%s", r.stderr)
		}
		if len(args) > 0 && !strings.Contains(r.stderr, "batch: openai:gpt-4.1-mini go through the Batch API") {
			t.Errorf("the dry run does not say the model is batched:\n%s", r.stderr)
		}
		return m[1]
	}
	var inter, batched float64
	fmt.Sscan(cost(), &inter)
	fmt.Sscan(cost("--batch"), &batched)
	if inter == 0 || math.Abs(batched*2-inter) > 0.0002 { // printed to 4 places
		t.Errorf("interactive $%v, batched $%v: want half", inter, batched)
	}
}

// What batching cannot do is refused before any call.
func TestBatchRefusals(t *testing.T) {
	notFound := func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
	noBatchAPI := httptest.NewServer(http.HandlerFunc(notFound))
	defer noBatchAPI.Close()
	cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
prompts: {use: [basic]}
models: [openai:gpt-4.1-mini]
scorers:
  - {name: enough_words, type: word_count, min: 11}
`})
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"azure", map[string]string{"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com", "AZURE_OPENAI_API_KEY": "k"},
			[]string{"--models", "azure:gpt4", "--prompts", "basic", "--batch"}, ExitUsage, "Azure OpenAI's batch deployments are not supported"},
		{"no batch API", map[string]string{"OPENAI_BASE_URL": noBatchAPI.URL, "OPENAI_API_KEY": "sk-x"},
			[]string{"--batch"}, ExitUsage, "no Batch API"},
		{"a budget", map[string]string{"OPENAI_BASE_URL": noBatchAPI.URL, "OPENAI_API_KEY": "sk-x"},
			[]string{"--batch", "--max-cost", "1"}, ExitUsage, "--max-cost cannot bound a batch run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, tc.env, append([]string{"run", "--config", cfg}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
		})
	}
}

// A named batch run on PostgreSQL runs in one process, not shared: each
// worker would claim -j cells at a time, too few for a batch.
func TestBatchRunNotShared(t *testing.T) {
	url := pgStore(t)
	cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
prompts: {use: [basic]}
models: [sim:a]
scorers:
  - {name: enough_words, type: word_count, min: 11}
providers:
  sim:
    batch: {poll: 20ms, collect: 100ms}
`})
	r := run(t, nil, map[string]string{}, "run", "--config", cfg, "--store", url, "--name", "nightly")
	if r.code != ExitOK || !strings.Contains(r.stderr, "is a batch run: it is not shared") || !strings.Contains(r.stdout, "enough_words") {
		t.Errorf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// The resume of a run made with --no-cache asks fresh too: its cells are
// not mixed with answers an earlier run left in the cache.
func TestResumeKeepsNoCache(t *testing.T) {
	vendor, err := sim.Start("127.0.0.1:0", sim.Options{Latency: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer vendor.Close()
	cfg := bigProject(t, "")
	env := map[string]string{"OPENAI_BASE_URL": vendor.URL}
	if r := run(t, nil, env, "run", "--config", cfg, "--limit", "50"); r.code != ExitOK { // fills the cache
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for vendor.Stats().Generation < 230 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if r := run(t, ctx, env, "run", "--config", cfg, "--limit", "50", "--no-cache", "-j", "2"); r.code != ExitInterrupted {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	r := run(t, nil, env, "run", "--config", cfg, "--resume", "last")
	if r.code != ExitOK || !strings.Contains(r.stderr, " 0 cache hits") {
		t.Errorf("exit %d; the resume of a --no-cache run used the cache:\n%s", r.code, r.stderr)
	}
	if got := vendor.Stats().Generation; got < 400 {
		t.Errorf("%d answers asked in all, want 200 for the first run and 200 for the second", got)
	}
}
