package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
)

// ReportOptions are the inputs of `evalctl report`.
type ReportOptions struct {
	StoreOptions
	// Assessment picks the scoring pass whose verdicts are read (0: latest).
	Assessment int
	Run        string
	Format     string
	Output     string
	// Out, when set, is a directory to write every report into, as run
	// --out does.
	Out    string
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
		Example: "  evalctl report last\n  evalctl report 20261122-2210 --format csv -o feedback.csv\n  evalctl report last --out out   # every report, as run --out writes them",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Run = "last"
			if len(args) == 1 {
				opts.Run = args[0]
			}
			if !slices.Contains(reportFormats, opts.Format) {
				return usageErr("--format %q: want one of %s", opts.Format, strings.Join(reportFormats, ", "))
			}
			if opts.Out != "" && (cmd.Flags().Changed("format") || opts.Output != "") {
				return usageErr("--out writes every report; drop --format and -o")
			}
			if opts.CSVRaw && opts.Out == "" && !strings.HasPrefix(opts.Format, "csv") {
				return usageErr("--csv-raw applies to --format csv and csv-wide, not %s", opts.Format)
			}
			if runF != nil {
				return runF(opts)
			}
			return reportRun(a, opts)
		},
	}
	addStoreFlags(cmd, &opts.StoreOptions)
	cmd.Flags().IntVar(&opts.Assessment, "assessment", 0, assessmentHelp)
	cmd.Flags().StringVarP(&opts.Format, "format", "f", "table", "table, csv, csv-wide, json, junit, md or html")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write to this file (atomically) instead of stdout")
	cmd.Flags().StringVar(&opts.Out, "out", "", "write every report into this directory (answers.csv, feedback.csv, scores.csv, report.json, junit.xml, summary.md, table.txt, report.html)")
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
	if err := atAssessment(st, run, opts.Assessment); err != nil {
		return err
	}
	cmp, err := compareStored(st, run)
	if err != nil {
		return err
	}
	if opts.Out != "" {
		if err := checkWritable(opts.Out); err != nil {
			return exitErr(ExitUsage, fmt.Errorf("output directory %s: %w", opts.Out, err), "")
		}
		names, err := writeOut(opts.Out, run, eachStored(ctx, st, run), cmp, reports.CSVOptions{Raw: opts.CSVRaw})
		if err != nil {
			return err
		}
		fmt.Fprintf(a.io.Stderr, "evalctl: wrote %s in %s\n", strings.Join(names, ", "), opts.Out)
		return nil
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
// The reports that list answers share one read of the store and are
// written side by side (reports.Broadcast).
func writeOut(dir string, run *store.Run, results reports.Each, cmp *reports.Comparison, csvOpts reports.CSVOptions) ([]string, error) {
	names := []string{"answers.csv", "feedback.csv"}
	file := func(name string, write func(io.Writer, reports.Each) error) func(reports.Each) error {
		return func(each reports.Each) error {
			return reports.WriteFileAtomic(filepath.Join(dir, name), func(w io.Writer) error { return write(w, each) })
		}
	}
	streaming := []func(reports.Each) error{
		file("answers.csv", func(w io.Writer, each reports.Each) error {
			return reports.WriteAnswersCSV(w, run.Spec.Layout.Columns, each, csvOpts)
		}),
		file("feedback.csv", func(w io.Writer, each reports.Each) error { return reports.WriteFeedbackCSV(w, each, csvOpts) }),
	}
	for _, f := range outFiles {
		names = append(names, f.name)
		if !perAnswer[f.format] {
			if err := reports.WriteFileAtomic(filepath.Join(dir, f.name), renderer(f.format, run, results, cmp, csvOpts)); err != nil {
				return nil, err
			}
			continue
		}
		streaming = append(streaming, file(f.name, func(w io.Writer, each reports.Each) error {
			return renderer(f.format, run, each, cmp, csvOpts)(w)
		}))
	}
	if err := reports.Broadcast(results, streaming...); err != nil {
		return nil, err
	}
	return names, nil
}

// perAnswer are the formats that list every answer (the others need only
// the comparison).
var perAnswer = map[string]bool{"csv": true, "csv-wide": true, "junit": true, "html": true}

func reportMeta(r *store.Run) reports.RunMeta {
	return reports.RunMeta{ID: r.ID, Name: r.Name, Tags: r.Tags, Status: string(r.Status), StartedAt: r.StartedAt,
		EndedAt: r.EndedAt, GitCommit: r.GitCommit, GitDirty: r.GitDirty, DatasetPath: r.DatasetPath,
		DatasetHash: r.DatasetHash, Version: r.Version}
}
