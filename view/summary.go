package view

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/stats"
	"github.com/evalctl/evalctl/store"
)

// rate is one scorer's outcome on a set of answers: a pass rate over the
// decided outcomes with its 95% Wilson interval, or for numeric scorers a
// mean; errors and skips are counted apart.
type rate struct {
	Scorer                      string
	Pass, Fail, Errors, Skipped int
	Sum                         float64
	N                           int
}

// Kind is "pass" for a pass rate, "score" for a mean, "" when nothing was decided.
func (r rate) Kind() string {
	switch {
	case r.Pass+r.Fail > 0:
		return "pass"
	case r.N > 0:
		return "score"
	}
	return ""
}

// Value is the pass rate or the mean (NaN for none).
func (r rate) Value() float64 {
	switch r.Kind() {
	case "pass":
		return float64(r.Pass) / float64(r.Pass+r.Fail)
	case "score":
		return r.Sum / float64(r.N)
	}
	return math.NaN()
}

// Interval is the 95% Wilson interval of a pass rate.
func (r rate) Interval() (lo, hi float64) {
	return stats.Wilson(r.Pass, r.Pass+r.Fail, stats.Z95)
}

func (r *rate) add(t rate) {
	r.Pass += t.Pass
	r.Fail += t.Fail
	r.Errors += t.Errors
	r.Skipped += t.Skipped
	r.Sum += t.Sum
	r.N += t.N
}

// variantSummary is one variant of a run's summary.
type variantSummary struct {
	Spec  eval.VariantSpec
	Label string // eval.Labels' name for it, when the prompt and model do not tell it apart
	store.VariantStat
	JudgeTokens int
	// Rates are per scorer, in the summary's scorer order.
	Rates   []rate
	Overall rate
}

// Name names the variant: its label, or its prompt version and model.
func (v variantSummary) Name() string { return variantName(v.Spec, v.Label) }

func variantName(v eval.VariantSpec, label string) string {
	if label != "" {
		return label
	}
	return v.Prompt.Name + "@" + v.Prompt.Version + " × " + v.Model.Ref
}

// summary is what a run's page shows above its answers, and the runs page
// in its rate columns: counted in the database, kept per run state.
type summary struct {
	Scorers  []string
	Judged   map[string]bool // scorers with verdicts of an LLM judge
	Variants []variantSummary
	// Rates pool each scorer over the variants; Overall pools every
	// pass/fail scorer.
	Rates    []rate
	Overall  rate
	Took     time.Duration
	Computed time.Time
	// Cells is the number of cells the summary counted.
	Cells int
}

// Worst returns the pass/fail scorer with the lowest pooled pass rate.
func (s *summary) Worst() (rate, bool) {
	var worst rate
	found := false
	for _, r := range s.Rates {
		if r.Kind() == "pass" && (!found || r.Value() < worst.Value()) {
			worst, found = r, true
		}
	}
	return worst, found
}

// WorstRate returns the worst scorer's rate, or nil.
func (s *summary) WorstRate() *rate {
	if r, ok := s.Worst(); ok {
		return &r
	}
	return nil
}

// Criteria are the scorers people can label: those with pass/fail
// verdicts, judged ones first.
func (s *summary) Criteria() []string {
	var judged, other []string
	for _, r := range s.Rates {
		if r.Pass+r.Fail == 0 && r.N > 0 {
			continue // numeric
		}
		if s.Judged[r.Scorer] {
			judged = append(judged, r.Scorer)
		} else {
			other = append(other, r.Scorer)
		}
	}
	return append(judged, other...)
}

