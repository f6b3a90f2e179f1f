package spec

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Overall names the pooled pass rate of every pass/fail scorer.
const Overall = "overall"

// Gate is one condition a run must meet.
type Gate struct {
	// Scorer is a scorer name or "overall"; empty for error-rate gates.
	Scorer string `yaml:"scorer"`
	// Prompt and Model restrict the gate to matching groups (empty: all).
	Prompt string `yaml:"prompt"`
	Model  string `yaml:"model"`
	// Min is the lowest pass rate (or mean, for numeric scorers) allowed in
	// every matching prompt × model.
	Min *float64 `yaml:"min"`
	// MaxErrorRate caps the share of generation errors among the cells, and
	// of verdict errors among the verdicts, each apart (eval.Errors): the
	// same definition as a run's own max_error_rate.
	MaxErrorRate *float64 `yaml:"max_error_rate"`
	// MaxDrop is the largest fall from the baseline allowed (0.05 = 5 points).
	MaxDrop *float64 `yaml:"max_drop"`
	// NoSignificantDrop fails on a drop that is significant (p < 0.05, paired).
	NoSignificantDrop bool `yaml:"no_significant_drop"`
	// MaxCost caps the run's cost in USD (generation and judges).
	MaxCost *float64 `yaml:"max_cost"`
	// RequireJudgeKappa refuses to gate on the scorer unless its judge
	// agrees with human labels (labels: in evalctl.yaml, or --labels) at
	// least this well (Cohen's kappa, on this run's labelled answers).
	RequireJudgeKappa *float64 `yaml:"require_judge_kappa"`

	// Source says where the gate was written, for messages.
	Source string `yaml:"-"`
}

// String renders the gate as a person would write it.
func (g Gate) String() string {
	target := g.Scorer
	if g.Prompt != "" || g.Model != "" {
		var f []string
		if g.Prompt != "" {
			f = append(f, "prompt "+g.Prompt)
		}
		if g.Model != "" {
			f = append(f, "model "+g.Model)
		}
		target += " (" + strings.Join(f, ", ") + ")"
	}
	switch {
	case g.Min != nil:
		return fmt.Sprintf("%s ≥ %s", target, num(*g.Min)) + g.kappaText()
	case g.MaxErrorRate != nil:
		return fmt.Sprintf("error rate ≤ %s", num(*g.MaxErrorRate))
	case g.MaxCost != nil:
		return fmt.Sprintf("cost ≤ $%s", num(*g.MaxCost))
	case g.MaxDrop != nil:
		return fmt.Sprintf("%s drop from baseline ≤ %s", target, num(*g.MaxDrop)) + g.kappaText()
	case g.NoSignificantDrop:
		return fmt.Sprintf("%s: no significant drop from baseline", target) + g.kappaText()
	}
	return target
}

