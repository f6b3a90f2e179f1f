package cli

import (
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
