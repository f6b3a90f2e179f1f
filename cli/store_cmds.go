package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
)

// StoreOptions locate the run store for the commands that read it.
type StoreOptions struct {
	ConfigPath string
	Store      string
}

func addStoreFlags(cmd *cobra.Command, o *StoreOptions) {
	cmd.Flags().StringVarP(&o.ConfigPath, "config", "c", "", "config whose directory holds the store (default: evalctl.yaml here)")
	cmd.Flags().StringVar(&o.Store, "store", "", "run store (default: $EVALCTL_STORE, or .evalctl/evalctl.db beside the config)")
}

// open finds and opens the store without validating the rest of the config.
func (o *StoreOptions) open(a *app) (*store.Store, error) {
	var cfg *config.Config
	path := o.ConfigPath
	if path == "" && fileExists("evalctl.yaml") {
		path = "evalctl.yaml"
	}
	if path != "" && o.Store == "" && a.io.getenv("EVALCTL_STORE") == "" {
		if !fileExists(path) {
			return nil, usageErr("%s: config file not found", path)
		}
		cfg = &config.Config{Dir: dirOf(path)}
	}
	return openStore(a, o.Store, cfg)
}

func dirOf(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[:i]
	}
	return "."
}

// ReportOptions are the inputs of `evalctl report`.
type ReportOptions struct {
	StoreOptions
	Run    string
	Format string
	Output string
	CSVRaw bool
}

// NewCmdReport returns `evalctl report`.
func NewCmdReport(a *app, runF func(*ReportOptions) error) *cobra.Command {
	opts := &ReportOptions{}
	cmd := &cobra.Command{
		Use:   "report [RUN]",
		Short: "Render a stored run (default: the last one) without calling any model",
		Long: `Render a stored run as evalctl run printed it: the same table, built from the store alone.
RUN is a run id, a unique prefix of one, a run name, or 'last' (the default).

Formats: table (the terminal comparison), csv (long: one row per answer × scorer, with values and
rationales), csv-wide (one row per answer, a column per scorer), json (the comparison with counts
and rates), junit (a test suite per prompt × model, a test case per question × scorer), md (a
Markdown summary for $GITHUB_STEP_SUMMARY or a pull-request comment), html (a self-contained page:
heatmaps with intervals, charts, every answer with filters and a drill-down; works offline).`,
		Example: "  evalctl report last\n  evalctl report 20261122-2210 --format csv -o feedback.csv",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Run = "last"
			if len(args) == 1 {
				opts.Run = args[0]
			}
			if !slices.Contains(reportFormats, opts.Format) {
				return usageErr("--format %q: want one of %s", opts.Format, strings.Join(reportFormats, ", "))
			}
			if opts.CSVRaw && !strings.HasPrefix(opts.Format, "csv") {
				return usageErr("--csv-raw applies to --format csv and csv-wide, not %s", opts.Format)
			}
			if runF != nil {
				return runF(opts)
			}
			return reportRun(a, opts)
		},
	}
	addStoreFlags(cmd, &opts.StoreOptions)
	cmd.Flags().StringVarP(&opts.Format, "format", "f", "table", "table, csv, csv-wide, json, junit, md or html")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write to this file (atomically) instead of stdout")
	cmd.Flags().BoolVar(&opts.CSVRaw, "csv-raw", false, csvRawHelp)
	return cmd
}

func reportRun(a *app, opts *ReportOptions) error {
	st, err := opts.open(a)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	run, err := findRun(st, opts.Run, false)
	if err != nil {
		return err
	}
	cmp, err := compareStored(st, run)
	if err != nil {
		return err
	}
	render := renderer(opts.Format, run, eachStored(ctx, st, run), cmp, reports.CSVOptions{Raw: opts.CSVRaw})
	if opts.Output == "" {
		return render(a.io.Stdout)
	}
	return reports.WriteFileAtomic(opts.Output, render)
}

var reportFormats = []string{"table", "csv", "csv-wide", "json", "junit", "md", "html"}

// csvRawHelp documents --csv-raw wherever a command writes CSV.
const csvRawHelp = "write CSV cells as they are, for programs; without it a text cell starting with =, +, -, @, tab or CR gets a leading ' so that spreadsheets do not run it as a formula (OWASP)"

