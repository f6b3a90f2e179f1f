package reports

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes a summary for $GITHUB_STEP_SUMMARY or a pull-request
// comment: the run, then the comparison table.
func WriteMarkdown(w io.Writer, meta RunMeta, c *Comparison) error {
	title := "evalctl run " + meta.ID
	if meta.Name != "" {
		title += " (" + meta.Name + ")"
	}
	fmt.Fprintf(w, "### %s\n\n", mdEscape(title))
	cells, genErr, scErr := c.Totals()
	fmt.Fprintf(w, "%s · %d of %d cells · %s · %s", meta.Status, cells, c.Planned, plural(genErr, "generation error"), plural(scErr, "scorer error"))
	if meta.GitCommit != "" {
		dirty := ""
		if meta.GitDirty {
			dirty = " (dirty)"
		}
		fmt.Fprintf(w, " · commit `%s`%s", short(meta.GitCommit, 12), dirty)
	}
	fmt.Fprint(w, "\n\n")
	labelled := c.Labelled()
	head := []string{"prompt", "model", "n"}
	if labelled {
		head = append([]string{"variant"}, head...)
	}
	texts := 2 // left-aligned columns
	if labelled {
		texts = 3
	}
	for _, s := range c.Scorers {
		head = append(head, "`"+s+"`")
	}
	head = append(head, "gen errors", "gen tokens", "judge tokens", "p50 latency")
	agents := c.Agents()
	if agents {
		head = append(head, "steps/cell", "tool calls (/cell)", "tool errors", "tool latency")
	}
	fmt.Fprintf(w, "| %s |\n|", strings.Join(head, " | "))
	for i := range head {
		if i < texts {
			fmt.Fprint(w, " --- |")
		} else {
			fmt.Fprint(w, " ---: |")
		}
	}
	fmt.Fprintln(w)
	sim := false
	for _, g := range c.Groups {
		sim = sim || g.Simulated()
		row := []string{"`" + g.Prompt + "@" + g.PromptVersion + "`", "`" + g.Model + "`", fmt.Sprint(g.Cells)}
		if labelled {
			row = append([]string{mdEscape(g.Label)}, row...)
		}
		for _, s := range g.Scorers {
			row = append(row, mdEscape(scorerCell(s)))
		}
		p50 := "-"
		if d, ok := g.P50(); ok {
			p50 = formatDuration(d)
		}
		row = append(row, fmt.Sprint(g.GenErrors), FormatInt(g.Usage.Total()), FormatInt(g.JudgeUsage.Total()), p50)
		if agents {
			row = append(row, agentCells(g.Trace)...)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Pass rates count decided outcomes only; generation and scorer errors are counted apart.")
	for _, n := range c.Notes() {
		fmt.Fprintln(w, "\n"+mdEscape(n))
	}
	if sim {
		fmt.Fprintln(w, "`sim:*` models are the built-in simulator: their scores say nothing about any real model.")
	}
	return nil
}

func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "`", "\\`", "\n", " ")
	return r.Replace(s)
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
