package reports

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/stats"
)

// JudgeAgreement is how far the judge models of one scorer agreed with each
// other, over the answers they all decided: Cohen's kappa for two judges
// (with a 95% interval), Fleiss' kappa for more.
type JudgeAgreement struct {
	Scorer string
	Judges []string
	Method string // "cohen" or "fleiss"
	stats.Kappa
}

// HumanAgreement is how the labels people gave one criterion (evalctl
// view, or imported) agree with its scorer's verdicts on the same answers.
type HumanAgreement struct {
	Criterion string
	// Labels counts the answers labelled pass or fail; Compared those of
	// them the scorer decided (pass or fail); Agree those alike.
	Labels, Compared, Agree int
	// Kappa is Cohen's kappa of people against the scorer, over Compared.
	stats.Kappa
}

// Accuracy is the share of compared answers where people and scorer agree.
func (h HumanAgreement) Accuracy() float64 {
	if h.Compared == 0 {
		return 0
	}
	return float64(h.Agree) / float64(h.Compared)
}

// humans accumulates, per criterion, people's labels beside the verdicts.
type humans struct {
	order  []string
	labels map[string]int
	people map[string][]string // criterion → human value per compared answer
	judge  map[string][]string // … and the scorer's
}

func (h *humans) add(r eval.Record) {
	for _, l := range r.Human {
		if l.Value == "" {
			continue
		}
		if h.labels == nil {
			h.labels, h.people, h.judge = map[string]int{}, map[string][]string{}, map[string][]string{}
		}
		if _, seen := h.labels[l.Criterion]; !seen {
			h.order = append(h.order, l.Criterion)
		}
		h.labels[l.Criterion]++
		for _, fb := range r.Feedback {
			if fb.Scorer == l.Criterion && fb.Err == "" && !fb.Skipped && fb.Pass != nil {
				h.people[l.Criterion] = append(h.people[l.Criterion], l.Value)
				h.judge[l.Criterion] = append(h.judge[l.Criterion], map[bool]string{true: "pass", false: "fail"}[*fb.Pass])
			}
		}
	}
}

// HumanAgreements returns, per criterion people labelled, how their labels
// agree with the scorer's verdicts, in the run's scorer order.
func (c *Comparison) HumanAgreements() []HumanAgreement {
	var out []HumanAgreement
	for _, s := range c.Scorers {
		n, ok := c.humans.labels[s]
		if !ok {
			continue
		}
		a := HumanAgreement{Criterion: s, Labels: n, Compared: len(c.humans.people[s]), Kappa: stats.CohenKappa(c.humans.people[s], c.humans.judge[s])}
		for i, v := range c.humans.people[s] {
			if v == c.humans.judge[s][i] {
				a.Agree++
			}
		}
		out = append(out, a)
	}
	return out
}

// PositionBias is, for a pairwise scorer, how often the judge's verdict
// changed with the order in which the two answers were shown.
type PositionBias struct {
	Scorer       string
	Pairs        int // pairs judged in both orders
	Inconsistent int // pairs whose two orders disagreed (recorded as ties)
}

// Rate is the share of inconsistent pairs.
func (p PositionBias) Rate() float64 {
	if p.Pairs == 0 {
		return 0
	}
	return float64(p.Inconsistent) / float64(p.Pairs)
}

// agreement accumulates, per scorer, the judges' verdicts and pair orders.
type agreement struct {
	judges map[string][]string            // scorer → judges, in order seen
	items  map[string][]map[string]string // scorer → per answer: judge → its (majority) verdict
	bias   map[string]*PositionBias
	order  []string // scorers, in order seen
}

func (a *agreement) add(fb scorers.Feedback) {
	if len(fb.Votes) == 0 || fb.Err != "" || fb.Skipped {
		return
	}
	if a.bias == nil {
		a.bias, a.judges, a.items = map[string]*PositionBias{}, map[string][]string{}, map[string][]map[string]string{}
	}
	if fb.Votes[0].Order != "" {
		b := a.bias[fb.Scorer]
		if b == nil {
			b = &PositionBias{Scorer: fb.Scorer}
			a.bias[fb.Scorer] = b
			a.order = append(a.order, fb.Scorer)
		}
		b.Pairs++
		if fb.Agreement != nil && *fb.Agreement < 1 {
			b.Inconsistent++
		}
		return
	}
	// Each judge's verdict on this answer: the majority of its samples (the
	// cautious value on a tie: the smallest, so "no" before "yes").
	per := map[string]map[string]int{}
	var judges []string // in the order of the votes
	for _, v := range fb.Votes {
		if v.Value == "" || v.Fact != "" {
			continue
		}
		if per[v.Judge] == nil {
			per[v.Judge] = map[string]int{}
			judges = append(judges, v.Judge)
		}
		per[v.Judge][v.Value]++
	}
	if len(per) < 2 {
		return
	}
	item := map[string]string{}
	for _, j := range judges {
		counts := per[j]
		vals := make([]string, 0, len(counts))
		for v := range counts {
			vals = append(vals, v)
		}
		sort.Strings(vals)
		best := vals[0]
		for _, v := range vals {
			if counts[v] > counts[best] {
				best = v
			}
		}
		item[j] = best
		if !slices.Contains(a.judges[fb.Scorer], j) {
			if len(a.judges[fb.Scorer]) == 0 {
				a.order = append(a.order, fb.Scorer)
			}
			a.judges[fb.Scorer] = append(a.judges[fb.Scorer], j)
		}
	}
	a.items[fb.Scorer] = append(a.items[fb.Scorer], item)
}

