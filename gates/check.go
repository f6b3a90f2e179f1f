package gates

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/gates/spec"
	"github.com/evalctl/evalctl/reports"
)

// Failure is a gate that did not hold for one prompt × model (or the run).
type Failure struct {
	Gate   spec.Gate
	Prompt string
	Model  string
	// Detail states the measured value against the threshold.
	Detail string
}

func (f Failure) String() string {
	where := ""
	if f.Prompt != "" {
		where = " for " + f.Prompt + " × " + f.Model
	}
	return fmt.Sprintf("gate %s failed%s: %s", f.Gate, where, f.Detail)
}

// Check evaluates gates on a run's comparison; rc is the paired comparison
// against the baseline (nil when there is none). It returns the failures.
func Check(gates []spec.Gate, c *reports.Comparison, rc *reports.RunComparison) []Failure {
	var out []Failure
	for _, g := range gates {
		switch {
		case g.MaxErrorRate != nil:
			cells, genErr, scErr := c.Totals()
			if over := eval.ErrorsOf(cells, genErr, scErr, len(c.Scorers)).Over(*g.MaxErrorRate); over != "" {
				out = append(out, Failure{Gate: g, Detail: over})
			}
		case g.MaxCost != nil:
			total, all := c.TotalCost()
			switch {
			case !all:
				out = append(out, Failure{Gate: g, Detail: "cannot tell: a model or judge of the run has no price (add it under prices: in evalctl.yaml)"})
			case total > *g.MaxCost:
				out = append(out, Failure{Gate: g, Detail: fmt.Sprintf("the run cost $%.4f", total)})
			}
		case g.Min != nil:
			matched := 0
			for _, grp := range c.Groups {
				if !matches(g, grp.Model, grp.Prompt, grp.Label, grp.Variant) {
					continue
				}
				matched++
				where := groupName(grp)
				v, desc, ok := measure(grp, g.Scorer)
				if !ok {
					out = append(out, Failure{Gate: g, Prompt: where, Model: grp.Model, Detail: "no decided outcomes to measure"})
					continue
				}
				if v < *g.Min {
					out = append(out, Failure{Gate: g, Prompt: where, Model: grp.Model, Detail: fmt.Sprintf("%s < %s", desc, num(*g.Min))})
				}
			}
			if matched == 0 {
				// A gate that applies to nothing must not pass in silence.
				out = append(out, Failure{Gate: g, Detail: "no variant of the run matches it"})
			}
		case g.NeedsBaseline():
			if rc == nil {
				continue // validated earlier: a baseline is required
			}
			fs, compared := checkDrop(g, rc)
			out = append(out, fs...)
			if !compared {
				out = append(out, Failure{Gate: g, Detail: "nothing to compare: no variant × scorer it names is in both this run and the baseline (with decided outcomes)"})
			}
		}
	}
	return out
}

// matches reports whether a gate applies to a variant: its @target names
// the variant's prompt, label or ID, and its /model the model.
func matches(g spec.Gate, model string, names ...string) bool {
	return (g.Prompt == "" || slices.Contains(names, g.Prompt)) && (g.Model == "" || g.Model == model)
}

// measure returns a group's value for a scorer (or overall), with a description.
func measure(grp *reports.Group, scorer string) (float64, string, bool) {
	if scorer == spec.Overall {
		pass, n := 0, 0
		for _, s := range grp.Scorers {
			pass += s.Pass
			n += s.Pass + s.Fail
		}
		if n == 0 {
			return 0, "", false
		}
		v := float64(pass) / float64(n)
		return v, fmt.Sprintf("overall pass rate %.4g (%d/%d)", v, pass, n), true
	}
	for _, s := range grp.Scorers {
		if s.Name != scorer {
			continue
		}
		if r, ok := s.PassRate(); ok {
			return r, fmt.Sprintf("pass rate %.4g (%d/%d)", r, s.Pass, s.Pass+s.Fail), true
		}
		if m, ok := s.Mean(); ok {
			return m, fmt.Sprintf("mean %.4g over %d", m, s.N), true
		}
	}
	return 0, "", false
}

