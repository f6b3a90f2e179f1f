package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evalctl/evalctl/llm/sim"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds evalctl once per test process, for tests that need a real
// separate process (SIGKILL).
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "evalctl-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "evalctl")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/evalctl/evalctl/cmd/evalctl").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// numberedQuestions is a dataset of n questions with ids q000, q001, ...
func numberedQuestions(n int) string {
	var rows strings.Builder
	rows.WriteString("id,question\n")
	for i := range n {
		fmt.Fprintf(&rows, "q%03d,What is concept number %d?\n", i, i)
	}
	return rows.String()
}

// bigProject is 500 rows × 2 prompts × 2 models = 2,000 cells with a code scorer.
func bigProject(t *testing.T, extra string) string {
	return project(t, map[string]string{
		"questions.csv":       numberedQuestions(500),
		"prompts/basic.txt":   "Question: {question}",
		"prompts/concise.txt": "Question: {question}\nAnswer the question above.",
		"evalctl.yaml": `dataset: questions.csv
prompts: {use: [basic, concise], system: ''}
models: [openai:gpt-4.1-mini, openai:gpt-5-mini]
scorers:
  - {name: enough_words, type: word_count, min: 11}
` + extra,
	})
}

// answers reads answers.csv into "row|prompt|model" → answer, failing on duplicates.
func answers(t *testing.T, path string) map[string]string {
	t.Helper()
	recs := readCSV(t, path)
	m := map[string]string{}
	for _, r := range recs[1:] {
		k := r[0] + "|" + r[2] + "|" + r[4]
		if _, dup := m[k]; dup {
			t.Fatalf("%s: cell %s twice", path, k)
		}
		m[k] = r[8]
	}
	return m
}

