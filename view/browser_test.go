package view_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evalctl/evalctl/cli"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
	"github.com/evalctl/evalctl/view"
)

// markup is a dataset question that the pages must show as text.
const markup = `<img src=x onerror="window.__pwned=1">What is <b>Git</b>?`

// evalctl runs the real command tree in-process.
func evalctl(t *testing.T, args ...string) {
	t.Helper()
	var out, errb bytes.Buffer
	sys := &cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		LookupEnv: func(string) (string, bool) { return "", false }, Getwd: os.Getwd,
		Context: func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, Args: args}
	if code := cli.Main(sys); code != cli.ExitOK {
		t.Fatalf("evalctl %s: exit %d\n%s", strings.Join(args, " "), code, errb.String())
	}
}

// twoRuns records two runs of a small project on the simulator, the second
// with an edited prompt, so that some questions flip between them.
func twoRuns(t *testing.T) (db string) {
	t.Helper()
	dir := t.TempDir()
	var rows strings.Builder
	rows.WriteString("id,category,question\n")
	for i := range 30 {
		fmt.Fprintf(&rows, "q%02d,%s,What is concept number %d in software engineering?\n", i, []string{"Git", "DDD", "Testing"}[i%3], i)
	}
	fmt.Fprintf(&rows, "q99,Git,\"%s\"\n", strings.ReplaceAll(markup, `"`, `""`))
	files := map[string]string{
		"questions.csv":     rows.String(),
		"prompts/basic.txt": "Question: {question}\n",
		"evalctl.yaml": `dataset: questions.csv
prompts: {dir: prompts, system: ''}
models: [sim:a, sim:b]
judge: sim:judge
scorers:
  - {name: english, type: guidelines, guidelines: The answer should be in English.}
  - {name: relevance_to_query, type: relevance_to_query}
  - {name: enough_words, type: word_count, min: 40}
`,
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db = filepath.Join(dir, "evalctl.db")
	cfg := filepath.Join(dir, "evalctl.yaml")
	evalctl(t, "run", "--config", cfg, "--store", db, "--name", "nightly", "--tag", "pr=1")
	os.WriteFile(filepath.Join(dir, "prompts/basic.txt"), []byte("Answer briefly. Question: {question}\n"), 0o644)
	evalctl(t, "run", "--config", cfg, "--store", db, "--name", "nightly", "--tag", "pr=2")
	return db
}

// TestViewInBrowser drives Debian's Chromium with playwright-core (installed
// by .ci/run in reports/browser) through evalctl view: the runs page and
// its filter, a run, a failing answer, three labels from the keyboard that
// a reload shows, a comparison of two runs and a question that flipped.
// Outside CI it is skipped when they are missing; in CI it fails.
func TestViewInBrowser(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	pw, _ := filepath.Abs(filepath.Join("..", "reports", "browser", "node_modules", "playwright-core"))
	_, errNode := exec.LookPath("node")
	_, errChromium := os.Stat(chromium)
	_, errPW := os.Stat(pw)
	if errNode != nil || errChromium != nil || errPW != nil {
		msg := fmt.Sprintf("browser test needs node, %s and playwright-core (cd reports/browser && npm install): %v %v %v", chromium, errNode, errChromium, errPW)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	db := twoRuns(t)
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	runs, _ := st.Runs(ctx) // newest first
	a, b := runs[1], runs[0]
	each := func(r *store.Run) reports.Each {
		return func(fn func(eval.Record) error) error { return st.EachRecord(ctx, r, false, fn) }
	}
	rc, err := reports.CompareRuns(reports.RunMeta{ID: a.ID}, a.Spec.Layout, each(a), reports.RunMeta{ID: b.ID}, b.Spec.Layout, each(b))
	if err != nil {
		t.Fatal(err)
	}
	flips := 0
	for _, d := range rc.Differences {
		flips += len(d.Regressed) + len(d.Improved)
	}
	if flips == 0 {
		t.Fatal("the two runs have no question that flipped: the test needs one")
	}

	const token = "browser-test-token-0123456789"
	srv, err := view.New(st, view.Options{Token: token, Loopback: true, Author: "browser"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	shots := os.Getenv("EVALCTL_ARTIFACTS")
	if shots == "" {
		shots = t.TempDir()
	}
	os.MkdirAll(shots, 0o755)
	expect, _ := json.Marshal(map[string]any{"base": ts.URL, "token": token, "playwright": filepath.Join(pw, "index.mjs"),
		"a": a.ID, "b": b.ID, "flips": flips, "markup": markup, "shots": shots})
	ep := filepath.Join(t.TempDir(), "expect.json")
	os.WriteFile(ep, expect, 0o644)
	cmd := exec.Command("node", "check.mjs", ep)
	cmd.Dir = "browser"
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("browser check failed: %v", err)
	}
	// The labels are in the store, signed: the latest of each answer.
	labels, err := st.Labels(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range labels {
		got = append(got, l.Value+" by "+l.Author)
	}
	// Four from the list and the cell page, two from the review queue.
	if len(labels) != 6 || strings.Join(got, ", ") != "pass by browser, fail by browser, pass by browser, fail by browser, pass by browser, pass by browser" || labels[0].Comment != "cites <no> source" {
		t.Errorf("stored labels: %v", got)
	}
}
