package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
)

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
		Long: `For every variant × scorer that both runs have (variants paired by label, else by prompt name, model and parameters), compare B against A paired by question:
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
