package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
)

// LabelsOptions are the inputs of `evalctl judge labels import|export`.
type LabelsOptions struct {
	StoreOptions
	Run    string
	File   string
	Author string
	Out    string
}

func newCmdLabels(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "labels",
		Short: "Import and export the human labels stored with a run (CSV)",
		Long: `People label answers in evalctl view; the labels are stored with the run, with their author
and time, and evalctl judge calibrate reads them. A CSV of labels (row_id, prompt, model, scorer,
label, and optionally repeat, variant, comment, author) moves them in and out.`,
	}
	imp := &LabelsOptions{}
	importCmd := &cobra.Command{
		Use:   "import FILE [RUN]",
		Short: "Store the labels of a CSV file with a run's answers (default: the last run)",
		Long: `Store the labels of a CSV file (row_id, prompt, model, scorer, label, and optionally repeat,
variant, comment, author) with the answers of a stored run (default: the last run), as new
entries: nothing stored is changed, and a label equal to the answer's latest is not added again.
Labels of answers the run does not hold are counted and left out; a label that two variants of
the run could own (a sweep of one prompt and model) needs the variant column.

` + exitCodesHelp,
		Example: "  evalctl judge labels import human.csv last --author ann",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			imp.File, imp.Run = args[0], "last"
			if len(args) == 2 {
				imp.Run = args[1]
			}
			if imp.Author == "" {
				imp.Author = a.io.getenv("USER")
			}
			return importLabels(a, imp)
		},
	}
	addStoreFlags(importCmd, &imp.StoreOptions)
	importCmd.Flags().StringVar(&imp.Author, "author", "", "author of the labels without an author column (default $USER)")
	exp := &LabelsOptions{}
	exportCmd := &cobra.Command{
		Use:   "export [RUN]",
		Short: "Write a run's labels as CSV (the latest of each answer and criterion)",
		Long: `Write the labels stored with a run (default: the last run), the latest of each answer and
criterion that has a verdict, as CSV: row_id, prompt, model, repeat, variant, scorer, label,
comment, author, labelled_at. The file reads back with import and with judge calibrate
--labels; its texts are written as they are (no spreadsheet escaping).

` + exitCodesHelp,
		Example: "  evalctl judge labels export last -o human.csv",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			exp.Run = "last"
			if len(args) == 1 {
				exp.Run = args[0]
			}
			return exportLabels(a, exp)
		},
	}
	addStoreFlags(exportCmd, &exp.StoreOptions)
	exportCmd.Flags().StringVarP(&exp.Out, "out", "o", "", "write to this file (atomically) instead of stdout")
	cmd.AddCommand(importCmd, exportCmd)
	return cmd
}

func importLabels(a *app, opts *LabelsOptions) error {
	labels, err := readLabels(opts.File)
	if err != nil {
		return exitErr(ExitUsage, err, "")
	}
	st, err := opts.open(a)
	if err != nil {
		return err
	}
	defer st.Close()
	run, err := findRun(st, opts.Run, false)
	if err != nil {
		return err
	}
	ctx := context.Background()
	variants := run.Spec.Layout.AllVariants()
	names := eval.Labels(variants)
	latest := map[string]store.Label{}
	stored, err := st.Labels(ctx, run.ID)
	if err != nil {
		return err
	}
	labelKey := func(variant, row string, repeat int, criterion string) string {
		return fmt.Sprintf("%s\x00%s\x00%d\x00%s", variant, row, repeat, criterion)
	}
	for _, l := range stored {
		latest[labelKey(l.Variant, l.RowID, l.Repeat, l.Criterion)] = l
	}
	var add []*store.Label
	missing, same := 0, 0
	for _, l := range labels {
		var owners []eval.VariantSpec
		for _, v := range variants {
			if v.Prompt.Name == l.Prompt && v.Model.Ref == l.Model && (l.Variant == "" || l.Variant == v.ID || l.Variant == names[v.ID]) {
				owners = append(owners, v)
			}
		}
		if len(owners) > 1 {
			var ids []string
			for _, v := range owners {
				ids = append(ids, v.ID)
			}
			return usageErr("%s:%d: %s × %s is %d variants of run %s (%s): add a variant column naming one", opts.File, l.Line,
				l.Prompt, l.Model, len(owners), run.ID, strings.Join(ids, ", "))
		}
		if len(owners) == 0 {
			missing++
			continue
		}
		if !slices.Contains(run.Spec.Layout.Scorers, l.Scorer) {
			return usageErr("%s:%d: field scorer: run %s has no scorer %q (scorers: %s)", opts.File, l.Line, run.ID, l.Scorer, strings.Join(run.Spec.Layout.Scorers, ", "))
		}
		v := owners[0]
		idx, err := st.CellIndex(ctx, run, v.ID, l.Row, l.Repeat)
		if errors.Is(err, store.ErrNoCell) {
			missing++
			continue
		} else if err != nil {
			return err
		}
		if rec, err := st.Cell(ctx, run, idx); err != nil {
			return err
		} else if rec.Err != nil {
			missing++ // no answer to label
			continue
		}
		value := passFail(l.Pass)
		if prev, ok := latest[labelKey(v.ID, l.Row, l.Repeat, l.Scorer)]; ok && prev.Value == value && prev.Comment == l.Comment {
			same++
			continue
		}
		author := l.Author
		if author == "" {
			author = opts.Author
		}
		if author == "" {
			author = "anonymous"
		}
		add = append(add, &store.Label{Variant: v.ID, RowID: l.Row, Repeat: l.Repeat, Criterion: l.Scorer, Value: value,
			Comment: l.Comment, Author: author, Source: "import"})
	}
	if len(add) > 0 {
		if err := st.AddLabels(ctx, run, add); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.io.Stderr, "evalctl: %d labels of %s stored with run %s", len(add), opts.File, run.ID)
	if same > 0 {
		fmt.Fprintf(a.io.Stderr, "; %d equal to the answer's latest label, not added again", same)
	}
	if missing > 0 {
		fmt.Fprintf(a.io.Stderr, "; %d of answers the run does not hold (or that failed), left out", missing)
	}
	fmt.Fprintln(a.io.Stderr)
	return nil
}

func exportLabels(a *app, opts *LabelsOptions) error {
	st, err := opts.open(a)
	if err != nil {
		return err
	}
	defer st.Close()
	run, err := findRun(st, opts.Run, false)
	if err != nil {
		return err
	}
	labels, err := st.Labels(context.Background(), run.ID)
	if err != nil {
		return err
	}
	specs := map[string]eval.VariantSpec{}
	for _, v := range run.Spec.Layout.AllVariants() {
		specs[v.ID] = v
	}
	write := func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write([]string{"row_id", "prompt", "model", "repeat", "variant", "scorer", "label", "comment", "author", "labelled_at"})
		for _, l := range labels {
			if l.Value == "" {
				continue // a comment without a verdict
			}
			v := specs[l.Variant]
			cw.Write([]string{l.RowID, v.Prompt.Name, v.Model.Ref, strconv.Itoa(l.Repeat), l.Variant, l.Criterion, l.Value, l.Comment,
				l.Author, l.CreatedAt.UTC().Format(time.RFC3339)})
		}
		cw.Flush()
		return cw.Error()
	}
	if opts.Out == "" {
		return write(a.io.Stdout)
	}
	if err := reports.WriteFileAtomic(opts.Out, write); err != nil {
		return exitErr(ExitUsage, err, "")
	}
	return nil
}
