package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// WriteTable renders the comparison as a terminal table: one row per prompt ×
// model, a column per scorer (pass rate, or mean for numeric scorers, with
// errors noted apart), then generation errors, tokens and median latency.
func WriteTable(w io.Writer, c *Comparison) error {
	labelled := c.Labelled()
	header := []string{"prompt", "model", "n"}
	if labelled {
		header = append([]string{"variant"}, header...)
	}
	for _, s := range c.Scorers {
		header = append(header, wrapName(s, 13))
	}
	header = append(header, "gen\nerrors", "tokens\ngen", "tokens\njudge", "p50\nlatency")
	agents := c.Agents()
	if agents {
		header = append(header, "steps\n/cell", "tool calls\n(/cell)", "tool\nerrors", "tool\nlatency")
	}
	_, allPriced := c.TotalCost()
	showCost := !allPriced
	for _, g := range c.Groups {
		showCost = showCost || g.Cost+g.JudgeCost > 0
	}
	if showCost {
		header = append(header, "cost\ngen", "cost\njudge")
	}
	t := tablewriter.NewTable(w)
	t.Configure(func(c *tablewriter.Config) {
		c.Header.Formatting.AutoFormat = tw.Off
		c.Header.Alignment.Global = tw.AlignLeft
		c.Row.Alignment.Global = tw.AlignRight
		c.Row.Alignment.PerColumn = []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignLeft}
	})
	t.Header(toAny(header)...)
	sim := false
	for _, g := range c.Groups {
		sim = sim || g.Simulated()
		row := []string{g.Prompt + "@" + g.PromptVersion, g.Model, fmt.Sprint(g.Cells)}
		if labelled {
			row = append([]string{g.Label}, row...)
		}
		for _, s := range g.Scorers {
			row = append(row, scorerCell(s))
		}
		p50 := "-"
		if d, ok := g.P50(); ok {
			p50 = formatDuration(d)
		}
		row = append(row, fmt.Sprint(g.GenErrors), FormatInt(g.Usage.Total()), FormatInt(g.JudgeUsage.Total()), p50)
		if agents {
			row = append(row, agentCells(g.Trace)...)
		}
		if showCost {
			row = append(row, costText(g, g.Cost), costText(g, g.JudgeCost))
		}
		if err := t.Append(toAny(row)...); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	cells, genErr, scErr := c.Totals()
	fmt.Fprintf(w, "%d of %d cells; %s and %s are counted apart from pass rates.\n",
		cells, c.Planned, plural(genErr, "generation error"), plural(scErr, "scorer error"))
	if showCost {
		total, all := c.TotalCost()
		note := ""
		if !all {
			note = "; n/a: no price for a model or judge (add it under prices: in evalctl.yaml)"
		}
		fmt.Fprintf(w, "Cost: $%.4f in all: what these answers and verdicts cost at the run's prices%s.\n", total, note)
	}
	if c.Repeat > 1 {
		fmt.Fprintf(w, "%d repeats per question: a question passes when most of its repeats pass; ± is the standard deviation across repeats.\n", c.Repeat)
	}
	for _, n := range c.Notes() {
		fmt.Fprintln(w, n)
	}
	if sim {
		fmt.Fprintln(w, "sim:* models are the built-in simulator: their scores say nothing about any real model.")
	}
	return nil
}

// agentCells are a group's agent columns: mean steps per cell, tool calls
// in all (and per cell), tool errors, mean tool latency; "-" where a figure
// is undefined.
func agentCells(t TraceStats) []string {
	steps, calls, errs, lat := "-", "-", "-", "-"
	if m, ok := t.MeanSteps(); ok {
		steps = fmt.Sprintf("%.1f", m)
		calls = FormatInt(t.ToolCalls)
		if mc, _ := t.MeanToolCalls(); t.ToolCalls > 0 {
			calls += fmt.Sprintf(" (%.1f)", mc)
		}
		errs = FormatInt(t.ToolErrors)
	}
	if d, ok := t.MeanToolLatency(); ok {
		lat = formatDuration(d)
	}
	return []string{steps, calls, errs, lat}
}

// wrapName breaks a long snake_case name after underscores so that the
// header stays narrow: "software_engineering_related" → "software_\nengineering_\nrelated".
func wrapName(name string, width int) string {
	if len(name) <= width {
		return name
	}
	parts := strings.SplitAfter(name, "_")
	var lines []string
	cur := ""
	for _, p := range parts {
		if cur != "" && len(cur)+len(p) > width {
			lines = append(lines, cur)
			cur = ""
		}
		cur += p
	}
	lines = append(lines, cur)
	return strings.Join(lines, "\n")
}

func toAny(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func scorerCell(s ScorerStat) string {
	var v string
	if r, ok := s.PassRate(); ok {
		v = fmt.Sprintf("%.1f%%", 100*r)
	} else if m, ok := s.Mean(); ok {
		v = fmt.Sprintf("%.3g", m)
	} else {
		v = "-"
	}
	if s.Repeats > 1 {
		if s.Pass+s.Fail > 0 {
			v += fmt.Sprintf(" ±%.1f", 100*s.Spread)
		} else if s.N > 0 {
			v += fmt.Sprintf(" ±%.3g", s.Spread)
		}
	}
	if s.Skipped > 0 && (s.Pass+s.Fail+s.N) > 0 {
		v += fmt.Sprintf(" of %d", s.Pass+s.Fail+s.N) // applies to few rows: say how many
	}
	if s.Errors > 0 {
		v += fmt.Sprintf(" (%d err)", s.Errors)
	}
	return v
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func costText(g *Group, usd float64) string {
	if !g.Priced {
		return "n/a"
	}
	return fmt.Sprintf("$%.4f", usd)
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// FormatInt formats n with thousands separators: 1,234,567.
func FormatInt(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	if s[0] == '-' {
		b.WriteByte('-')
		s = s[1:]
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