func TestKillThenResume(t *testing.T) {
	bin := binary(t)
	vendor, err := sim.Start("127.0.0.1:0", sim.Options{Latency: 10 * time.Millisecond, Jitter: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer vendor.Close()
	cfg := bigProject(t, "")
	env := map[string]string{"OPENAI_BASE_URL": vendor.URL}

	cmd := exec.Command(bin, "run", "--config", cfg, "-j", "8")
	cmd.Env = []string{"OPENAI_BASE_URL=" + vendor.URL, "PATH=" + os.Getenv("PATH")}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// While it runs, list runs again and again (from its first moment, while
	// it creates the store): never "database is locked".
	lists := 0
	for vendor.Stats().Generation < 700 {
		select {
		case err := <-exited:
			t.Fatalf("the run ended before it was killed: %v\n%s", err, stderr.String())
		default:
		}
		r := run(t, nil, env, "runs", "list", "--config", cfg)
		if r.code != 0 || strings.Contains(r.stderr, "locked") {
			t.Fatalf("runs list during a run: exit %d %s", r.code, r.stderr)
		}
		lists++
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-exited
	if lists == 0 {
		t.Error("runs list never ran during the run")
	}

	r := run(t, nil, env, "runs", "list", "--config", cfg, "--json")
	var listed []struct {
		Status string `json:"status"`
		Done   int    `json:"cells_done"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("runs list --json: %v %s", err, r.stdout)
	}
	if listed[0].Status != "interrupted" || listed[0].Done == 0 || listed[0].Done >= 2000 {
		t.Errorf("after SIGKILL: %+v", listed[0])
	}

	out := t.TempDir()
	r = run(t, nil, env, "run", "--config", cfg, "--resume", "last", "--out", out)
	if r.code != ExitOK || !strings.Contains(r.stderr, "resuming") {
		t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
	}
	gen := vendor.Stats().Generation
	t.Logf("the vendor answered %d generation calls for 2,000 cells (killed after %d lists)", gen, lists)
	if gen > 2000+8 {
		t.Errorf("the vendor answered %d generation calls for 2,000 cells at -j 8", gen)
	}

	clean := t.TempDir()
	r = run(t, nil, env, "run", "--config", bigProject(t, ""), "--out", clean, "--no-cache")
	if r.code != ExitOK {
		t.Fatalf("clean run: %d %s", r.code, r.stderr)
	}
	got, want := answers(t, filepath.Join(out, "answers.csv")), answers(t, filepath.Join(clean, "answers.csv"))
	if len(got) != 2000 || len(want) != 2000 {
		t.Fatalf("cells: resumed %d, clean %d", len(got), len(want))
	}
	var diff []string
	for k, v := range want {
		if got[k] != v {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Errorf("%d cells differ from a clean run, e.g. %v", len(diff), diff[:min(3, len(diff))])
	}
}

func TestSecondRunIsServedFromTheCache(t *testing.T) {
	vendor, _ := sim.Start("127.0.0.1:0", sim.Options{})
	defer vendor.Close()
	cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
models: [openai:a, openai:b]
judge: openai:judge
scorers:
  - {name: english, type: guidelines, guidelines: The answer should be in English.}
  - {name: relevance_to_query, type: relevance_to_query}
  - {name: enough_words, type: word_count, min: 11}
`})
	env := map[string]string{"OPENAI_BASE_URL": vendor.URL}
	first := run(t, nil, env, "run", "--config", cfg)
	calls := vendor.Stats().Requests
	second := run(t, nil, env, "run", "--config", cfg)
	if first.code != 0 || second.code != 0 {
		t.Fatalf("exit %d %d\n%s", first.code, second.code, second.stderr)
	}
	if after := vendor.Stats().Requests; after != calls {
		t.Errorf("the second run made %d model calls", after-calls)
	}
	if first.stdout != second.stdout {
		t.Errorf("tables differ:\n%s\n%s", first.stdout, second.stdout)
	}
	if !strings.Contains(second.stderr, "0 LLM calls, 24 cache hits") {
		t.Errorf("summary: %s", second.stderr)
	}
	third := run(t, nil, env, "run", "--config", cfg, "--no-cache")
	if vendor.Stats().Requests == calls || third.code != 0 {
		t.Error("--no-cache did not ask the models")
	}
}

func TestReportEqualsRunOutput(t *testing.T) {
	cfg := project(t, nil)
	r := run(t, nil, nil, "run", "--config", cfg, "--name", "baseline", "--tag", "pr=7")
	if r.code != 0 {
		t.Fatalf("%d %s", r.code, r.stderr)
	}
	for _, ref := range []string{"last", "baseline"} {
		rep := run(t, nil, nil, "report", ref, "--config", cfg)
		if rep.code != 0 || rep.stdout != r.stdout {
			t.Errorf("report %s differs from the run's table:\n%s\nvs\n%s", ref, rep.stdout, r.stdout)
		}
	}
	out := filepath.Join(t.TempDir(), "r.json")
	if rep := run(t, nil, nil, "report", "--config", cfg, "--format", "json", "-o", out); rep.code != 0 {
		t.Fatal(rep.stderr)
	}
	var doc struct {
		Run struct {
			Name string            `json:"name"`
			Tags map[string]string `json:"tags"`
		} `json:"run"`
		Groups []struct {
			Cells   int `json:"cells"`
			Scorers []struct {
				Name string `json:"name"`
			} `json:"scorers"`
		} `json:"groups"`
	}
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &doc); err != nil || doc.Run.Name != "baseline" || doc.Run.Tags["pr"] != "7" || len(doc.Groups) != 4 || doc.Groups[0].Cells != 2 {
		t.Errorf("json report: %v %s", err, b)
	}
	show := run(t, nil, nil, "runs", "show", "--config", cfg)
	if show.code != 0 || !strings.Contains(show.stdout, "name     baseline") || !strings.Contains(show.stdout, r.stdout) {
		t.Errorf("runs show: %s", show.stdout)
	}
	if bad := run(t, nil, nil, "report", "nope", "--config", cfg); bad.code != ExitUsage || !strings.Contains(bad.stderr, `no such run "nope"`) {
		t.Errorf("unknown run: %+v", bad)
	}
}

func TestPromptRegistryCommands(t *testing.T) {
	cfg := project(t, nil)
	if r := run(t, nil, nil, "run", "--config", cfg, "--prompts", "basic", "--limit", "1"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	basic := filepath.Join(filepath.Dir(cfg), "prompts", "basic.txt")
	os.WriteFile(basic, []byte("Category: {category}\nQuestion: {question}\nBe brief."), 0o644)
	if r := run(t, nil, nil, "run", "--config", cfg, "--prompts", "basic", "--limit", "1"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	list := run(t, nil, nil, "prompts", "list", "basic", "--config", cfg)
	lines := strings.Split(strings.TrimSpace(list.stdout), "\n")
	if list.code != 0 || len(lines) != 3 {
		t.Fatalf("prompts list: %s", list.stdout)
	}
	newest, oldest := strings.Fields(lines[1])[1], strings.Fields(lines[2])[1]
	if r := run(t, nil, nil, "prompts", "tag", "basic@"+oldest, "production", "--config", cfg); r.code != 0 {
		t.Fatal(r.stderr)
	}
	show := run(t, nil, nil, "prompts", "show", "basic@production", "--config", cfg)
	if !strings.HasPrefix(show.stdout, "Category: {category}\nQuestion: {question}\nDifficulty") {
		t.Errorf("show: %q", show.stdout)
	}
	diff := run(t, nil, nil, "prompts", "diff", "basic@production", "basic@"+newest, "--config", cfg)
	if !strings.Contains(diff.stdout, "-Difficulty: {weight}/4") || !strings.Contains(diff.stdout, "+Be brief.") {
		t.Errorf("diff: %s", diff.stdout)
	}
	// Run the production version although the file on disk has moved on.
	r := run(t, nil, nil, "run", "--config", cfg, "--prompts", "basic@production", "--limit", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "basic@"+oldest) {
		t.Errorf("--prompts basic@production: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, nil, nil, "run", "--config", cfg, "--prompts", "basic@staging"); r.code != ExitUsage || !strings.Contains(r.stderr, "basic@staging") {
		t.Errorf("unknown alias: %+v", r)
	}
}

func TestResumeRefusesAChangedPlan(t *testing.T) {
	vendor, _ := sim.Start("127.0.0.1:0", sim.Options{FailRate: 1})
	defer vendor.Close()
	cfg := project(t, map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:m]\nproviders: {openai: {max_attempts: 1}}\n"})
	env := map[string]string{"OPENAI_BASE_URL": vendor.URL}
	if r := run(t, nil, env, "run", "--config", cfg); r.code != ExitIncomplete || !strings.Contains(r.stderr, "evalctl run --resume") {
		t.Fatalf("%d %s", r.code, r.stderr)
	}
	os.WriteFile(filepath.Join(filepath.Dir(cfg), "prompts", "basic.txt"), []byte("Q: {question}"), 0o644)
	r := run(t, nil, env, "run", "--config", cfg, "--resume", "last")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "prompt basic was @") {
		t.Errorf("changed prompt: %d %s", r.code, r.stderr)
	}
	if r := run(t, nil, env, "run", "--config", cfg, "--resume", "last", "--models", "openai:x"); r.code != ExitUsage || !strings.Contains(r.stderr, "--models cannot change it") {
		t.Errorf("flags with --resume: %+v", r)
	}
}

func TestScoreAddsScorersWithoutRegenerating(t *testing.T) {
	vendor, _ := sim.Start("127.0.0.1:0", sim.Options{})
	defer vendor.Close()
	cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
models: [openai:a]
judge: openai:judge
scorers:
  - {name: enough_words, type: word_count, min: 11}
`})
	env := map[string]string{"OPENAI_BASE_URL": vendor.URL}
	if r := run(t, nil, env, "run", "--config", cfg); r.code != 0 {
		t.Fatal(r.stderr)
	}
	gen := vendor.Stats().Generation
	// The team adds a judge to the config and scores the stored answers.
	os.WriteFile(cfg, []byte(`dataset: questions.csv
models: [openai:a]
judge: openai:judge
scorers:
  - {name: enough_words, type: word_count, min: 11}
  - {name: english, type: guidelines, guidelines: The answer should be in English.}
  - {name: relevance, type: relevance_to_query}
`), 0o644)
	// Only the scorer asked for runs (not relevance, listed after it).
	r := run(t, nil, env, "score", "last", "--config", cfg, "--scorers", "english")
	if r.code != 0 {
		t.Fatalf("score: %d %s", r.code, r.stderr)
	}
	st := vendor.Stats()
	if st.Generation != gen || st.Judge != 4 {
		t.Errorf("score asked for %d generations and %d verdicts; want 0 and 4", st.Generation-gen, st.Judge)
	}
	if !strings.Contains(r.stdout, "english") || !strings.Contains(r.stdout, "enough_words") || strings.Contains(r.stdout, "relevance") {
		t.Errorf("table: %s", r.stdout)
	}
	rep := run(t, nil, env, "report", "--config", cfg)
	if rep.stdout != r.stdout {
		t.Errorf("report after score differs:\n%s\n%s", rep.stdout, r.stdout)
	}
	if r := run(t, nil, env, "score", "--config", cfg, "--scorers", "nope"); r.code != ExitUsage || !strings.Contains(r.stderr, "no scorer named nope") {
		t.Errorf("%+v", r)
	}
}

// gateProject has a prompt whose text a test can make worse.
func gateProject(t *testing.T) string {
	rows, _ := os.ReadFile(filepath.Join("..", "examples", "se-quiz", "questions.csv"))
	return project(t, map[string]string{
		"questions.csv":     string(rows),
		"prompts/basic.txt": "Category: {category}\nQuestion: {question}\nInclude relevant technical terminology and reference key concepts.",
		"evalctl.yaml": `dataset: questions.csv
prompts: {use: [basic], system: ''}
models: [sim:a]
judge: sim:judge
limit: 150
scorers:
  - {name: reference_to_definition, type: guidelines, guidelines: The answer should reference and/or quote relevant definitions for the concepts mentioned in the question.}
  - {name: english, type: guidelines, guidelines: The answer should be in English.}
`,
	})
}

func TestGates(t *testing.T) {
	cfg := gateProject(t)
	if r := run(t, nil, nil, "run", "--config", cfg, "--name", "A"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := run(t, nil, nil, "gate", "A", "--config", cfg, "--fail-under", "english=1")
	if r.code != ExitGate || !strings.Contains(r.stderr, "gate english ≥ 1 failed for basic@") {
		t.Errorf("english=1: %d %s", r.code, r.stderr)
	}
	// A rate above 1 could never hold: a usage error, not a failed gate.
	r = run(t, nil, nil, "gate", "A", "--config", cfg, "--fail-under", "english=1.01")
	if r.code != ExitUsage || !strings.Contains(r.stderr, `--fail-under "english=1.01": MIN 1.01 is not between 0 and 1`) {
		t.Errorf("english=1.01: %d %s", r.code, r.stderr)
	}
	if r := run(t, nil, nil, "gate", "A", "--config", cfg, "--fail-under", "english=0"); r.code != 0 || !strings.Contains(r.stderr, "all 1 gates passed") {
		t.Errorf("english=0: %d %s", r.code, r.stderr)
	}
	// A typo in a gate fails before any model call, with exit 2.
	vendor, _ := sim.Start("127.0.0.1:0", sim.Options{})
	defer vendor.Close()
	r = run(t, nil, map[string]string{"OPENAI_BASE_URL": vendor.URL}, "run", "--config", cfg, "--models", "openai:m", "--fail-under", "englsh=0.9")
	if r.code != ExitUsage || !strings.Contains(r.stderr, `no scorer "englsh" in this run`) || vendor.Stats().Requests != 0 {
		t.Errorf("typo: %d %s (%d requests)", r.code, r.stderr, vendor.Stats().Requests)
	}
	if r := run(t, nil, nil, "run", "--config", cfg, "--max-drop", "overall=0.05"); r.code != ExitUsage || !strings.Contains(r.stderr, "need --baseline") {
		t.Errorf("no baseline: %d %s", r.code, r.stderr)
	}
	// Gates in evalctl.yaml are checked too, and named by their line.
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("gates:\n  - {scorer: english, min: 1}\n")...), 0o644)
	if r := run(t, nil, nil, "gate", "A", "--config", cfg); r.code != ExitGate || !strings.Contains(r.stderr, "gate english ≥ 1 failed") {
		t.Errorf("config gate: %d %s", r.code, r.stderr)
	}
	os.WriteFile(cfg, append(b, []byte("gates:\n  - {scorer: english, min: 1.01}\n")...), 0o644)
	if r := run(t, nil, nil, "gate", "A", "--config", cfg); r.code != ExitUsage || !strings.Contains(r.stderr, "evalctl.yaml:10: gates: min 1.01 is not between 0 and 1") {
		t.Errorf("config gate over 1: %d %s", r.code, r.stderr)
	}
	os.WriteFile(cfg, append(b, []byte("gates:\n  - {scorer: english, mni: 1}\n")...), 0o644)
	if r := run(t, nil, nil, "gate", "A", "--config", cfg); r.code != ExitUsage || !strings.Contains(r.stderr, `evalctl.yaml:10: unknown key "mni"`) {
		t.Errorf("config gate typo: %d %s", r.code, r.stderr)
	}
	os.WriteFile(cfg, b, 0o644)

	// Run B with a worse prompt: the regression gates fail, naming the scorer,
	// its drop and its significance.
	os.WriteFile(filepath.Join(filepath.Dir(cfg), "prompts", "basic.txt"), []byte("Category: {category}\nQuestion: {question}\nAnswer the question above."), 0o644)
	r = run(t, nil, nil, "run", "--config", cfg, "--name", "B", "--baseline", "A", "--max-drop", "reference_to_definition=0.05", "--no-significant-drop", "overall")
	if r.code != ExitGate {
		t.Fatalf("regression: exit %d %s", r.code, r.stderr)
	}
	for _, want := range []string{"gate reference_to_definition drop from baseline ≤ 0.05 failed for basic@",
		"significant: McNemar p=", "gate overall: no significant drop from baseline failed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// The table still prints, to stdout.
	if !strings.Contains(r.stdout, "basic@") {
		t.Errorf("stdout: %s", r.stdout)
	}

	// A baseline kept as a JSON report (CI without a stored run): drops are
	// measured on rates, and significance is refused before any call.
	base := filepath.Join(t.TempDir(), "baseline.json")
	if r := run(t, nil, nil, "report", "A", "--config", cfg, "--format", "json", "-o", base); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r = run(t, nil, nil, "gate", "B", "--config", cfg, "--baseline", base, "--max-drop", "reference_to_definition=0.05")
	if r.code != ExitGate || !strings.Contains(r.stderr, "against a JSON baseline: unpaired, no test") {
		t.Errorf("JSON baseline: %d %s", r.code, r.stderr)
	}
	if r := run(t, nil, nil, "gate", "B", "--config", cfg, "--baseline", base, "--max-drop", "english=0.5"); r.code != 0 {
		t.Errorf("JSON baseline within the limit: %d %s", r.code, r.stderr)
	}
	r = run(t, nil, nil, "run", "--config", cfg, "--baseline", base, "--no-significant-drop", "english")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "needs per-question outcomes") {
		t.Errorf("significance against JSON: %d %s", r.code, r.stderr)
	}
}

func TestMaxCost(t *testing.T) {
	vendor, _ := sim.Start("127.0.0.1:0", sim.Options{})
	defer vendor.Close()
	env := map[string]string{"OPENAI_BASE_URL": vendor.URL}
	cfg := bigProject(t, "prices:\n  openai:gpt-4.1-mini: {input: 100, output: 100}\n")
	// A model without a price cannot be held to a budget: refused before any call.
	if r := run(t, nil, env, "run", "--config", cfg, "--max-cost", "1", "--models", "openai:gpt-4.1-mini,openai:in-house-7b"); r.code != ExitUsage || !strings.Contains(r.stderr, "--max-cost needs a price for openai:in-house-7b") {
		t.Errorf("unpriced: %d %s", r.code, r.stderr)
	}
	if vendor.Stats().Requests != 0 {
		t.Fatal("calls before validation")
	}
	os.WriteFile(cfg, append(mustRead(t, cfg), []byte("  openai:gpt-5-mini: {input: 100, output: 100}\n")...), 0o644)
	r := run(t, nil, env, "run", "--config", cfg, "--max-cost", "0.5", "-j", "4")
	if r.code != ExitIncomplete || !strings.Contains(r.stderr, "budget reached: the run costs $") || !strings.Contains(r.stderr, "evalctl run --resume") {
		t.Fatalf("budget: %d %s", r.code, r.stderr)
	}
	n := vendor.Stats().Generation
	if n >= 2000 {
		t.Errorf("%d generation calls: the budget did not stop scheduling", n)
	}
	// max_cost is the run's cost, earlier attempts included: a resume under
	// the same budget has nothing left to spend.
	if r := run(t, nil, env, "run", "--config", cfg, "--resume", "last", "--max-cost", "0.5"); r.code != ExitIncomplete || !strings.Contains(r.stderr, "budget reached") {
		t.Errorf("resume under the spent budget: %d %s", r.code, r.stderr)
	}
	if again := vendor.Stats().Generation; again != n {
		t.Errorf("a resume under the spent budget made %d calls", again-n)
	}
	if r := run(t, nil, env, "run", "--config", cfg, "--resume", "last"); r.code != 0 || !strings.Contains(r.stderr, "2000 of 2000 cells") {
		t.Errorf("resume after the budget: %d %s", r.code, r.stderr)
	}
}

// A max_cost gate over a model or judge without a price could only ever say
// "cannot tell": it is refused before any call, at its config line, like
// --max-cost (the same check). Simulated models are free, so priced.
func TestMaxCostGateNeedsPrices(t *testing.T) {
	vendor, _ := sim.Start("127.0.0.1:0", sim.Options{})
	defer vendor.Close()
	env := map[string]string{"OPENAI_BASE_URL": vendor.URL}
	scorer := "scorers:\n  - {name: english, type: guidelines, guidelines: The answer should be in English.}\n"
	tests := []struct {
		name, yaml string
		code       int
		want       string
	}{
		{"model and judge unpriced", "dataset: questions.csv\nmodels: [openai:in-house]\njudge: openai:judge\n" + scorer + "gates:\n  - {max_cost: 5}\n",
			ExitUsage, "evalctl.yaml:7: max_cost needs a price for openai:in-house, openai:judge: add it under prices: in evalctl.yaml"},
		{"judge unpriced", "dataset: questions.csv\nmodels: [openai:gpt-4.1-mini]\njudge: openai:judge\n" + scorer + "gates:\n  - {scorer: english, min: 0.5}\n  - {max_cost: 5}\n",
			ExitUsage, "evalctl.yaml:8: max_cost needs a price for openai:judge: add it under prices:"},
		{"a scorer's own judge unpriced", "dataset: questions.csv\nmodels: [openai:gpt-4.1-mini]\nscorers:\n  - {name: english, type: guidelines, guidelines: English., judge: openai:other}\ngates:\n  - {max_cost: 5}\n",
			ExitUsage, "evalctl.yaml:6: max_cost needs a price for openai:other"},
		{"all priced", "dataset: questions.csv\nmodels: [openai:in-house]\njudge: openai:gpt-4.1-mini\n" + scorer + "gates:\n  - {max_cost: 5}\nprices:\n  openai:in-house: {input: 0, output: 0}\n",
			ExitOK, "all 1 gates passed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := vendor.Stats().Requests
			cfg := project(t, map[string]string{"evalctl.yaml": tc.yaml})
			r := run(t, nil, env, "run", "--config", cfg)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
			if n := vendor.Stats().Requests - before; tc.code == ExitUsage && n != 0 {
				t.Errorf("%d calls before the gate was refused", n)
			}
		})
	}
	// The simulator's models are free: a max_cost gate over them holds.
	cfg := project(t, map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [sim:a]\njudge: sim:judge\n" + scorer + "gates:\n  - {max_cost: 0}\n"})
	if r := run(t, nil, nil, "run", "--config", cfg); r.code != ExitOK || !strings.Contains(r.stderr, "all 1 gates passed") {
		t.Errorf("sim: exit %d %s", r.code, r.stderr)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A resume streams the stored cells beside the plan: it redoes exactly the
// failed cells, and asks nothing for the complete ones.
func TestResumeRedoesFailedCells(t *testing.T) {
	flaky, _ := sim.Start("127.0.0.1:0", sim.Options{FailRate: 0.3, Seed: 4})
	defer flaky.Close()
	cfg := bigProject(t, "providers:\n  openai: {max_attempts: 1}\n")
	os.WriteFile(filepath.Join(filepath.Dir(cfg), "questions.csv"), []byte(numberedQuestions(40)), 0o644)
	r := run(t, nil, map[string]string{"OPENAI_BASE_URL": flaky.URL}, "run", "--config", cfg)
	m := regexp.MustCompile(`(\d+) generation errors?`).FindStringSubmatch(r.stdout)
	if r.code != ExitIncomplete || m == nil || m[1] == "0" {
		t.Fatalf("flaky run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	failed, _ := strconv.Atoi(m[1])
	healthy, _ := sim.Start("127.0.0.1:0", sim.Options{})
	defer healthy.Close()
	r = run(t, nil, map[string]string{"OPENAI_BASE_URL": healthy.URL}, "run", "--config", cfg, "--resume", "last")
	if r.code != ExitOK || !strings.Contains(r.stdout, "160 of 160 cells; 0 generation errors") {
		t.Fatalf("resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := healthy.Stats().Generation; got != int64(failed) {
		t.Errorf("the resume asked for %d answers; %d cells had failed", got, failed)
	}
}