func (g Gate) kappaText() string {
	if g.RequireJudgeKappa == nil {
		return ""
	}
	return fmt.Sprintf(" (if its judge agrees with people at κ ≥ %s)", num(*g.RequireJudgeKappa))
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// NeedsBaseline reports whether the gate compares against a baseline.
func (g Gate) NeedsBaseline() bool { return g.MaxDrop != nil || g.NoSignificantDrop }

// ParseFailUnder parses a --fail-under value: SCORER=MIN, where SCORER may be
// followed by @PROMPT and/or /MODEL ("english@basic=0.9", "overall/openai:gpt-4.1=0.8").
func ParseFailUnder(s string) (Gate, error) {
	target, v, ok := strings.Cut(s, "=")
	if !ok {
		return Gate{}, fmt.Errorf("--fail-under %q: want SCORER=MIN, e.g. english=0.95", s)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) {
		return Gate{}, fmt.Errorf("--fail-under %q: %q is not a number", s, v)
	}
	if err := between("MIN", &f, 0, 1); err != nil {
		return Gate{}, fmt.Errorf("--fail-under %q: %v (a pass rate, or a mean of scores from 0 to 1)", s, err)
	}
	g := Gate{Min: &f, Source: "--fail-under " + s}
	g.Scorer, g.Prompt, g.Model = splitTarget(strings.TrimSpace(target))
	return g, nil
}

// ParseMaxDrop parses a --max-drop value: SCORER=DROP (with the same target
// syntax as --fail-under).
func ParseMaxDrop(s string) (Gate, error) {
	target, v, ok := strings.Cut(s, "=")
	if !ok {
		return Gate{}, fmt.Errorf("--max-drop %q: want SCORER=DROP, e.g. overall=0.05", s)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) {
		return Gate{}, fmt.Errorf("--max-drop %q: %q is not a number", s, v)
	}
	if err := between("DROP", &f, 0, 1); err != nil {
		return Gate{}, fmt.Errorf("--max-drop %q: %v (0.05 is 5 points)", s, err)
	}
	g := Gate{MaxDrop: &f, Source: "--max-drop " + s}
	g.Scorer, g.Prompt, g.Model = splitTarget(strings.TrimSpace(target))
	return g, nil
}

// SplitTarget splits "SCORER[@PROMPT][/MODEL]".
func SplitTarget(t string) (scorer, prompt, model string) { return splitTarget(t) }

func splitTarget(t string) (scorer, prompt, model string) {
	if i := strings.Index(t, "/"); i >= 0 {
		t, model = t[:i], t[i+1:]
	}
	scorer, prompt, _ = strings.Cut(t, "@")
	return scorer, prompt, model
}

// Plan is what gates are checked against before a run.
type Plan struct {
	Scorers []string
	Prompts []string
	Models  []string
}

// Check checks a gate on its own, as it is read from a config line or a
// flag: it sets exactly one condition, in the scope that condition has, and
// every threshold is a finite number in its range: min, max_error_rate and
// max_drop from 0 to 1 (rates, or means of scores from 0 to 1),
// require_judge_kappa from -1 to 1, max_cost 0 or more.
func (g Gate) Check() error {
	n := 0
	for _, set := range []bool{g.Min != nil, g.MaxErrorRate != nil, g.MaxDrop != nil, g.NoSignificantDrop, g.MaxCost != nil} {
		if set {
			n++
		}
	}
	whole := g.MaxCost != nil || g.MaxErrorRate != nil
	switch {
	case n != 1:
		return errors.New("a gate sets exactly one of min, max_error_rate, max_cost, max_drop or no_significant_drop")
	case whole && g.RequireJudgeKappa != nil:
		return errors.New("require_judge_kappa goes with a scorer's gate (min, max_drop or no_significant_drop)")
	case g.MaxCost != nil && (g.Scorer != "" || g.Prompt != "" || g.Model != ""):
		return errors.New("max_cost applies to the whole run: drop scorer, prompt and model")
	case g.MaxErrorRate != nil && (g.Scorer != "" || g.Prompt != "" || g.Model != ""):
		return errors.New("max_error_rate applies to the whole run: drop scorer, prompt and model")
	case !whole && g.Scorer == "":
		return fmt.Errorf("name a scorer (or %q)", Overall)
	case g.RequireJudgeKappa != nil && g.Scorer == Overall:
		return fmt.Errorf("require_judge_kappa applies to one judge scorer: name it instead of %s", Overall)
	}
	if c := g.MaxCost; c != nil && !(*c >= 0 && !math.IsInf(*c, 1)) {
		return fmt.Errorf("max_cost %s is not a cost in USD (0 or more)", num(*c))
	}
	for _, t := range []struct {
		name   string
		v      *float64
		lo, hi float64
	}{{"min", g.Min, 0, 1}, {"max_error_rate", g.MaxErrorRate, 0, 1}, {"max_drop", g.MaxDrop, 0, 1}, {"require_judge_kappa", g.RequireJudgeKappa, -1, 1}} {
		if err := between(t.name, t.v, t.lo, t.hi); err != nil {
			return err
		}
	}
	return nil
}

// between refuses v outside [lo, hi], NaN included.
func between(name string, v *float64, lo, hi float64) error {
	if v != nil && !(*v >= lo && *v <= hi) {
		return fmt.Errorf("%s %s is not between %s and %s", name, num(*v), num(lo), num(hi))
	}
	return nil
}

// Validate checks a gate's form (Check) and that it names things the plan has.
func (g Gate) Validate(p Plan) error {
	where := g.Source
	if where != "" {
		where += ": "
	}
	if err := g.Check(); err != nil {
		return fmt.Errorf("%s%w", where, err)
	}
	switch {
	case g.MaxCost != nil || g.MaxErrorRate != nil:
		return nil
	case g.Scorer != Overall && !slices.Contains(p.Scorers, g.Scorer):
		return fmt.Errorf("%sno scorer %q in this run (scorers: %s, or %s)", where, g.Scorer, strings.Join(p.Scorers, ", "), Overall)
	case g.Prompt != "" && !slices.Contains(p.Prompts, g.Prompt):
		return fmt.Errorf("%sno prompt %q in this run (prompts: %s)", where, g.Prompt, strings.Join(p.Prompts, ", "))
	case g.Model != "" && !slices.Contains(p.Models, g.Model):
		return fmt.Errorf("%sno model %q in this run (models: %s)", where, g.Model, strings.Join(p.Models, ", "))
	}
	return nil
}
