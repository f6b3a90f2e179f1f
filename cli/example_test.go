package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestSeedExampleEndToEnd is the foundation's acceptance run: the worked
// example, all 384 questions × 4 prompts × 2 simulated models, every scorer.
func TestSeedExampleEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("full example run")
	}
	cfg := filepath.Join("..", "examples", "se-quiz", "evalctl.yaml")
	out := t.TempDir()
	// The example simulates ~20 ms answers; the test checks counts, never time.
	r := run(t, nil, nil, "run", "--config", cfg, "--models", "sim:a,sim:b", "--judge", "sim:judge",
		"--prompts", "basic,academic,concise,practical", "--out", out, "-j", "32")
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	rows := 0
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, "│ sim:") {
			rows++
		}
	}
	if rows != 8 {
		t.Errorf("table has %d prompt × model rows, want 8:\n%s", rows, r.stdout)
	}
	if !strings.Contains(r.stdout, "3072 of 3072 cells") {
		t.Errorf("table footer: %s", r.stdout)
	}
	answers := readCSV(t, filepath.Join(out, "answers.csv"))
	if len(answers)-1 != 3072 {
		t.Fatalf("answers.csv: %d cells", len(answers)-1)
	}
	errored := 0
	for _, rec := range answers[1:] {
		if rec[14] != "" {
			errored++
		}
	}
	feedback := readCSV(t, filepath.Join(out, "feedback.csv"))
	if want := (3072 - errored) * 7; len(feedback)-1 != want {
		t.Errorf("feedback.csv: %d rows, want %d (7 scorers × %d answered cells)", len(feedback)-1, want, 3072-errored)
	}
	perScorer := map[string]int{}
	for _, rec := range feedback[1:] {
		perScorer[rec[5]]++
	}
	for _, s := range []string{"english", "software_engineering_related", "reference_to_definition", "relevance_to_query", "enough_words", "not_too_many_words", "correctness"} {
		if perScorer[s] != 3072-errored {
			t.Errorf("scorer %s: %d feedback rows", s, perScorer[s])
		}
	}
}

// TestSeedAgentExample runs the example's agent half offline: the seed's
// basic prompt without tools and as an agent with the web-search MCP
// server, every trajectory scorer and the trajectory judge.
func TestSeedAgentExample(t *testing.T) {
	cfg := filepath.Join("..", "examples", "se-quiz", "agent.yaml")
	st := filepath.Join(t.TempDir(), "s.db")
	r := run(t, nil, nil, "run", "--config", cfg, "--limit", "40", "--store", st)
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "80 of 80 cells") || !strings.Contains(r.stdout, "tool calls") {
		t.Errorf("table:\n%s", r.stdout)
	}
	j := run(t, nil, nil, "report", "--store", st, "--format", "json")
	var rep struct {
		Groups []struct {
			Label string `json:"label"`
			Rates []struct {
				Scorer string   `json:"name"`
				Rate   *float64 `json:"pass_rate"`
			} `json:"scorers"`
			Agent struct {
				ToolCalls int `json:"tool_calls"`
			} `json:"agent"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(j.stdout), &rep); err != nil {
		t.Fatalf("report.json: %v\n%s", err, j.stdout)
	}
	rate := map[string]map[string]float64{}
	for _, g := range rep.Groups {
		rate[g.Label] = map[string]float64{}
		for _, s := range g.Rates {
			if s.Rate != nil {
				rate[g.Label][s.Scorer] = *s.Rate
			}
		}
	}
	for _, sc := range []string{"cites_sources", "one_search", "searched"} {
		if rate["plain"][sc] == rate["agent"][sc] {
			t.Errorf("%s: plain %v, agent %v: the variants should differ", sc, rate["plain"][sc], rate["agent"][sc])
		}
	}
	// Every agent cell's trace shows its tool calls with arguments and results.
	tr := run(t, nil, nil, "trace", "--store", st, "latest", "1", "--json")
	if tr.code != 0 || !strings.Contains(tr.stdout, `"kind": "generation"`) {
		t.Errorf("trace: exit %d\n%s%s", tr.code, tr.stdout, tr.stderr)
	}
}