// renderer returns the writer of one report format.
func renderer(format string, run *store.Run, results reports.Each, cmp *reports.Comparison, csvOpts reports.CSVOptions) func(io.Writer) error {
	return func(w io.Writer) error {
		switch format {
		case "csv":
			return reports.WriteFeedbackCSV(w, results, csvOpts)
		case "csv-wide":
			return reports.WriteWideCSV(w, run.Spec.Layout, results, csvOpts)
		case "json":
			return reports.WriteJSON(w, reportMeta(run), cmp)
		case "junit":
			return reports.WriteJUnit(w, run.ID, run.Spec.Layout, results)
		case "md":
			return reports.WriteMarkdown(w, reportMeta(run), cmp)
		case "html":
			return reports.WriteHTML(w, reportMeta(run), run.Spec.Layout, results, cmp)
		}
		return reports.WriteTable(w, cmp)
	}
}

// eachStored streams a run's results from the store in cell order: the
// per-answer reports hold one result at a time.
func eachStored(ctx context.Context, st *store.Store, run *store.Run) reports.Each {
	return func(fn func(eval.Result) error) error { return st.EachResult(ctx, run, true, fn) }
}

// outFiles are the files `run --out DIR` writes, by report format.
var outFiles = []struct{ name, format string }{
	{"scores.csv", "csv-wide"}, {"report.json", "json"}, {"junit.xml", "junit"}, {"summary.md", "md"}, {"table.txt", "table"},
	{"report.html", "html"},
}

// writeOut writes every report of a run into dir, each file atomically.
func writeOut(dir string, run *store.Run, results reports.Each, cmp *reports.Comparison, csvOpts reports.CSVOptions) ([]string, error) {
	if err := reports.WriteCSVFiles(dir, run.Spec.Layout.Columns, results, csvOpts); err != nil {
		return nil, err
	}
	names := []string{"answers.csv", "feedback.csv"}
	for _, f := range outFiles {
		if err := reports.WriteFileAtomic(filepath.Join(dir, f.name), renderer(f.format, run, results, cmp, csvOpts)); err != nil {
			return nil, err
		}
		names = append(names, f.name)
	}
	return names, nil
}

func reportMeta(r *store.Run) reports.RunMeta {
	return reports.RunMeta{ID: r.ID, Name: r.Name, Tags: r.Tags, Status: string(r.Status), StartedAt: r.StartedAt,
		EndedAt: r.EndedAt, GitCommit: r.GitCommit, GitDirty: r.GitDirty, DatasetPath: r.DatasetPath,
		DatasetHash: r.DatasetHash, Version: r.Version}
}

func newCmdRuns(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "List, show and remove stored runs"}
	cmd.AddCommand(newCmdRunsList(a), newCmdRunsShow(a), newCmdRunsRm(a))
	return cmd
}

// RunsListOptions are the inputs of `evalctl runs list`.
type RunsListOptions struct {
	StoreOptions
	JSON bool
}

