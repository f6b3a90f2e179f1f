package reports

import (
	"slices"
	"strings"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
)

// ScorerStat aggregates one scorer's feedback for one prompt × model.
type ScorerStat struct {
	Name    string
	Pass    int // outcomes that passed
	Fail    int // outcomes that failed
	Errors  int // the scorer could not decide (excluded from rates)
	Skipped int // not applicable to the row
	// Sum and N give the mean of numeric scores for scorers without pass/fail.
	Sum float64
	N   int
}

// PassRate returns passes over decided outcomes; ok is false when there are none.
func (s ScorerStat) PassRate() (rate float64, ok bool) {
	n := s.Pass + s.Fail
	if n == 0 {
		return 0, false
	}
	return float64(s.Pass) / float64(n), true
}

// Mean returns the mean numeric score; ok is false when there is none.
func (s ScorerStat) Mean() (float64, bool) {
	if s.N == 0 {
		return 0, false
	}
	return s.Sum / float64(s.N), true
}

// Group is one prompt × model of a comparison.
type Group struct {
	Prompt        string
	PromptVersion string
	Model         string
	Cells         int // results received
	GenErrors     int
	Usage         llm.Usage // generation
	JudgeUsage    llm.Usage
	Scorers       []ScorerStat
	latencies     []time.Duration
}

// Simulated reports whether the group's model is the built-in simulator.
func (g *Group) Simulated() bool { return strings.HasPrefix(g.Model, "sim:") }

// P50 returns the median generation latency of successful calls.
func (g *Group) P50() (time.Duration, bool) {
	if len(g.latencies) == 0 {
		return 0, false
	}
	l := slices.Clone(g.latencies)
	slices.Sort(l)
	return l[(len(l)-1)/2], true
}

// Comparison is the prompt × model summary of a run.
type Comparison struct {
	Scorers []string
	Groups  []*Group
	// Planned is the number of cells in the plan.
	Planned int
	index   map[[2]string]*Group
}

// NewComparison returns an empty comparison with one group per prompt × model
// of a run's layout, in plan order.
func NewComparison(l eval.Layout) *Comparison {
	c := &Comparison{Planned: l.Planned(), Scorers: l.Scorers, index: map[[2]string]*Group{}}
	for _, t := range l.Prompts {
		for _, m := range l.Models {
			g := &Group{Prompt: t.Name, PromptVersion: t.Version, Model: m.Ref}
			for _, s := range c.Scorers {
				g.Scorers = append(g.Scorers, ScorerStat{Name: s})
			}
			c.Groups = append(c.Groups, g)
			c.index[[2]string{t.Name, g.Model}] = g
		}
	}
	return c
}

// Compare builds the comparison of a run's results.
func Compare(l eval.Layout, results []eval.Result) *Comparison {
	c := NewComparison(l)
	for _, r := range results {
		c.Add(r)
	}
	return c
}

// Add folds one result into the comparison.
func (c *Comparison) Add(r eval.Result) {
	g := c.index[[2]string{r.Prompt.Name, r.Model.Ref.String()}]
	if g == nil {
		return
	}
	g.Cells++
	g.Usage = g.Usage.Add(r.Usage)
	if r.Err != nil {
		g.GenErrors++
		return
	}
	g.latencies = append(g.latencies, r.Latency)
	for i, fb := range r.Feedback {
		st := &g.Scorers[i]
		g.JudgeUsage = g.JudgeUsage.Add(fb.Usage)
		switch {
		case fb.Err != "":
			st.Errors++
		case fb.Skipped:
			st.Skipped++
		case fb.Pass != nil:
			if *fb.Pass {
				st.Pass++
			} else {
				st.Fail++
			}
		case fb.Score != nil:
			st.Sum += *fb.Score
			st.N++
		}
	}
}

// Totals returns cells received, generation errors and scorer errors.
func (c *Comparison) Totals() (cells, genErrors, scorerErrors int) {
	for _, g := range c.Groups {
		cells += g.Cells
		genErrors += g.GenErrors
		for _, s := range g.Scorers {
			scorerErrors += s.Errors
		}
	}
	return
}
