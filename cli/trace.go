package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/store"
	"github.com/evalctl/evalctl/trace"
)

// TraceOptions are the inputs of `evalctl trace`.
type TraceOptions struct {
	StoreOptions
	// Assessment picks the scoring pass whose verdicts are shown (0: latest).
	Assessment int
	Run        string
	// Cell is a cell index, or a row id (with Variant and Repeat).
	Cell    string
	Variant string
	// Repeat is the repeat of a row id's cell; -1 for any.
	Repeat int
	JSON   bool
	// Full prints judge prompts and replies, and whole outputs.
	Full bool
}

// NewCmdTrace returns `evalctl trace`.
func NewCmdTrace(a *app, runF func(*TraceOptions) error) *cobra.Command {
	opts := &TraceOptions{}
	cmd := &cobra.Command{
		Use:   "trace RUN CELL",
		Short: "Show the timeline of one cell: its generation calls, tool calls and judge calls",
		Long: `Show what one cell of a stored run did, in order: each generation call (model, tokens, finish
reason, tool calls asked for), each tool call (server/tool(arguments) and its result or error),
then each verdict with the judge calls it made. Offsets count from the cell's first call.

RUN is a run id, a unique prefix of one, a run name, or 'last'. CELL is a cell number (as the
HTML report's answers and evalctl export otel's evalctl.cell.index number them), or a row id:
then --variant (a label or a variant id) and --repeat choose among the row's cells (with either
flag, a CELL made of digits is a row id too).`,
		Example: `  evalctl trace last 12
  evalctl trace last q7 --variant searcher --full
  evalctl trace 20261122-2210 q7 --json | jq '.steps[] | select(.kind == "tool")'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Run, opts.Cell = args[0], args[1]
			if !cmd.Flags().Changed("repeat") {
				opts.Repeat = -1
			} else if opts.Repeat < 0 {
				return usageErr("--repeat must be 0 or more (got %d)", opts.Repeat)
			}
			if opts.JSON && opts.Full {
				return usageErr("--json prints every span whole; drop --full")
			}
			if runF != nil {
				return runF(opts)
			}
			return traceRun(a, opts)
		},
	}
	addStoreFlags(cmd, &opts.StoreOptions)
	f := cmd.Flags()
	f.IntVar(&opts.Assessment, "assessment", 0, assessmentHelp)
	f.StringVar(&opts.Variant, "variant", "", "with a row id: the cell's variant, by label or id")
	f.IntVar(&opts.Repeat, "repeat", 0, "with a row id: the cell's repeat (from 0)")
	f.BoolVar(&opts.JSON, "json", false, "print the cell's spans as JSON")
	f.BoolVar(&opts.Full, "full", false, "print judge prompts and replies, and outputs whole")
	return cmd
}

func traceRun(a *app, opts *TraceOptions) error {
	st, err := opts.open(a)
	if err != nil {
		return err
	}
	defer st.Close()
	run, err := findRun(st, opts.Run, false)
	if err != nil {
		return err
	}
	if err := atAssessment(st, run, opts.Assessment); err != nil {
		return err
	}
	rec, err := findCell(st, run, opts)
	if err != nil {
		return err
	}
	a.addEnvSecrets(opts.ConfigPath)
	var b bytes.Buffer
	if opts.JSON {
		err = writeTraceJSON(&b, run, rec)
	} else {
		writeTrace(&b, run, rec, opts.Full)
	}
	if err != nil {
		return err
	}
	_, err = io.WriteString(a.io.Stdout, a.redactor.Redact(b.String()))
	return err
}

// findCell finds the cell opts name: by number, or by row id, variant and
// repeat. It streams the run's records, holding only the matches.
func findCell(st *store.Store, run *store.Run, opts *TraceOptions) (eval.Record, error) {
	variants := run.Spec.Layout.AllVariants()
	var want []string // variant ids
	if opts.Variant != "" {
		for _, v := range variants {
			if v.Label == opts.Variant || v.ID == opts.Variant || (len(opts.Variant) >= 4 && strings.HasPrefix(v.ID, opts.Variant)) {
				want = append(want, v.ID)
			}
		}
		if len(want) != 1 {
			what := "no variant"
			if len(want) > 1 {
				what = "several variants"
			}
			return eval.Record{}, usageErr("--variant %q: %s of run %s has that label or id (variants: %s)", opts.Variant, what, run.ID, variantList(variants))
		}
	}
	index, err := strconv.Atoi(opts.Cell)
	byIndex := err == nil && opts.Variant == "" && opts.Repeat < 0
	var found []eval.Record
	rowSeen := false
	errFound := errors.New("found")
	err = st.EachRecord(context.Background(), run, true, func(r eval.Record) error {
		if byIndex {
			if r.Index == index {
				found = append(found, r)
				return errFound
			}
			return nil
		}
		if r.RowID != opts.Cell {
			return nil
		}
		rowSeen = true
		if (want == nil || r.Variant.ID == want[0]) && (opts.Repeat < 0 || r.Repeat == opts.Repeat) {
			found = append(found, r)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return eval.Record{}, err
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case byIndex:
		return eval.Record{}, usageErr("run %s has no cell %d (%d cells; a row id works too)", run.ID, index, run.Done)
	case !rowSeen:
		return eval.Record{}, usageErr("run %s has no row %q (CELL is a cell number or a row id)", run.ID, opts.Cell)
	case len(found) == 0:
		return eval.Record{}, usageErr("row %q of run %s has no cell of that variant and repeat", opts.Cell, run.ID)
	}
	return eval.Record{}, usageErr("row %q of run %s has %d cells: choose one with --variant (%s) and --repeat",
		opts.Cell, run.ID, len(found), variantList(variants))
}

func variantList(vs []eval.VariantSpec) string {
	var out []string
	for _, v := range vs {
		if v.Label != "" {
			out = append(out, v.Label)
		} else {
			out = append(out, v.ID)
		}
	}
	return strings.Join(out, ", ")
}

// traceJSON is what trace --json prints.
type traceJSON struct {
	Run      string             `json:"run"`
	Cell     int                `json:"cell"`
	RowID    string             `json:"row_id"`
	Variant  eval.VariantSpec   `json:"variant"`
	Repeat   int                `json:"repeat"`
	Error    string             `json:"error,omitempty"`
	Steps    []trace.Span       `json:"steps"`
	Verdicts []traceVerdictJSON `json:"verdicts"`
}

type traceVerdictJSON struct {
	Scorer string       `json:"scorer"`
	Spans  []trace.Span `json:"spans"`
}

func writeTraceJSON(w io.Writer, run *store.Run, rec eval.Record) error {
	out := traceJSON{Run: run.ID, Cell: rec.Index, RowID: rec.RowID, Variant: rec.Variant, Repeat: rec.Repeat,
		Steps: rec.Steps, Verdicts: []traceVerdictJSON{}}
	if out.Steps == nil {
		out.Steps = []trace.Span{}
	}
	if rec.Err != nil {
		out.Error = rec.Err.Error()
	}
	for _, fb := range rec.Feedback {
		if len(fb.Spans) > 0 {
			out.Verdicts = append(out.Verdicts, traceVerdictJSON{fb.Scorer, fb.Spans})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// writeTrace prints a cell's timeline for people. Model, tool and dataset
// text is untrusted: control characters (terminal escapes) are dropped.
func writeTrace(w io.Writer, run *store.Run, rec eval.Record, full bool) {
	v := rec.Variant
	fmt.Fprintf(w, "run      %s, cell %d\n", run.ID, rec.Index)
	question := rec.Vars["question"]
	if question == "" {
		question = rec.Input
	}
	line := ""
	if rec.Line > 0 {
		line = fmt.Sprintf(" (line %d)", rec.Line)
	}
	fmt.Fprintf(w, "row      %s%s: %s\n", clean(rec.RowID), line, excerpt(question, 100))
	name := eval.VariantName(v)
	if v.Label != "" {
		name += " (" + v.Prompt.Name + "@" + v.Prompt.Version + ")"
	}
	kind := ""
	if v.Agent != nil {
		kind = ", agent"
	}
	fmt.Fprintf(w, "variant  %s%s, repeat %d\n", clean(name), kind, rec.Repeat)
	fmt.Fprintf(w, "model    %s\n", clean(v.Model.Ref))
	stats := trace.StatsOf(rec.Steps)
	status := "answered"
	if rec.Err != nil {
		status = "failed"
	}
	if len(rec.Steps) > 0 {
		status += fmt.Sprintf(" in %s: %s", secs(cellSpan(rec.Steps)), plural(stats.Steps, "generation call"))
		if stats.ToolCalls > 0 {
			status += ", " + plural(stats.ToolCalls, "tool call")
			if stats.ToolErrors > 0 {
				status += fmt.Sprintf(" (%d failed)", stats.ToolErrors)
			}
		}
	}
	fmt.Fprintf(w, "status   %s; %d in / %d out tokens\n", status, rec.Usage.PromptTokens, rec.Usage.CompletionTokens)
	if rec.Err != nil {
		fmt.Fprintf(w, "error    %s\n", excerpt(rec.Err.Error(), 200))
	}
	switch {
	case len(rec.Steps) == 0 && run.Tags["imported"] != "":
		fmt.Fprintln(w, "no trace: this answer was imported without one (it has no steps)")
	case len(rec.Steps) == 0:
		fmt.Fprintln(w, "no trace: this cell was recorded before evalctl kept traces (it has no steps)")
	}
	var t0 time.Time
	for _, s := range rec.Steps {
		if t0.IsZero() || s.Start.Before(t0) {
			t0 = s.Start
		}
	}
	for _, fb := range rec.Feedback {
		for _, s := range fb.Spans {
			if t0.IsZero() {
				t0 = s.Start // no steps: the judges' own clock
			}
		}
	}
	{
		if len(rec.Steps) > 0 {
			fmt.Fprintln(w)
		}
		for _, s := range rec.Steps {
			writeSpan(w, "  ", t0, s, full)
		}
		if rec.Err == nil {
			fmt.Fprintf(w, "answer   %s\n", excerpt(rec.Answer, 200))
			if full && strings.Contains(rec.Answer, "\n") {
				body(w, "           ", rec.Answer)
			}
		}
		if len(rec.Feedback) > 0 {
			fmt.Fprintln(w, "\nverdicts")
			width := 0
			for _, fb := range rec.Feedback {
				width = max(width, utf8.RuneCountInString(fb.Scorer))
			}
			for _, fb := range rec.Feedback {
				fmt.Fprintf(w, "  %-*s  %s\n", width, clean(fb.Scorer), verdictText(fb))
				for _, s := range fb.Spans {
					writeSpan(w, "    ", t0, s, full)
				}
			}
		}
	}
}

// writeSpan prints one span on a line: offset, duration, kind, and what
// it did.
func writeSpan(w io.Writer, indent string, t0 time.Time, s trace.Span, full bool) {
	off := "+" + secs(s.Start.Sub(t0))
	step := ""
	if s.Step > 0 {
		step = "#" + strconv.Itoa(s.Step)
	}
	fmt.Fprintf(w, "%s%9s %8s  %-10s %-3s ", indent, off, secs(s.Duration()), s.Kind, step)
	var what []string
	switch s.Kind {
	case trace.KindTool:
		call := clean(s.Tool) + "(" + excerpt(s.Args, 60) + ")"
		if s.Server != "" {
			call = clean(s.Server) + "/" + call
		}
		if s.Failed() {
			msg := s.Error
			if msg == "" {
				msg = s.Output
			}
			what = append(what, call+" ✗ "+clean(s.ErrorKind)+": "+excerpt(msg, 80))
		} else {
			what = append(what, call+" → "+excerpt(s.Output, 80))
		}
	default:
		what = append(what, clean(s.Model), fmt.Sprintf("%d in / %d out tokens", s.Usage.PromptTokens, s.Usage.CompletionTokens))
		if s.FinishReason != "" {
			what = append(what, "finish "+clean(s.FinishReason))
		}
		if s.ToolCalls > 0 {
			what = append(what, "asked "+plural(s.ToolCalls, "tool call"))
		}
		if s.Failed() {
			msg := s.Error // it names the kind
			if msg == "" {
				msg = s.ErrorKind
			}
			what = append(what, "✗ "+excerpt(msg, 120))
		}
	}
	var flags []string
	if s.Attempts > 1 {
		flags = append(flags, strconv.Itoa(s.Attempts)+" attempts")
	}
	if s.Cached {
		flags = append(flags, "cached")
	}
	if s.Truncated {
		flags = append(flags, "truncated")
	}
	line := strings.Join(what, ", ")
	if len(flags) > 0 {
		line += " [" + strings.Join(flags, ", ") + "]"
	}
	fmt.Fprintln(w, strings.TrimRight(line, " "))
	if !full {
		return
	}
	pad := indent + strings.Repeat(" ", 35)
	if s.Kind == trace.KindJudge && s.Input != "" {
		fmt.Fprintf(w, "%sprompt sent:\n", pad)
		body(w, pad+"  ", s.Input)
	}
	if s.Output != "" && (s.Kind == trace.KindJudge || strings.Contains(s.Output, "\n") || utf8.RuneCountInString(s.Output) > 80) {
		label := "output:"
		if s.Kind == trace.KindJudge {
			label = "reply:"
		}
		fmt.Fprintf(w, "%s%s\n", pad, label)
		body(w, pad+"  ", s.Output)
	}
}

// verdictText is a verdict in a few words.
func verdictText(fb scorers.Feedback) string {
	var parts []string
	switch {
	case fb.Skipped:
		parts = append(parts, "skipped")
	case fb.Err != "":
		parts = append(parts, "error: "+excerpt(fb.Err, 120))
	default:
		value := ""
		switch v := fb.Value.(type) {
		case nil:
		case float64:
			value = strconv.FormatFloat(v, 'g', 4, 64)
		default:
			value = clean(fmt.Sprint(v))
		}
		if fb.Pass != nil {
			out := "fail"
			if *fb.Pass {
				out = "pass"
			}
			if value != "" && value != "true" && value != "false" {
				out += " (" + value + ")"
			}
			parts = append(parts, out)
		} else if value != "" {
			parts = append(parts, value)
		}
	}
	if fb.JudgeModel != "" {
		parts = append(parts, "judge "+clean(fb.JudgeModel)+fmt.Sprintf(", %d in / %d out tokens", fb.Usage.PromptTokens, fb.Usage.CompletionTokens))
	}
	s := strings.Join(parts, ", ")
	if fb.Rationale != "" {
		s += ": " + excerpt(fb.Rationale, 100)
	}
	return s
}

// body prints text whole, each line indented, without control characters.
func body(w io.Writer, indent, s string) {
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintf(w, "%s%s\n", indent, clean(line))
	}
}

// excerpt is the first line of s, without control characters, cut to n
// runes with an ellipsis (and one when more lines follow).
func excerpt(s string, n int) string {
	s = strings.TrimSpace(s)
	line, rest, more := strings.Cut(s, "\n")
	line = clean(strings.TrimRight(line, "\r"))
	if utf8.RuneCountInString(line) > n {
		r := []rune(line)
		return string(r[:n-1]) + "…"
	}
	if more && strings.TrimSpace(rest) != "" {
		return line + " …"
	}
	return line
}

// ansiEscape matches a terminal escape sequence: CSI (ESC [ ... final),
// OSC (ESC ] ... BEL or ESC \\), or ESC and one character.
var ansiEscape = regexp.MustCompile(`\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-_])`)

// clean drops terminal escape sequences and control characters (a model's
// or a tool's output must not drive the terminal), tabs becoming spaces.
func clean(s string) string {
	s = ansiEscape.ReplaceAllString(s, "")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case unicode.IsControl(r) || r == utf8.RuneError:
			return -1
		}
		return r
	}, s)
}

// plural is "1 noun" or "n nouns".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// secs formats a duration in seconds with milliseconds.
func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}

// cellSpan is the wall time from a cell's first call to its last's end.
func cellSpan(steps []trace.Span) time.Duration {
	start, end := steps[0].Start, steps[0].End
	for _, s := range steps {
		if s.Start.Before(start) {
			start = s.Start
		}
		if s.End.After(end) {
			end = s.End
		}
	}
	return end.Sub(start)
}