func newCmdRunsList(a *app) *cobra.Command {
	opts := &RunsListOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List stored runs, newest first (a table on a terminal, TSV when piped, or --json)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := opts.open(a)
			if err != nil {
				return err
			}
			defer st.Close()
			runs, err := st.Runs(context.Background())
			if err != nil {
				return err
			}
			if opts.JSON {
				return writeRunsJSON(a.io.Stdout, runs)
			}
			header := []string{"id", "name", "status", "started", "cells", "gen errors", "verdict errors", "prompts", "models", "tags"}
			var rows [][]string
			for _, r := range runs {
				var ps, ms []string
				for _, v := range r.Spec.Layout.AllVariants() {
					if p := v.Prompt.Name + "@" + v.Prompt.Version; !slices.Contains(ps, p) {
						ps = append(ps, p)
					}
					if !slices.Contains(ms, v.Model.Ref) {
						ms = append(ms, v.Model.Ref)
					}
				}
				rows = append(rows, []string{r.ID, r.Name, string(r.Status), r.StartedAt.Local().Format("2006-01-02 15:04"),
					fmt.Sprintf("%d/%d", r.Done, r.Planned), fmt.Sprint(r.GenErrors), fmt.Sprint(r.VerdictErrors), strings.Join(ps, ","), strings.Join(ms, ","), tagText(r.Tags)})
			}
			return writeListing(a, header, rows)
		},
	}
	addStoreFlags(cmd, &opts.StoreOptions)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func tagText(tags map[string]string) string {
	var parts []string
	for k, v := range tags {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

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

type runJSON struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Tags      map[string]string `json:"tags"`
	Status    string            `json:"status"`
	StartedAt time.Time         `json:"started_at"`
	EndedAt   *time.Time        `json:"ended_at"`
	Planned   int               `json:"cells_planned"`
	Done      int               `json:"cells_done"`
	GenErrors int               `json:"generation_errors"`
	// VerdictErrors are judge, scorer and parse errors.
	VerdictErrors int    `json:"verdict_errors"`
	GitCommit     string `json:"git_commit"`
	GitDirty      bool   `json:"git_dirty"`
	Dataset       string `json:"dataset"`
	Hash          string `json:"dataset_sha256"`
	Version       string `json:"evalctl_version"`
	Layout        any    `json:"layout"`
}

func toRunJSON(r *store.Run) runJSON {
	j := runJSON{ID: r.ID, Name: r.Name, Tags: r.Tags, Status: string(r.Status), StartedAt: r.StartedAt.UTC(), Planned: r.Planned,
		Done: r.Done, GenErrors: r.GenErrors, VerdictErrors: r.VerdictErrors, GitCommit: r.GitCommit, GitDirty: r.GitDirty, Dataset: r.DatasetPath,
		Hash: r.DatasetHash, Version: r.Version, Layout: r.Spec.Layout}
	if !r.EndedAt.IsZero() {
		e := r.EndedAt.UTC()
		j.EndedAt = &e
	}
	return j
}

func writeRunsJSON(w io.Writer, runs []*store.Run) error {
	out := make([]runJSON, 0, len(runs))
	for _, r := range runs {
		out = append(out, toRunJSON(r))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func newCmdRunsShow(a *app) *cobra.Command {
	opts := &RunsListOptions{}
	cmd := &cobra.Command{
		Use:   "show [RUN]",
		Short: "Show a run's record and its comparison table (default: the last run)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := "last"
			if len(args) == 1 {
				ref = args[0]
			}
			st, err := opts.open(a)
			if err != nil {
				return err
			}
			defer st.Close()
			r, err := findRun(st, ref, false)
			if err != nil {
				return err
			}
			if opts.JSON {
				enc := json.NewEncoder(a.io.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(toRunJSON(r))
			}
			w := a.io.Stdout
			fmt.Fprintf(w, "run      %s\n", r.ID)
			if r.Name != "" {
				fmt.Fprintf(w, "name     %s\n", r.Name)
			}
			if len(r.Tags) > 0 {
				fmt.Fprintf(w, "tags     %s\n", tagText(r.Tags))
			}
			fmt.Fprintf(w, "status   %s\n", r.Status)
			fmt.Fprintf(w, "started  %s\n", r.StartedAt.Local().Format(time.RFC3339))
			if !r.EndedAt.IsZero() {
				fmt.Fprintf(w, "ended    %s (%s)\n", r.EndedAt.Local().Format(time.RFC3339), r.EndedAt.Sub(r.StartedAt).Round(time.Second))
			}
			fmt.Fprintf(w, "cells    %d of %d (%d generation errors, %d verdict errors)\n", r.Done, r.Planned, r.GenErrors, r.VerdictErrors)
			fmt.Fprintf(w, "dataset  %s (sha256 %s)\n", r.DatasetPath, short(r.DatasetHash, 12))
			if r.GitCommit != "" {
				dirty := ""
				if r.GitDirty {
					dirty = " (uncommitted changes)"
				}
				fmt.Fprintf(w, "git      %s%s\n", short(r.GitCommit, 12), dirty)
			}
			fmt.Fprintf(w, "evalctl  %s\n\n", r.Version)
			cmp, err := compareStored(st, r)
			if err != nil {
				return err
			}
			return reports.WriteTable(w, cmp)
		},
	}
	addStoreFlags(cmd, &opts.StoreOptions)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func newCmdRunsRm(a *app) *cobra.Command {
	opts := &StoreOptions{}
	cmd := &cobra.Command{
		Use:   "rm RUN...",
		Short: "Remove runs and everything recorded under them",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := opts.open(a)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := context.Background()
			for _, ref := range args {
				r, err := findRun(st, ref, true)
				if err != nil {
					return err
				}
				if err := st.DeleteRun(ctx, r.ID); err != nil {
					return err
				}
				fmt.Fprintf(a.io.Stderr, "evalctl: removed run %s\n", r.ID)
			}
			return nil
		},
	}
	addStoreFlags(cmd, opts)
	return cmd
}

func newCmdPrompts(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prompts",
		Short: "The prompt registry: every template version a run used, with aliases",
		Long: `Every run records the versions (content hashes) of the templates it used.
Refer to a stored version as NAME@VERSION, NAME@ALIAS or NAME@latest, also in
evalctl run --prompts basic@production.`,
	}
	opts := &StoreOptions{}
	list := &cobra.Command{
		Use:   "list [NAME]",
		Short: "List stored template versions, newest first",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			st, err := opts.open(a)
			if err != nil {
				return err
			}
			defer st.Close()
			vs, err := st.PromptVersions(context.Background(), name)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, v := range vs {
				first := strings.SplitN(v.Text, "\n", 2)[0]
				rows = append(rows, []string{v.Name, v.Version, strings.Join(v.Aliases, ","), v.CreatedAt.Local().Format("2006-01-02 15:04"), short(first, 50)})
			}
			return writeListing(a, []string{"name", "version", "aliases", "first used", "first line"}, rows)
		},
	}
	show := &cobra.Command{
		Use:   "show NAME[@VERSION|@ALIAS]",
		Short: "Print a stored template version (default: latest)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := opts.open(a)
			if err != nil {
				return err
			}
			defer st.Close()
			name, ref, _ := strings.Cut(args[0], "@")
			v, err := st.PromptVersion(context.Background(), name, ref)
			if err != nil {
				return exitErr(ExitUsage, err, "")
			}
			_, err = io.WriteString(a.io.Stdout, v.Text)
			return err
		},
	}
	diff := &cobra.Command{
		Use:   "diff NAME@A NAME@B",
		Short: "Show a unified diff between two stored template versions",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := opts.open(a)
			if err != nil {
				return err
			}
			defer st.Close()
			var texts, labels [2]string
			for i, arg := range args {
				name, ref, ok := strings.Cut(arg, "@")
				if !ok {
					return usageErr("%q: want NAME@VERSION or NAME@ALIAS", arg)
				}
				v, err := st.PromptVersion(context.Background(), name, ref)
				if err != nil {
					return exitErr(ExitUsage, err, "")
				}
				texts[i], labels[i] = v.Text, v.Name+"@"+v.Version
			}
			out, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
				A: difflib.SplitLines(texts[0]), B: difflib.SplitLines(texts[1]),
				FromFile: labels[0], ToFile: labels[1], Context: 3})
			if err != nil {
				return err
			}
			_, err = io.WriteString(a.io.Stdout, out)
			return err
		},
	}
	tag := &cobra.Command{
		Use:   "tag NAME@VERSION ALIAS",
		Short: "Point an alias (e.g. production) at a stored version",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, ref, ok := strings.Cut(args[0], "@")
			if !ok {
				return usageErr("%q: want NAME@VERSION", args[0])
			}
			st, err := opts.open(a)
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := st.TagPrompt(context.Background(), name, ref, args[1])
			if err != nil {
				return exitErr(ExitUsage, err, "")
			}
			fmt.Fprintf(a.io.Stderr, "evalctl: %s@%s is now %s@%s\n", v.Name, args[1], v.Name, v.Version)
			return nil
		},
	}
	for _, c := range []*cobra.Command{list, show, diff, tag} {
		addStoreFlags(c, opts)
		cmd.AddCommand(c)
	}
	return cmd
}

