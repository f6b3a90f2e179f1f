package cli

import (
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/evalctl/evalctl/llm/sim"
)

// reportJSON is the part of report.json these tests read.
type reportJSON struct {
	CellsPlanned int `json:"cells_planned"`
	Groups       []struct {
		Variant       string `json:"variant"`
		Label         string `json:"label"`
		Prompt        string `json:"prompt"`
		PromptVersion string `json:"prompt_version"`
		Model         string `json:"model"`
		Cells         int    `json:"cells"`
		Scorers       []struct {
			Name   string `json:"name"`
			Pass   int    `json:"pass"`
			Fail   int    `json:"fail"`
			Errors int    `json:"errors"`
		} `json:"scorers"`
	} `json:"groups"`
}

func readReport(t *testing.T, env map[string]string, args ...string) reportJSON {
	t.Helper()
	r := run(t, nil, env, append([]string{"report", "--format", "json"}, args...)...)
	if r.code != ExitOK {
		t.Fatalf("report: exit %d\n%s", r.code, r.stderr)
	}
	var rep reportJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report.json: %v\n%s", err, r.stdout)
	}
	return rep
}

// Two versions of one prompt in one run: two variants, every cell once,
// the summary and the table agreeing. The same prompt twice is refused.
func TestTwoVersionsOfOnePrompt(t *testing.T) {
	cfg := project(t, map[string]string{"evalctl.yaml": "dataset: questions.csv\nprompts: {dir: prompts, use: [basic]}\nmodels: [sim:a]\nscorers:\n  - {name: enough_words, type: word_count, min: 11}\n"})
	r := run(t, nil, nil, "run", "--config", cfg, "--name", "v1only")
	if r.code != ExitOK {
		t.Fatalf("first run: %d %s", r.code, r.stderr)
	}
	v1 := regexp.MustCompile(`basic@([0-9a-f]{8})`).FindStringSubmatch(r.stdout)[1]
	os.WriteFile(filepath.Join(filepath.Dir(cfg), "prompts", "basic.txt"), []byte("Question: {question}\nAnswer in three sentences."), 0o644)

	r = run(t, nil, nil, "run", "--config", cfg, "--prompts", "basic@"+v1+",basic", "--models", "sim:a,sim:b")
	if r.code != ExitOK || !strings.Contains(r.stderr, "8 of 8 cells") || !strings.Contains(r.stdout, "8 of 8 cells") {
		t.Fatalf("two versions: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	rep := readReport(t, nil, "last", "--config", cfg)
	if len(rep.Groups) != 4 || rep.CellsPlanned != 8 {
		t.Fatalf("%d groups, %d cells planned, want 4 and 8", len(rep.Groups), rep.CellsPlanned)
	}
	versions := map[string]bool{}
	for _, g := range rep.Groups {
		versions[g.PromptVersion] = true
		if g.Cells != 2 {
			t.Errorf("group %s@%s %s has %d cells, want 2", g.Prompt, g.PromptVersion, g.Model, g.Cells)
		}
	}
	if len(versions) != 2 || !versions[v1] {
		t.Errorf("versions %v, want %s and the new one", versions, v1)
	}
	// compare pairs each variant once.
	c := run(t, nil, nil, "compare", "last", "last", "--config", cfg)
	if n := strings.Count(c.stdout, "enough_words"); c.code != ExitOK || n != 4 {
		t.Errorf("compare prints %d rows for 4 variants\n%s%s", n, c.stdout, c.stderr)
	}
	if g := run(t, nil, nil, "gate", "last", "--config", cfg, "--fail-under", "enough_words=0.5"); g.code != ExitOK {
		t.Errorf("gate: exit %d %s", g.code, g.stderr)
	}
	// Against a baseline of the first version alone, the same variant pairs
	// with itself (unchanged: no drop) and nothing is paired across versions.
	c = run(t, nil, nil, "compare", "v1only", "last", "--config", cfg)
	if n := strings.Count(c.stdout, "enough_words"); c.code != ExitOK || n != 1 || strings.Contains(c.stdout, "@"+v1+"→") {
		t.Errorf("compare with the one-version baseline: %d rows\n%s%s", n, c.stdout, c.stderr)
	}
	if g := run(t, nil, nil, "gate", "last", "--config", cfg, "--baseline", "v1only", "--max-drop", "enough_words=0.01"); g.code != ExitOK {
		t.Errorf("regression gate against the one-version baseline: exit %d %s", g.code, g.stderr)
	}

	r = run(t, nil, nil, "run", "--config", cfg, "--prompts", "basic,basic")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "listed twice") {
		t.Errorf("basic,basic: exit %d %s", r.code, r.stderr)
	}
}

// A temperature sweep: the same prompt and model twice with other
// parameters is two variants, labelled, gated by label.
func TestTemperatureSweep(t *testing.T) {
	vendor, _ := sim.Start("127.0.0.1:0", sim.Options{})
	defer vendor.Close()
	cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
prompts: {dir: prompts}
variants:
  - {label: cold, prompt: basic, model: openai:gpt-4.1-mini, temperature: 0}
  - {label: hot, prompt: basic, model: openai:gpt-4.1-mini, temperature: 1.0}
  - {prompt: concise, model: openai:gpt-4.1-mini, temperature: 1.0}
  - {prompt: concise, model: openai:gpt-4.1-mini, temperature: 0.5, system: ''}
scorers:
  - {name: enough_words, type: word_count, min: 11}
`})
	env := map[string]string{"OPENAI_BASE_URL": vendor.URL, "OPENAI_API_KEY": "sk-test"}
	r := run(t, nil, env, "run", "--config", cfg)
	if r.code != ExitOK || !strings.Contains(r.stderr, "2 rows × 4 variants = 8 cells") || !strings.Contains(r.stdout, "8 of 8 cells") {
		t.Fatalf("sweep: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := vendor.Stats().Generation; got != 8 {
		t.Errorf("%d answers asked for 8 cells", got)
	}
	for _, want := range []string{"variant", "cold", "hot", "temperature=1 system=system@", "temperature=0.5"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the table lacks %q:\n%s", want, r.stdout)
		}
	}
	rep := readReport(t, env, "last", "--config", cfg)
	if len(rep.Groups) != 4 {
		t.Fatalf("%d groups", len(rep.Groups))
	}
	for _, g := range rep.Groups {
		if g.Cells != 2 || g.Variant == "" {
			t.Errorf("group %+v", g)
		}
	}
	if g := run(t, nil, env, "gate", "last", "--config", cfg, "--fail-under", "enough_words@hot=0.5"); g.code != ExitOK {
		t.Errorf("gate by label: exit %d %s", g.code, g.stderr)
	}
	if g := run(t, nil, env, "gate", "last", "--config", cfg, "--fail-under", "enough_words@lukewarm=0.5"); g.code != ExitUsage || !strings.Contains(g.stderr, "hot") {
		t.Errorf("gate by an unknown label: exit %d %s", g.code, g.stderr)
	}
	// Two variants that are the same are refused before any call.
	bad := strings.Replace(string(mustRead(t, cfg)), "label: hot, prompt: basic, model: openai:gpt-4.1-mini, temperature: 1.0", "label: hot, prompt: basic, model: openai:gpt-4.1-mini, temperature: 0", 1)
	os.WriteFile(cfg, []byte(bad), 0o644)
	if r := run(t, nil, env, "run", "--config", cfg); r.code != ExitUsage || !strings.Contains(r.stderr, "listed twice") {
		t.Errorf("the same variant twice: exit %d %s", r.code, r.stderr)
	}
}

// Scoring passes are assessments: an incomplete one never moves or mixes a
// column, a complete one becomes the column, and every earlier verdict is
// still there (--assessment).
func TestScorePassesKeepEveryVerdict(t *testing.T) {
	gen, _ := sim.Start("127.0.0.1:0", sim.Options{Seed: 3})
	defer gen.Close()
	down, _ := sim.Start("127.0.0.1:0", sim.Options{FailRate: 1})
	defer down.Close()
	cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
prompts: {dir: prompts}
models: [openai:gpt-4.1-mini]
judge: openai:judge
providers:
  backup: {base_url: "${BACKUP_URL}", max_attempts: 1}
scorers:
  - {name: english, type: guidelines, guidelines: The answer should be in English.}
  - {name: defines, type: guidelines, guidelines: The answer quotes a definition.}
  - {name: enough_words, type: word_count, min: 11}
`})
	env := map[string]string{"OPENAI_BASE_URL": gen.URL, "OPENAI_API_KEY": "sk-test", "BACKUP_URL": down.URL}
	if r := run(t, nil, env, "run", "--config", cfg); r.code != ExitOK {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	before := readReport(t, env, "last", "--config", cfg)

	// A re-judging of english by a judge that is down: every verdict fails,
	// the pass is incomplete, and no column changes.
	r := run(t, nil, env, "score", "last", "--config", cfg, "--scorers", "english", "--judge", "backup:judge")
	if r.code != ExitIncomplete {
		t.Fatalf("score against a dead judge: exit %d %s", r.code, r.stderr)
	}
	if after := readReport(t, env, "last", "--config", cfg); !sameScores(before, after) {
		t.Errorf("an incomplete scoring pass changed the columns:\nbefore %+v\nafter  %+v", before, after)
	}
	// A complete re-judging of defines only: defines is the new pass's, the
	// other columns stay, and the run's own verdicts remain readable.
	healthy, _ := sim.Start("127.0.0.1:0", sim.Options{Seed: 99, QuoteAnswer: true})
	defer healthy.Close()
	env["BACKUP_URL"] = healthy.URL
	if r := run(t, nil, env, "score", "last", "--config", cfg, "--scorers", "defines", "--judge", "backup:judge2"); r.code != ExitOK {
		t.Fatalf("score: exit %d %s", r.code, r.stderr)
	}
	after := readReport(t, env, "last", "--config", cfg)
	for gi, g := range after.Groups {
		for si, s := range g.Scorers {
			was := before.Groups[gi].Scorers[si]
			if s.Name != was.Name {
				t.Fatalf("columns moved: %s where %s was", s.Name, was.Name)
			}
			if s.Name != "defines" && s != was {
				t.Errorf("%s changed without being scored again: %+v → %+v", s.Name, was, s)
			}
			if s.Pass+s.Fail+s.Errors != g.Cells {
				t.Errorf("%s counts %d verdicts for %d cells", s.Name, s.Pass+s.Fail+s.Errors, g.Cells)
			}
		}
	}
	if got := readReport(t, env, "last", "--config", cfg, "--assessment", "1"); !sameScores(before, got) {
		t.Errorf("the run's own verdicts were lost:\nbefore %+v\nnow    %+v", before, got)
	}
	show := run(t, nil, env, "runs", "show", "last", "--config", cfg)
	for _, want := range []string{"1  run", "2  score incomplete", "3  score complete", "defines, judge backup:judge2"} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("runs show lacks %q:\n%s", want, show.stdout)
		}
	}
	if g := run(t, nil, env, "gate", "last", "--config", cfg, "--assessment", "2", "--fail-under", "enough_words=0.5"); g.code != ExitGate || !strings.Contains(g.stderr, "assessment 2 of run") {
		t.Errorf("a gate on the incomplete assessment: exit %d %s", g.code, g.stderr)
	}
	if g := run(t, nil, env, "gate", "last", "--config", cfg, "--assessment", "3", "--fail-under", "defines=0"); g.code != ExitOK {
		t.Errorf("a gate on the complete assessment: exit %d %s", g.code, g.stderr)
	}
	if r := run(t, nil, env, "report", "last", "--config", cfg, "--assessment", "7"); r.code != ExitUsage || !strings.Contains(r.stderr, "no assessment 7") {
		t.Errorf("--assessment 7: exit %d %s", r.code, r.stderr)
	}
}

