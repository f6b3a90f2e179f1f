package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// writeListing prints a table for people on a terminal and TSV otherwise.
func writeListing(a *app, header []string, rows [][]string) error {
	if !isTerminal(a.io.Stdout) {
		fmt.Fprintln(a.io.Stdout, strings.Join(header, "\t"))
		for _, r := range rows {
			fmt.Fprintln(a.io.Stdout, strings.Join(r, "\t"))
		}
		return nil
	}
	t := tablewriter.NewTable(a.io.Stdout)
	t.Configure(func(c *tablewriter.Config) {
		c.Header.Formatting.AutoFormat = tw.Off
		c.Header.Alignment.Global = tw.AlignLeft
		c.Row.Alignment.Global = tw.AlignLeft
	})
	t.Header(toAnySlice(header)...)
	for _, r := range rows {
		t.Append(toAnySlice(r)...)
	}
	return t.Render()
}

func toAnySlice(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