// JudgeAgreements returns the agreement between judges, per scorer with
// several judge models.
func (c *Comparison) JudgeAgreements() []JudgeAgreement {
	var out []JudgeAgreement
	for _, s := range c.agree.order {
		judges := c.agree.judges[s]
		if len(judges) < 2 {
			continue
		}
		ja := JudgeAgreement{Scorer: s, Judges: judges}
		if len(judges) == 2 {
			var x, y []string
			for _, it := range c.agree.items[s] {
				if a, ok := it[judges[0]]; ok {
					if b, ok := it[judges[1]]; ok {
						x, y = append(x, a), append(y, b)
					}
				}
			}
			ja.Method, ja.Kappa = "cohen", stats.CohenKappa(x, y)
		} else {
			var counts []map[string]int
			for _, it := range c.agree.items[s] {
				if len(it) != len(judges) {
					continue // Fleiss' kappa needs every rater on every item
				}
				m := map[string]int{}
				for _, v := range it {
					m[v]++
				}
				counts = append(counts, m)
			}
			ja.Method, ja.Kappa = "fleiss", stats.FleissKappa(counts)
		}
		out = append(out, ja)
	}
	return out
}

// PositionBiases returns the position bias of each pairwise scorer.
func (c *Comparison) PositionBiases() []PositionBias {
	var out []PositionBias
	for _, s := range c.agree.order {
		if b := c.agree.bias[s]; b != nil {
			out = append(out, *b)
		}
	}
	return out
}

// Notes are the sentences reports print under their tables about judge
// agreement and position bias.
func (c *Comparison) Notes() []string {
	var out []string
	for _, a := range c.JudgeAgreements() {
		k := "undefined (the judges used one verdict only)"
		if a.Kappa.Kappa == a.Kappa.Kappa { // not NaN
			k = fmt.Sprintf("%.2f", a.Kappa.Kappa)
			if a.Method == "cohen" {
				k += fmt.Sprintf(" [%.2f, %.2f]", a.Lo, a.Hi)
			}
		}
		name := map[string]string{"cohen": "Cohen's", "fleiss": "Fleiss'"}[a.Method]
		out = append(out, fmt.Sprintf("Judges of %s (%s) agree: %s κ = %s over %d answers.", a.Scorer, strings.Join(a.Judges, ", "), name, k, a.N))
	}
	for _, h := range c.HumanAgreements() {
		line := fmt.Sprintf("People labelled %s on %d answers", h.Criterion, h.Labels)
		switch {
		case h.Compared == 0:
			line += ", none of them decided by the scorer: nothing to compare."
		default:
			k := "undefined (one verdict only)"
			if h.Kappa.Kappa == h.Kappa.Kappa {
				k = fmt.Sprintf("%.2f [%.2f, %.2f]", h.Kappa.Kappa, h.Lo, h.Hi)
			}
			line += fmt.Sprintf(": they agree with its verdict on %d of %d (%.0f%%), Cohen's κ = %s.", h.Agree, h.Compared, 100*h.Accuracy(), k)
		}
		out = append(out, line)
	}
	for _, b := range c.PositionBiases() {
		out = append(out, fmt.Sprintf("Pairwise %s: position bias %.1f%%: the verdict changed with the order of the answers on %d of %d pairs, which count as ties.",
			b.Scorer, 100*b.Rate(), b.Inconsistent, b.Pairs))
	}
	return append(out, c.agentNotes()...)
}

// agentNotes explain the agent columns and list tool errors by kind, for
// runs with agents (none otherwise).
func (c *Comparison) agentNotes() []string {
	if !c.Agents() {
		return nil
	}
	out := []string{"Agents: steps are generation calls per cell; tool calls are counted in all and per cell; tool latency is the mean wall time of a call."}
	for _, g := range c.Groups {
		if g.Trace.ToolErrors > 0 {
			out = append(out, fmt.Sprintf("Tool errors of %s: %s.", g.Name(), g.Trace.errorKinds()))
		}
	}
	return out
}