// summarize counts a run's verdicts and cells.
func summarize(ctx context.Context, st *store.Store, run *store.Run) (*summary, error) {
	start := time.Now()
	lay := run.Spec.Layout
	tallies, err := st.Tallies(ctx, run)
	if err != nil {
		return nil, err
	}
	vstats, err := st.VariantStats(ctx, run)
	if err != nil {
		return nil, err
	}
	sum := &summary{Scorers: lay.Scorers, Judged: map[string]bool{}, Rates: make([]rate, len(lay.Scorers))}
	pos := map[string]int{}
	for i, sc := range lay.Scorers {
		pos[sc] = i
		sum.Rates[i].Scorer = sc
	}
	variants := lay.AllVariants()
	labels := eval.Labels(variants)
	vpos := map[string]int{}
	for i, v := range variants {
		vs := variantSummary{Spec: v, Label: labels[v.ID], VariantStat: vstats[i], Rates: make([]rate, len(lay.Scorers))}
		for j, sc := range lay.Scorers {
			vs.Rates[j].Scorer = sc
		}
		vs.Overall.Scorer = "overall"
		vpos[v.ID] = i
		sum.Variants = append(sum.Variants, vs)
		sum.Cells += vstats[i].Cells
	}
	for _, t := range tallies {
		vi, ok := vpos[t.Variant]
		if !ok {
			continue
		}
		r := rate{Scorer: t.Scorer, Pass: t.Pass, Fail: t.Fail, Errors: t.Errors, Skipped: t.Skipped, Sum: t.Sum, N: t.N}
		v := &sum.Variants[vi]
		v.Rates[pos[t.Scorer]] = r
		v.JudgeTokens += t.JudgeTokens
		v.Overall.add(rate{Pass: r.Pass, Fail: r.Fail, Errors: r.Errors})
		sum.Rates[pos[t.Scorer]].add(r)
		sum.Overall.add(rate{Pass: r.Pass, Fail: r.Fail, Errors: r.Errors})
		if t.Judged > 0 {
			sum.Judged[t.Scorer] = true
		}
	}
	sum.Overall.Scorer = "overall"
	sum.Took, sum.Computed = time.Since(start), time.Now()
	return sum, nil
}

// stateKey changes whenever what a run's summary counts may have changed:
// its cells, its error counts, its assessments. A pass still running
// changes it every few seconds, so its verdicts show as they come.
func stateKey(ctx context.Context, st *store.Store, run *store.Run) (string, error) {
	as, err := st.Assessments(ctx, run.ID)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %d %d %d", run.ID, run.Status, run.Done, run.GenErrors, run.VerdictErrors)
	live := run.Status == eval.StatusRunning
	for _, a := range as {
		fmt.Fprintf(&b, " %d:%s:%d", a.ID, a.Status, a.EndedAt.UnixNano())
		live = live || a.Status == eval.StatusRunning
	}
	if live {
		fmt.Fprintf(&b, " t%d", time.Now().Unix()/liveEvery)
	}
	return b.String(), nil
}

// liveEvery is how often, in seconds, the summary of a run being written
// is counted again at most.
const liveEvery = 3

// summaries keeps the latest summary of each run. Counting a large run
// takes a while (about 2 s for 100,000 cells × 7 scorers), so it is done
// once per state, one run at a time, and a page that cannot wait shows the
// summary it has (or none yet) while the new one is counted.
type summaries struct {
	st  *store.Store
	sem chan struct{} // one count at a time: the machine has other work

	mu sync.Mutex
	m  map[string]*summaryEntry
}

type summaryEntry struct {
	key  string
	sum  *summary // the latest counted (perhaps of an earlier state)
	err  error
	busy chan struct{} // closed when the count of key ends; nil when idle
}

func newSummaries(st *store.Store) *summaries {
	return &summaries{st: st, sem: make(chan struct{}, 1), m: map[string]*summaryEntry{}}
}

// get returns run's summary, waiting at most wait for it to be counted;
// fresh is false when the summary returned is of an earlier state (or nil:
// none yet).
func (c *summaries) get(ctx context.Context, run *store.Run, wait time.Duration) (sum *summary, fresh bool, err error) {
	key, err := stateKey(ctx, c.st, run)
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	e := c.m[run.ID]
	if e == nil {
		e = &summaryEntry{}
		c.m[run.ID] = e
	}
	if e.key == key && e.busy == nil {
		defer c.mu.Unlock()
		return e.sum, true, e.err
	}
	if e.busy == nil {
		e.key, e.busy = key, make(chan struct{})
		go c.count(e, run, key)
	}
	busy := e.busy
	c.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-busy:
		case <-t.C:
		case <-ctx.Done():
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	done := e.busy == nil || e.busy != busy
	return e.sum, done && e.key == key, e.err
}

// count counts run's summary for key.
func (c *summaries) count(e *summaryEntry, run *store.Run, key string) {
	c.sem <- struct{}{}
	sum, err := summarize(context.Background(), c.st, run)
	<-c.sem
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		e.sum = sum
	}
	e.err = err
	close(e.busy)
	e.busy = nil
}
