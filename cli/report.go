package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
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

Formats (--format; --out DIR writes each into its file):
` + formatsHelp(),
		Example: "  evalctl report last\n  evalctl report 20261122-2210 --format csv -o feedback.csv\n  evalctl report last --out out   # every report, as run --out writes them",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Run = "last"
			if len(args) == 1 {
				opts.Run = args[0]
			}
			if formatNamed(opts.Format) == nil {
				return usageErr("--format %q: want one of %s", opts.Format, strings.Join(formatNames(), ", "))
			}
			if opts.Out != "" && (cmd.Flags().Changed("format") || opts.Output != "") {
				return usageErr("--out writes every report; drop --format and -o")
			}
			if opts.CSVRaw && opts.Out == "" && !strings.HasSuffix(formatNamed(opts.Format).file, ".csv") {
				return usageErr("--csv-raw applies to the CSV formats (answers, csv, csv-wide), not %s", opts.Format)
			}
			if runF != nil {
				return runF(opts)
			}
			return reportRun(a, opts)
		},
	}
	addStoreFlags(cmd, &opts.StoreOptions)
	cmd.Flags().IntVar(&opts.Assessment, "assessment", 0, assessmentHelp)
	cmd.Flags().StringVarP(&opts.Format, "format", "f", "table", strings.Join(formatNames(), ", "))
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
	render := formatNamed(opts.Format).renderer(run, eachStored(ctx, st, run), cmp, reports.CSVOptions{Raw: opts.CSVRaw})
	if opts.Output == "" {
		return render(a.io.Stdout)
	}
	return reports.WriteFileAtomic(opts.Output, render)
}

// csvRawHelp documents --csv-raw wherever a command writes CSV.
const csvRawHelp = "write CSV cells as they are, for programs; without it a text cell starting with =, +, -, @, tab or CR gets a leading ' so that spreadsheets do not run it as a formula (OWASP)"

// reportFormat is one report: its --format name, the file that --out
// writes, what it holds, and its writer. The registry below drives
// --format, --out and the help text: a new report is one entry.
type reportFormat struct {
	name, file, help string
	// perAnswer is set for reports that list every answer (they read the
	// store); the others need only the comparison.
	perAnswer bool
	write     func(w io.Writer, run *store.Run, results reports.Each, cmp *reports.Comparison, csv reports.CSVOptions) error
}

var reportFormats = []reportFormat{
	{name: "answers", file: "answers.csv", perAnswer: true, help: "one row per answer: ids, variant, rendered prompts, answer, tokens, latency, error, the dataset's columns",
		write: func(w io.Writer, run *store.Run, results reports.Each, _ *reports.Comparison, o reports.CSVOptions) error {
			return reports.WriteAnswersCSV(w, run.Spec.Layout, results, o)
		}},
	{name: "csv", file: "feedback.csv", perAnswer: true, help: "long: one row per answer × scorer, with values, rationales and judge replies",
		write: func(w io.Writer, _ *store.Run, results reports.Each, _ *reports.Comparison, o reports.CSVOptions) error {
			return reports.WriteFeedbackCSV(w, results, o)
		}},
	{name: "csv-wide", file: "scores.csv", perAnswer: true, help: "one row per answer, a column per scorer",
		write: func(w io.Writer, run *store.Run, results reports.Each, _ *reports.Comparison, o reports.CSVOptions) error {
			return reports.WriteWideCSV(w, run.Spec.Layout, results, o)
		}},
	{name: "json", file: "report.json", help: "the comparison with counts, rates and intervals (reports/schema/report.schema.json)",
		write: func(w io.Writer, run *store.Run, _ reports.Each, cmp *reports.Comparison, _ reports.CSVOptions) error {
			return reports.WriteJSON(w, reportMeta(run), cmp)
		}},
	{name: "junit", file: "junit.xml", perAnswer: true, help: "a test suite per variant, a test case per question × scorer",
		write: func(w io.Writer, run *store.Run, results reports.Each, _ *reports.Comparison, _ reports.CSVOptions) error {
			return reports.WriteJUnit(w, run.ID, run.Spec.Layout, results)
		}},
	{name: "table", file: "table.txt", help: "the terminal comparison",
		write: func(w io.Writer, _ *store.Run, _ reports.Each, cmp *reports.Comparison, _ reports.CSVOptions) error {
			return reports.WriteTable(w, cmp)
		}},
	{name: "md", file: "summary.md", help: "a Markdown summary for $GITHUB_STEP_SUMMARY or a pull-request comment",
		write: func(w io.Writer, run *store.Run, _ reports.Each, cmp *reports.Comparison, _ reports.CSVOptions) error {
			return reports.WriteMarkdown(w, reportMeta(run), cmp)
		}},
	{name: "html", file: "report.html", perAnswer: true, help: "a self-contained page: heatmaps with intervals, charts, every answer with filters and a drill-down; works offline",
		write: func(w io.Writer, run *store.Run, results reports.Each, cmp *reports.Comparison, _ reports.CSVOptions) error {
			return reports.WriteHTML(w, reportMeta(run), run.Spec.Layout, results, cmp)
		}},
}

func formatNamed(name string) *reportFormat {
	for i := range reportFormats {
		if reportFormats[i].name == name {
			return &reportFormats[i]
		}
	}
	return nil
}

func formatNames() []string {
	var out []string
	for _, f := range reportFormats {
		out = append(out, f.name)
	}
	return out
}

func formatsHelp() string {
	var b strings.Builder
	for _, f := range reportFormats {
		fmt.Fprintf(&b, "  %-9s %-13s %s\n", f.name, f.file, f.help)
	}
	return strings.TrimRight(b.String(), "\n")
}

// renderer returns the writer of the format for one run.
func (f *reportFormat) renderer(run *store.Run, results reports.Each, cmp *reports.Comparison, o reports.CSVOptions) func(io.Writer) error {
	return func(w io.Writer) error { return f.write(w, run, results, cmp, o) }
}

// eachStored streams a run's results from the store in cell order: the
// per-answer reports hold one result at a time.
func eachStored(ctx context.Context, st *store.Store, run *store.Run) reports.Each {
	return func(fn func(eval.Record) error) error { return st.EachRecord(ctx, run, true, fn) }
}

// writeOut writes every report of a run into dir, each file atomically.
// The reports that list answers share one read of the store and are
// written side by side (reports.Broadcast).
func writeOut(dir string, run *store.Run, results reports.Each, cmp *reports.Comparison, csvOpts reports.CSVOptions) ([]string, error) {
	var names []string
	var streaming []func(reports.Each) error
	for _, f := range reportFormats {
		names = append(names, f.file)
		path := filepath.Join(dir, f.file)
		if !f.perAnswer {
			if err := reports.WriteFileAtomic(path, f.renderer(run, results, cmp, csvOpts)); err != nil {
				return nil, err
			}
			continue
		}
		streaming = append(streaming, func(each reports.Each) error {
			return reports.WriteFileAtomic(path, f.renderer(run, each, cmp, csvOpts))
		})
	}
	if err := reports.Broadcast(results, streaming...); err != nil {
		return nil, err
	}
	return names, nil
}

func reportMeta(r *store.Run) reports.RunMeta {
	return reports.RunMeta{ID: r.ID, Name: r.Name, Tags: r.Tags, Status: string(r.Status), StartedAt: r.StartedAt,
		EndedAt: r.EndedAt, GitCommit: r.GitCommit, GitDirty: r.GitDirty, DatasetPath: r.DatasetPath,
		DatasetHash: r.DatasetHash, Version: r.Version}
}