// CompareOptions are the inputs of `evalctl compare`.
type CompareOptions struct {
	StoreOptions
	A, B   string
	Format string
}

// NewCmdCompare returns `evalctl compare`.
func NewCmdCompare(a *app, runF func(*CompareOptions) error) *cobra.Command {
	opts := &CompareOptions{}
	cmd := &cobra.Command{
		Use:   "compare RUN_A RUN_B",
		Short: "Compare two stored runs question by question: differences, intervals, significance, regressions",
		Long: `For every prompt × model × scorer that both runs have, compare B against A paired by question:
the two pass rates (or means), B − A with a 95% paired-bootstrap interval, McNemar's exact test for
pass/fail scorers, and the questions that passed in A and fail in B. With fewer than 10 paired
questions no significance is claimed ("too few pairs"). Prompts are matched by name, so comparing
two versions of a prompt is comparing two runs.`,
		Example: "  evalctl compare baseline last",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.A, opts.B = args[0], args[1]
			if opts.Format != "table" && opts.Format != "json" {
				return usageErr("--format %q: want table or json", opts.Format)
			}
			if runF != nil {
				return runF(opts)
			}
			return compareRuns(a, opts)
		},
	}
	addStoreFlags(cmd, &opts.StoreOptions)
	cmd.Flags().StringVarP(&opts.Format, "format", "f", "table", "table or json")
	return cmd
}

func compareRuns(a *app, opts *CompareOptions) error {
	st, err := opts.open(a)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	var runs [2]*store.Run
	for i, ref := range []string{opts.A, opts.B} {
		if runs[i], err = findRun(st, ref, false); err != nil {
			return err
		}
	}
	rc, err := reports.CompareRuns(reportMeta(runs[0]), runs[0].Spec.Layout, eachStored(ctx, st, runs[0]),
		reportMeta(runs[1]), runs[1].Spec.Layout, eachStored(ctx, st, runs[1]))
	if err != nil {
		return err
	}
	if opts.Format == "json" {
		return reports.WriteCompareJSON(a.io.Stdout, rc)
	}
	return reports.WriteCompareTable(a.io.Stdout, rc)
}
