package spec

import (
	"math"
	"strings"
	"testing"
)

func f(v float64) *float64 { return &v }

func TestParse(t *testing.T) {
	tests := []struct {
		in                    string
		scorer, prompt, model string
		min                   float64
		err                   string
	}{
		{in: "english=0.95", scorer: "english", min: 0.95},
		{in: "overall@basic/openai:gpt-4.1=0.8", scorer: "overall", prompt: "basic", model: "openai:gpt-4.1", min: 0.8},
		{in: "english/sim:a=1", scorer: "english", model: "sim:a", min: 1},
		{in: "english", err: "want SCORER=MIN"},
		{in: "english=high", err: `"high" is not a number`},
		{in: "english=NaN", err: `"NaN" is not a number`},
		{in: "english=0", scorer: "english", min: 0},
		{in: "english=1.5", err: `--fail-under "english=1.5": MIN 1.5 is not between 0 and 1 (a pass rate, or a mean of scores from 0 to 1)`},
		{in: "english=-0.1", err: `MIN -0.1 is not between 0 and 1`},
		{in: "english=+Inf", err: `MIN +Inf is not between 0 and 1`},
		{in: "english=95", err: `MIN 95 is not between 0 and 1`},
	}
	for _, tc := range tests {
		g, err := ParseFailUnder(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v", tc.in, err)
			}
			continue
		}
		if err != nil || g.Scorer != tc.scorer || g.Prompt != tc.prompt || g.Model != tc.model || *g.Min != tc.min {
			t.Errorf("%q: %+v %v", tc.in, g, err)
		}
	}
}

func TestParseMaxDrop(t *testing.T) {
	if g, err := ParseMaxDrop("overall=0.05"); err != nil || *g.MaxDrop != 0.05 || g.Scorer != "overall" {
		t.Errorf("%+v %v", g, err)
	}
	for in, want := range map[string]string{
		"overall=1.5":   `--max-drop "overall=1.5": DROP 1.5 is not between 0 and 1 (0.05 is 5 points)`,
		"overall=-0.05": `--max-drop "overall=-0.05": DROP -0.05 is not between 0 and 1`,
		"overall=5":     `DROP 5 is not between 0 and 1`,
		"overall=nan":   `"nan" is not a number`,
	} {
		if _, err := ParseMaxDrop(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// Thresholds out of range, NaN or infinite are refused by Check, on their
// own, as a config line or a flag is read.
func TestCheckThresholds(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		g   Gate
		err string
	}{
		{Gate{Scorer: "english", Min: f(0)}, ""},
		{Gate{Scorer: "english", Min: f(1)}, ""},
		{Gate{MaxCost: f(0)}, ""},
		{Gate{Scorer: "english", MaxDrop: f(1), RequireJudgeKappa: f(-1)}, ""},
		{Gate{Scorer: "english", Min: f(1.5)}, "min 1.5 is not between 0 and 1"},
		{Gate{Scorer: "english", Min: f(-0.2)}, "min -0.2 is not between 0 and 1"},
		{Gate{Scorer: "english", Min: f(nan)}, "min NaN is not between 0 and 1"},
		{Gate{Scorer: "english", Min: f(inf)}, "min +Inf is not between 0 and 1"},
		{Gate{MaxErrorRate: f(nan)}, "max_error_rate NaN is not between 0 and 1"},
		{Gate{MaxErrorRate: f(-0.01)}, "max_error_rate -0.01 is not between 0 and 1"},
		{Gate{Scorer: "overall", MaxDrop: f(1.5)}, "max_drop 1.5 is not between 0 and 1"},
		{Gate{Scorer: "overall", MaxDrop: f(nan)}, "max_drop NaN is not between 0 and 1"},
		{Gate{MaxCost: f(-1)}, "max_cost -1 is not a cost in USD (0 or more)"},
		{Gate{MaxCost: f(nan)}, "max_cost NaN is not a cost in USD (0 or more)"},
		{Gate{MaxCost: f(inf)}, "max_cost +Inf is not a cost in USD (0 or more)"},
		{Gate{Scorer: "english", Min: f(0.8), RequireJudgeKappa: f(1.2)}, "require_judge_kappa 1.2 is not between -1 and 1"},
		{Gate{Scorer: "english", Min: f(0.8), RequireJudgeKappa: f(nan)}, "require_judge_kappa NaN is not between -1 and 1"},
		{Gate{Min: f(0.9)}, `name a scorer (or "overall")`},
	}
	for _, tc := range tests {
		err := tc.g.Check()
		if (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("%v: %v, want %q", tc.g, err, tc.err)
		}
		// Validate says the same, where the gate was written.
		tc.g.Source = "evalctl.yaml:7"
		verr := tc.g.Validate(Plan{Scorers: []string{"english"}})
		if tc.err != "" && (verr == nil || verr.Error() != "evalctl.yaml:7: "+tc.err) {
			t.Errorf("Validate %v: %v", tc.g, verr)
		}
	}
}

func TestValidate(t *testing.T) {
	p := Plan{Scorers: []string{"english", "length"}, Prompts: []string{"basic"}, Models: []string{"sim:a"}}
	tests := []struct {
		g   Gate
		err string
	}{
		{Gate{Scorer: "english", Min: f(0.9)}, ""},
		{Gate{Scorer: "overall", MaxDrop: f(0.05)}, ""},
		{Gate{MaxErrorRate: f(0.01)}, ""},
		{Gate{Scorer: "englsh", Min: f(0.9), Source: "evalctl.yaml:12"}, `evalctl.yaml:12: no scorer "englsh" in this run (scorers: english, length, or overall)`},
		{Gate{Scorer: "english", Prompt: "academic", Min: f(0.9)}, `no prompt "academic"`},
		{Gate{Scorer: "english", Model: "sim:b", Min: f(0.9)}, `no model "sim:b"`},
		{Gate{Scorer: "english"}, "exactly one of"},
		{Gate{Scorer: "english", Min: f(0.9), MaxDrop: f(0.1)}, "exactly one of"},
		{Gate{Min: f(0.9)}, "name a scorer"},
		{Gate{Scorer: "english", MaxErrorRate: f(0.1)}, "applies to the whole run"},
		{Gate{MaxErrorRate: f(2)}, "not between 0 and 1"},
	}
	for _, tc := range tests {
		err := tc.g.Validate(p)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: %v, want %q", tc.g, err, tc.err)
		}
	}
}