func sameScores(a, b reportJSON) bool {
	x, _ := json.Marshal(a.Groups)
	y, _ := json.Marshal(b.Groups)
	return string(x) == string(y)
}

// Editing the system prompt changes every variant that uses it: a resume
// is refused, naming the change.
func TestResumeRefusesAnEditedSystemPrompt(t *testing.T) {
	flaky, _ := sim.Start("127.0.0.1:0", sim.Options{FailRate: 1})
	defer flaky.Close()
	cfg := project(t, map[string]string{"evalctl.yaml": "dataset: questions.csv\nprompts: {dir: prompts, use: [basic]}\nmodels: [openai:m]\nproviders:\n  openai: {max_attempts: 1}\n"})
	env := map[string]string{"OPENAI_BASE_URL": flaky.URL, "OPENAI_API_KEY": "sk-test"}
	if r := run(t, nil, env, "run", "--config", cfg); r.code != ExitIncomplete {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	os.WriteFile(filepath.Join(filepath.Dir(cfg), "prompts", "system.txt"), []byte("You are a terse professor."), 0o644)
	r := run(t, nil, env, "run", "--resume", "last", "--config", cfg)
	if r.code != ExitUsage || !regexp.MustCompile(`system prompt system was @[0-9a-f]{8} and is now system@[0-9a-f]{8}`).MatchString(r.stderr) {
		t.Errorf("resume after editing system.txt: exit %d %s", r.code, r.stderr)
	}
}

// A store that cannot be read stops a resume: it does not ask again (and
// pay for) every cell it could not read. Exit 4: an error after spending.
func TestResumeStopsOnAStoreReadError(t *testing.T) {
	flaky, _ := sim.Start("127.0.0.1:0", sim.Options{FailRate: 0.5, Seed: 8})
	defer flaky.Close()
	cfg := project(t, map[string]string{"evalctl.yaml": "dataset: questions.csv\nprompts: {dir: prompts, use: [basic, concise]}\nmodels: [openai:m]\nproviders:\n  openai: {max_attempts: 1}\n"})
	env := map[string]string{"OPENAI_BASE_URL": flaky.URL, "OPENAI_API_KEY": "sk-test"}
	if r := run(t, nil, env, "run", "--config", cfg); r.code != ExitIncomplete {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	db, err := sql.Open("sqlite", filepath.Join(filepath.Dir(cfg), ".evalctl", "evalctl.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE cells SET variant = 'garbled' WHERE idx = 0`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	healthy, _ := sim.Start("127.0.0.1:0", sim.Options{})
	defer healthy.Close()
	env["OPENAI_BASE_URL"] = healthy.URL
	r := run(t, nil, env, "run", "--resume", "last", "--config", cfg)
	if r.code != ExitInternal || !strings.Contains(r.stderr, "reading its stored cells") {
		t.Errorf("resume over an unreadable store: exit %d %s", r.code, r.stderr)
	}
	if n := healthy.Stats().Requests; n != 0 {
		t.Errorf("the resume asked %d times", n)
	}
}

// The README's extension story: a team builds its own binary with Go
// scorers (cli.WithScorers) and names them in evalctl.yaml. A scorer that
// panics costs its verdicts (scorer errors), not the run.
func TestCustomBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "custom")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/custombin").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := project(t, map[string]string{"evalctl.yaml": "dataset: questions.csv\nprompts: {dir: prompts, use: [basic]}\nmodels: [sim:a]\nscorers:\n  - {type: no_apology}\n  - {type: fragile}\n"})
	cmd := exec.Command(bin, "run", "--config", cfg, "--max-error-rate", "1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("custom binary: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "no_apology") || !strings.Contains(stdout.String(), "2 scorer errors") {
		t.Errorf("table:\n%s%s", stdout.String(), stderr.String())
	}
	db, err := sql.Open("sqlite", filepath.Join(filepath.Dir(cfg), ".evalctl", "evalctl.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.QueryRow(`SELECT count(*) FROM feedback WHERE scorer = 'fragile' AND error LIKE 'scorer fragile panicked%'`).Scan(&n)
	if n != 2 {
		t.Errorf("%d fragile verdicts say the scorer panicked, want 2", n)
	}
}
