package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/store"
)

// Pairwise on the simulator: every candidate answer is judged against the
// baseline prompt's answer in both orders, both are in the store, and the
// report gives the position bias. A scorer asked of two judge models three
// times each stores its six votes and the reports give the judges' kappa.
func TestPairwiseAndSeveralJudgesOnSimulator(t *testing.T) {
	cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
prompts: {dir: prompts, use: [basic, concise]}
models: [sim:a, sim:b]
judge: sim:judge
scorers:
  - name: concise_vs_basic
    type: pairwise
    baseline: {prompt: basic}
  - name: english
    type: guidelines
    guidelines: The answer should be in English.
    judges: [sim:judge-1, sim:judge-2]
    samples: 3
`})
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	out := filepath.Join(dir, "out")
	r := run(t, nil, nil, "run", "--config", cfg, "--store", db, "--out", out)
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "Pairwise concise_vs_basic: position bias") || !strings.Contains(r.stdout, "Judges of english (sim:judge-1, sim:judge-2) agree") {
		t.Errorf("the table lacks the judge notes:\n%s", r.stdout)
	}
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	stored, _ := st.Run(ctx, "last")
	pairs := 0
	err = st.EachRecord(ctx, stored, true, func(res eval.Record) error {
		for _, fb := range res.Feedback {
			switch fb.Scorer {
			case "concise_vs_basic":
				if res.Variant.Prompt.Name == "basic" {
					if !fb.Skipped {
						t.Errorf("a baseline answer was judged against itself: %+v", fb)
					}
					continue
				}
				orders := map[string]int{}
				for _, v := range fb.Votes {
					orders[v.Order]++
				}
				if orders["AB"] != 1 || orders["BA"] != 1 || fb.Agreement == nil {
					t.Errorf("row %s: votes %+v", res.RowID, fb.Votes)
				}
				if v := fb.Value; v != "win" && v != "loss" && v != "tie" {
					t.Errorf("pairwise value %v", v)
				}
				pairs++
			case "english":
				if len(fb.Votes) != 6 || fb.Agreement == nil {
					t.Errorf("english: %d votes, agreement %v", len(fb.Votes), fb.Agreement)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pairs != 4 { // 2 rows × 2 models, concise against basic
		t.Errorf("%d pairs judged, want 4", pairs)
	}
	var rep struct {
		PositionBias []struct {
			Scorer string `json:"scorer"`
			Pairs  int    `json:"pairs"`
		} `json:"position_bias"`
		JudgeAgreement []struct {
			Scorer  string `json:"scorer"`
			Answers int    `json:"answers"`
		} `json:"judge_agreement"`
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.PositionBias) != 1 || rep.PositionBias[0].Pairs != 4 ||
		len(rep.JudgeAgreement) != 1 || rep.JudgeAgreement[0].Answers != 8 {
		t.Errorf("report.json: %+v %v", rep, err)
	}
}
