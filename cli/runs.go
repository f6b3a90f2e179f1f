package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
)

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
			fmt.Fprintf(w, "evalctl  %s\n", r.Version)
			as, err := st.Assessments(context.Background(), r.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "assessments (scoring passes; verdicts are never overwritten):\n")
			for _, x := range as {
				judge := ""
				if x.Judge != "" {
					judge = ", judge " + x.Judge
				}
				fmt.Fprintf(w, "  %d  %-5s %-11s %s  %s%s\n", x.ID, x.Kind, x.Status, x.StartedAt.Local().Format("2006-01-02 15:04"),
					strings.Join(x.Scorers, ", "), judge)
			}
			fmt.Fprintln(w)
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
