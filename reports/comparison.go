package reports

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/stats"
	"github.com/evalctl/evalctl/trace"
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
	// Spread is, with repeats, the standard deviation across repeats of the
	// pass rate (or mean); Repeats says how many there were.
	Spread  float64
	Repeats int

	// With repeats: outcomes per question and per repeat, folded into the
	// fields above by finish.
	rows map[string]*tally
	reps map[int]*tally
}

// tally counts outcomes.
type tally struct {
	pass, fail int
	sum        float64
	n          int
}

func (t *tally) add(fb scorers.Feedback) {
	switch {
	case fb.Pass != nil && *fb.Pass:
		t.pass++
	case fb.Pass != nil:
		t.fail++
	case fb.Score != nil:
		t.sum += *fb.Score
		t.n++
	}
}

// rate is the pass rate, or the mean for numeric scores.
func (t *tally) rate() (float64, bool) {
	if t.pass+t.fail > 0 {
		return float64(t.pass) / float64(t.pass+t.fail), true
	}
	if t.n > 0 {
		return t.sum / float64(t.n), true
	}
	return 0, false
}

// finish folds repeated outcomes: a question passes when most of its decided
// repeats pass (a tie fails), a numeric score is the question's mean.
func (s *ScorerStat) finish() {
	if s.rows == nil {
		return
	}
	s.Pass, s.Fail, s.Sum, s.N = 0, 0, 0, 0
	for _, t := range s.rows {
		switch {
		case t.pass+t.fail > 0 && t.pass > t.fail:
			s.Pass++
		case t.pass+t.fail > 0:
			s.Fail++
		case t.n > 0:
			s.Sum += t.sum / float64(t.n)
			s.N++
		}
	}
	var rates []float64
	for _, t := range s.reps {
		if r, ok := t.rate(); ok {
			rates = append(rates, r)
		}
	}
	s.Repeats, s.Spread = len(s.reps), stats.StdDev(rates)
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

// Group is one variant of a comparison: a prompt version × a model with its
// parameters (and system prompt).
type Group struct {
	// Variant is the variant's ID; Label its label, or a name derived when
	// the prompt and model columns alone would not tell it from another
	// variant ("" otherwise).
	Variant       string
	Label         string
	Prompt        string
	PromptVersion string
	// System is the system prompt's name@version ("" for none).
	System     string
	Model      string
	Params     llm.Params
	Cells      int // results received
	GenErrors  int
	Usage      llm.Usage // generation
	JudgeUsage llm.Usage
	// Cost and JudgeCost are what producing the group's answers and verdicts
	// costs at the run's prices, in USD, whether or not this run took them
	// from the cache: the figure that compares models. Priced is false when a
	// model or judge involved has no price.
	Cost, JudgeCost float64
	Priced          bool
	Scorers         []ScorerStat
	// Agent is set when the variant answers with tools; Trace sums its
	// cells' traces.
	Agent     bool
	Trace     TraceStats
	latencies []time.Duration
}

// TraceStats sums the traces of a variant's cells (trace.StatsOf): what
// reports show of agents. It is a few counters whatever the run's size.
type TraceStats struct {
	// Cells counts the cells with a trace: runs recorded before traces
	// have none, and then the means are undefined.
	Cells int
	// Steps, ToolCalls, ToolErrors and ToolTime are summed over those cells.
	trace.Stats
	// ErrorKinds counts the failed tool calls by kind (trace.ToolTimeout, ...).
	ErrorKinds map[string]int
}

// add folds one cell's steps in.
func (t *TraceStats) add(steps []trace.Span) {
	if len(steps) == 0 {
		return
	}
	st := trace.StatsOf(steps)
	t.Cells++
	t.Steps += st.Steps
	t.ToolCalls += st.ToolCalls
	t.ToolErrors += st.ToolErrors
	t.ToolTime += st.ToolTime
	if st.ToolErrors == 0 {
		return
	}
	if t.ErrorKinds == nil {
		t.ErrorKinds = map[string]int{}
	}
	for _, s := range steps {
		if s.Kind == trace.KindTool && s.Failed() {
			kind := s.ErrorKind
			if kind == "" {
				kind = trace.ToolError
			}
			t.ErrorKinds[kind]++
		}
	}
}

// MeanSteps returns the mean generation calls per traced cell; ok is false
// when no cell has a trace.
func (t TraceStats) MeanSteps() (mean float64, ok bool) {
	if t.Cells == 0 {
		return 0, false
	}
	return float64(t.Steps) / float64(t.Cells), true
}

// MeanToolCalls returns the mean tool calls per traced cell; ok is false
// when no cell has a trace.
func (t TraceStats) MeanToolCalls() (mean float64, ok bool) {
	if t.Cells == 0 {
		return 0, false
	}
	return float64(t.ToolCalls) / float64(t.Cells), true
}

// MeanToolLatency returns the mean wall time of a tool call; ok is false
// when there was none.
func (t TraceStats) MeanToolLatency() (mean time.Duration, ok bool) {
	if t.ToolCalls == 0 {
		return 0, false
	}
	return t.ToolTime / time.Duration(t.ToolCalls), true
}

// errorKinds lists the failed tool calls by kind, most frequent first:
// "timeout 2, tool_error 1".
func (t TraceStats) errorKinds() string {
	kinds := make([]string, 0, len(t.ErrorKinds))
	for k := range t.ErrorKinds {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b string) int {
		if d := t.ErrorKinds[b] - t.ErrorKinds[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, t.ErrorKinds[k])
	}
	return strings.Join(parts, ", ")
}

// Name names the group in notes: its label, or its prompt version and model.
func (g *Group) Name() string {
	if g.Label != "" {
		return g.Label
	}
	return g.Prompt + "@" + g.PromptVersion + " × " + g.Model
}

// Simulated reports whether the group's model is the built-in simulator.
func (g *Group) Simulated() bool { return strings.HasPrefix(g.Model, "sim:") }

// P50 returns the median generation latency of successful calls whose
// latency was measured; false when there are none.
func (g *Group) P50() (time.Duration, bool) {
	if len(g.latencies) == 0 {
		return 0, false
	}
	l := slices.Clone(g.latencies)
	slices.Sort(l)
	return l[(len(l)-1)/2], true
}

// P50MS returns the median generation latency in milliseconds, or nil when
// the group has no measured latency (for JSON).
func (g *Group) P50MS() *float64 {
	d, ok := g.P50()
	if !ok {
		return nil
	}
	ms := float64(d) / float64(time.Millisecond)
	return &ms
}

// Comparison is the per-variant summary of a run.
type Comparison struct {
	Scorers []string
	Groups  []*Group
	// Planned is the number of cells in the plan.
	Planned int
	// Repeat is the number of runs per cell.
	Repeat int
	prices map[string]llm.Price
	index  map[string]int // group position by variant ID
	scorer map[string]int // scorer name → position in Scorers
	agree  agreement
	humans humans
}

// NewComparison returns an empty comparison with one group per variant of a
// run's layout, in plan order.
func NewComparison(l eval.Layout) *Comparison {
	c := &Comparison{Planned: l.Planned(), Scorers: l.Scorers, Repeat: max(1, l.Repeat), prices: l.Prices,
		index: map[string]int{}, scorer: map[string]int{}}
	for i, s := range c.Scorers {
		c.scorer[s] = i
	}
	variants := l.AllVariants()
	labels := eval.Labels(variants)
	for _, v := range variants {
		g := &Group{Variant: v.ID, Label: labels[v.ID], Prompt: v.Prompt.Name, PromptVersion: v.Prompt.Version, Model: v.Model.Ref,
			Params: v.Model.Params, Priced: true, Agent: v.Agent != nil}
		if v.System != nil {
			g.System = v.System.Name + "@" + v.System.Version
		}
		for _, s := range c.Scorers {
			st := ScorerStat{Name: s}
			if c.Repeat > 1 {
				st.rows, st.reps = map[string]*tally{}, map[int]*tally{}
			}
			g.Scorers = append(g.Scorers, st)
		}
		c.index[v.ID] = len(c.Groups)
		c.Groups = append(c.Groups, g)
	}
	return c
}

// Labelled reports whether any group has a label: then reports show a
// variant column.
func (c *Comparison) Labelled() bool {
	for _, g := range c.Groups {
		if g.Label != "" {
			return true
		}
	}
	return false
}

// Agents reports whether any variant answers with tools or made tool
// calls: then the table and Markdown show steps and tool calls (a run
// without agents keeps its columns).
func (c *Comparison) Agents() bool {
	for _, g := range c.Groups {
		if g.Agent || g.Trace.ToolCalls > 0 {
			return true
		}
	}
	return false
}

// groupIndex returns the position of a variant's group (-1 for none).
func (c *Comparison) groupIndex(variant string) int {
	if i, ok := c.index[variant]; ok {
		return i
	}
	return -1
}

// Compare builds the comparison of a run's results.
func Compare(l eval.Layout, results []eval.Result) *Comparison {
	c := NewComparison(l)
	for _, r := range results {
		c.Add(r.Record())
	}
	c.Finish()
	return c
}

// Finish folds repeated outcomes into the per-scorer counts. Call it after
// the last Add (Compare does).
func (c *Comparison) Finish() {
	for _, g := range c.Groups {
		for i := range g.Scorers {
			g.Scorers[i].finish()
		}
	}
}

// Add folds one result into the comparison.
func (c *Comparison) Add(r eval.Record) {
	i, ok := c.index[r.Variant.ID]
	if !ok {
		return
	}
	g := c.Groups[i]
	g.Cells++
	g.Usage = g.Usage.Add(r.Usage)
	g.Cost += c.price(g, g.Model, r.Usage)
	g.Trace.add(r.Steps)
	if r.Err != nil {
		g.GenErrors++
		return
	}
	if r.Latency > 0 { // 0: not measured (a batch's answers, an import without latencies)
		g.latencies = append(g.latencies, r.Latency)
	}
	c.humans.add(r)
	for _, fb := range r.Feedback {
		i, ok := c.scorer[fb.Scorer]
		if !ok {
			continue // a scorer this comparison does not show
		}
		st := &g.Scorers[i]
		c.agree.add(fb)
		g.JudgeUsage = g.JudgeUsage.Add(fb.Usage)
		if fb.JudgeModel != "" {
			g.JudgeCost += c.price(g, fb.JudgeModel, fb.Usage)
		}
		switch {
		case fb.Err != "":
			st.Errors++
		case fb.Skipped:
			st.Skipped++
		case st.rows != nil:
			row := st.rows[r.RowID]
			if row == nil {
				row = &tally{}
				st.rows[r.RowID] = row
			}
			row.add(fb)
			rep := st.reps[r.Repeat]
			if rep == nil {
				rep = &tally{}
				st.reps[r.Repeat] = rep
			}
			rep.add(fb)
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

// price returns the cost of usage on model, noting in g when it is unknown.
// Simulated models without a price are free.
func (c *Comparison) price(g *Group, model string, u llm.Usage) float64 {
	if p, ok := c.prices[model]; ok {
		return p.Cost(u)
	}
	if !strings.HasPrefix(model, "sim:") && u.Total() > 0 {
		g.Priced = false
	}
	return 0
}

// TotalCost returns the run's cost in USD and whether every call was priced.
func (c *Comparison) TotalCost() (float64, bool) {
	total, all := 0.0, true
	for _, g := range c.Groups {
		total += g.Cost + g.JudgeCost
		all = all && g.Priced
	}
	return total, all
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
