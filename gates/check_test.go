package gates

import (
	"strings"
	"testing"

	"github.com/evalctl/evalctl/gates/spec"
	"github.com/evalctl/evalctl/reports"
)

func f(v float64) *float64 { return &v }

func comparison() *reports.Comparison {
	return &reports.Comparison{Scorers: []string{"english", "length"}, Groups: []*reports.Group{
		{Prompt: "basic", Model: "sim:a", Cells: 10, Scorers: []reports.ScorerStat{{Name: "english", Pass: 9, Fail: 1}, {Name: "length", Sum: 50, N: 10}}},
		{Prompt: "basic", Model: "sim:b", Cells: 10, GenErrors: 2, Scorers: []reports.ScorerStat{{Name: "english", Pass: 6, Fail: 2, Errors: 0}, {Name: "length", Sum: 80, N: 8}}},
	}}
}

func TestCheck(t *testing.T) {
	c := comparison()
	tests := []struct {
		gates []spec.Gate
		want  []string
	}{
		{[]spec.Gate{{Scorer: "english", Min: f(0.8)}}, []string{"gate english ≥ 0.8 failed for basic × sim:b: pass rate 0.75 (6/8) < 0.8"}},
		{[]spec.Gate{{Scorer: "english", Min: f(0.8), Model: "sim:a"}}, nil},
		{[]spec.Gate{{Scorer: "english", Min: f(0)}}, nil},
		{[]spec.Gate{{Scorer: "length", Min: f(6)}}, []string{"for basic × sim:a: mean 5 over 10 < 6"}},
		{[]spec.Gate{{Scorer: "overall", Min: f(0.8)}}, []string{"for basic × sim:b: overall pass rate 0.75 (6/8) < 0.8"}},
		// 2 generation errors of 20 cells + 18 × 2 scores = 56 calls: 3.57%.
		{[]spec.Gate{{MaxErrorRate: f(0.01)}}, []string{"gate error rate ≤ 0.01 failed: 2 of 20 generation calls failed (10.0%), above max_error_rate 1.0%"}},
		// A gate that applies to no variant fails rather than pass in silence.
		{[]spec.Gate{{Scorer: "english", Min: f(0.5), Prompt: "concise"}}, []string{"no variant of the run matches it"}},
		{[]spec.Gate{{Scorer: "english", Min: f(0.5), Prompt: "basic", Model: "sim:c"}}, []string{"no variant of the run matches it"}},
	}
	for _, tc := range tests {
		got := Check(tc.gates, c, nil)
		if len(got) != len(tc.want) {
			t.Errorf("%v: %d failures %v, want %d", tc.gates[0], len(got), got, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(got[i].String(), w) {
				t.Errorf("failure %q lacks %q", got[i], w)
			}
		}
	}
}

func TestCheckDrops(t *testing.T) {
	rc := &reports.RunComparison{Differences: []reports.Difference{
		{Prompt: "basic", Model: "sim:a", Scorer: "english", Kind: "pass", A: 0.9, B: 0.8, Pairs: 100, Delta: -0.1, Lo: -0.16, Hi: -0.04, P: 0.002, Significant: true},
		{Prompt: "basic", Model: "sim:a", Scorer: "short", Kind: "pass", A: 0.5, B: 0.52, Pairs: 100, Delta: 0.02, Lo: -0.05, Hi: 0.09, P: 0.8},
	}}
	got := Check([]spec.Gate{{Scorer: "english", MaxDrop: f(0.05)}}, nil, rc)
	if len(got) != 1 || !strings.Contains(got[0].String(), "english fell 10.0 points (90.0% → 80.0%, 95% CI of the change [-16.0, -4.0], 100 pairs, significant: McNemar p=0.002), more than 5.0 points") {
		t.Errorf("%v", got)
	}
	if got := Check([]spec.Gate{{Scorer: "english", MaxDrop: f(0.1)}}, nil, rc); len(got) != 0 {
		t.Errorf("a drop equal to the limit passes: %v", got)
	}
	if got := Check([]spec.Gate{{Scorer: "overall", NoSignificantDrop: true}}, nil, rc); len(got) != 1 || got[0].Prompt != "basic" {
		t.Errorf("%v", got)
	}
	// Pooled: (0.9·100 + 0.5·100)/200 = 0.70 → (0.8·100 + 0.52·100)/200 = 0.66: a 4-point drop.
	if got := Check([]spec.Gate{{Scorer: "overall", MaxDrop: f(0.03)}}, nil, rc); len(got) != 1 || !strings.Contains(got[0].Detail, "fell 4.0 points (70.0% → 66.0%)") {
		t.Errorf("%v", got)
	}
	if got := Check([]spec.Gate{{Scorer: "overall", MaxDrop: f(0.05)}}, nil, rc); len(got) != 0 {
		t.Errorf("%v", got)
	}
	// Nothing paired with the baseline: the regression gates fail, saying so.
	for _, g := range []spec.Gate{{Scorer: "overall", MaxDrop: f(0.05)}, {Scorer: "english", NoSignificantDrop: true, Prompt: "concise"}} {
		if got := Check([]spec.Gate{g}, nil, &reports.RunComparison{}); len(got) != 1 || !strings.Contains(got[0].Detail, "nothing to compare") {
			t.Errorf("%v against no pairs: %v", g, got)
		}
	}
}

func TestMaxCost(t *testing.T) {
	c := comparison()
	if got := Check([]spec.Gate{{MaxCost: f(1)}}, c, nil); len(got) != 1 || !strings.Contains(got[0].Detail, "cannot tell") {
		t.Errorf("unpriced: %v", got)
	}
	for _, g := range c.Groups {
		g.Priced, g.Cost, g.JudgeCost = true, 0.30, 0.05
	}
	if got := Check([]spec.Gate{{MaxCost: f(0.5)}}, c, nil); len(got) != 1 || got[0].String() != "gate cost ≤ $0.5 failed: the run cost $0.7000" {
		t.Errorf("over budget: %v", got)
	}
	if got := Check([]spec.Gate{{MaxCost: f(0.7)}}, c, nil); len(got) != 0 {
		t.Errorf("at budget: %v", got)
	}
	if err := (spec.Gate{MaxCost: f(1), Scorer: "english"}).Validate(spec.Plan{Scorers: []string{"english"}}); err == nil {
		t.Error("max_cost with a scorer accepted")
	}
}