// checkDrop evaluates a regression gate on the paired differences; compared
// is false when it applied to none.
func checkDrop(g spec.Gate, rc *reports.RunComparison) (out []Failure, compared bool) {
	type agg struct{ a, b, n float64 }
	if g.Scorer == spec.Overall {
		// Pool the pass/fail scorers of each variant.
		pooled := map[[2]string]*agg{}
		var order [][2]string
		for _, d := range rc.Differences {
			if d.Kind != "pass" || !matches(g, d.Model, d.Prompt, d.Label, d.Variant) || (d.Pairs == 0 && !d.Unpaired) {
				continue
			}
			compared = true
			k := [2]string{diffName(d), d.Model}
			if pooled[k] == nil {
				pooled[k] = &agg{}
				order = append(order, k)
			}
			p := pooled[k]
			p.a += d.A * float64(d.Pairs)
			p.b += d.B * float64(d.Pairs)
			p.n += float64(d.Pairs)
		}
		for _, k := range order {
			p := pooled[k]
			drop := (p.a - p.b) / p.n
			if g.MaxDrop != nil && drop > *g.MaxDrop+1e-12 {
				out = append(out, Failure{Gate: g, Prompt: k[0], Model: k[1],
					Detail: fmt.Sprintf("overall pass rate fell %.1f points (%.1f%% → %.1f%%), more than %.1f", 100*drop, 100*p.a/p.n, 100*p.b/p.n, 100**g.MaxDrop)})
			}
		}
		if g.NoSignificantDrop {
			for _, d := range rc.Differences {
				if matches(g, d.Model, d.Prompt, d.Label, d.Variant) && d.Significant && d.Delta < 0 {
					out = append(out, Failure{Gate: g, Prompt: diffName(d), Model: d.Model, Detail: dropDetail(d)})
				}
			}
		}
		return out, compared
	}
	for _, d := range rc.Differences {
		if d.Scorer != g.Scorer || !matches(g, d.Model, d.Prompt, d.Label, d.Variant) || (d.Pairs == 0 && !d.Unpaired) {
			continue
		}
		compared = true
		drop := d.A - d.B
		if g.MaxDrop != nil && drop > *g.MaxDrop+1e-12 {
			out = append(out, Failure{Gate: g, Prompt: diffName(d), Model: d.Model, Detail: dropDetail(d) + fmt.Sprintf(", more than %.1f points", 100**g.MaxDrop)})
		}
		if g.NoSignificantDrop && d.Significant && d.Delta < 0 {
			out = append(out, Failure{Gate: g, Prompt: diffName(d), Model: d.Model, Detail: dropDetail(d)})
		}
	}
	return out, compared
}

// groupName names a variant in a failure: its label, else its prompt
// version.
func groupName(g *reports.Group) string {
	if g.Label != "" {
		return g.Label
	}
	if g.PromptVersion == "" {
		return g.Prompt
	}
	return g.Prompt + "@" + g.PromptVersion
}

// diffName names the variant of a difference: its label, else its prompt
// version in run B (with the baseline's when it differs).
func diffName(d reports.Difference) string {
	if d.Label != "" {
		return d.Label
	}
	if d.VersionB == "" {
		return d.Prompt
	}
	return d.Prompt + "@" + d.VersionB
}

func dropDetail(d reports.Difference) string {
	if d.Unpaired {
		return fmt.Sprintf("%s fell %.1f points (%.1f%% → %.1f%%, against a JSON baseline: unpaired, no test)", d.Scorer, 100*(d.A-d.B), 100*d.A, 100*d.B)
	}
	s := fmt.Sprintf("%s fell %.1f points (%.1f%% → %.1f%%, 95%% CI of the change [%+.1f, %+.1f], %d pairs",
		d.Scorer, 100*(d.A-d.B), 100*d.A, 100*d.B, 100*d.Lo, 100*d.Hi, d.Pairs)
	switch {
	case d.TooFew:
		s += ", too few pairs to test"
	case !math.IsNaN(d.P) && d.Significant:
		s += fmt.Sprintf(", significant: McNemar p=%.3g", d.P)
	case !math.IsNaN(d.P):
		s += fmt.Sprintf(", not significant: McNemar p=%.3g", d.P)
	case d.Significant:
		s += ", significant"
	}
	return s + ")"
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
