package cli

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/store"
)

// ScoreOptions are the inputs of `evalctl score`.
type ScoreOptions struct {
	ConfigPath  string
	Store       string
	Run         string
	Scorers     []string
	Judge       string
	Concurrency int
	NoCache     bool
}

// NewCmdScore returns `evalctl score`.
func NewCmdScore(a *app, runF func(*ScoreOptions) error) *cobra.Command {
	opts := &ScoreOptions{}
	cmd := &cobra.Command{
		Use:   "score [RUN]",
		Short: "Add or recompute scores on a stored run's answers, without asking the models again",
		Long: `Score the stored answers of a run (default: the last) with scorers from the current config:
new scorers are added to the run, and scorers it already has are computed again (with --judge, by
another judge model). Failed generations stay failed. The run's table is printed afterwards.`,
		Example: "  evalctl score last --scorers reference_to_definition --judge openai:gpt-4.1",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Run = "last"
			if len(args) == 1 {
				opts.Run = args[0]
			}
			if opts.Concurrency < 1 {
				return usageErr("-j/--concurrency must be at least 1 (got %d)", opts.Concurrency)
			}
			if runF != nil {
				return runF(opts)
			}
			return scoreRun(a, opts, cmd.Flags().Changed("judge"))
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.ConfigPath, "config", "c", "", "config with the scorers (default: evalctl.yaml here)")
	f.StringVar(&opts.Store, "store", "", "run store: a SQLite file or a postgres:// URL (default: $EVALCTL_STORE, or .evalctl/evalctl.db beside the config)")
	f.StringSliceVarP(&opts.Scorers, "scorers", "s", nil, "scorers of the config to run, comma-separated (default: all)")
	f.StringVar(&opts.Judge, "judge", "", "judge model for LLM scorers (default: the config's)")
	f.IntVarP(&opts.Concurrency, "concurrency", "j", config.DefaultConcurrency, "LLM calls in flight")
	f.BoolVar(&opts.NoCache, "no-cache", false, "ask the judge even when the response cache has its verdict")
	return cmd
}

func scoreRun(a *app, opts *ScoreOptions, judgeSet bool) error {
	ro := &RunOptions{ConfigPath: opts.ConfigPath, Judge: opts.Judge, Concurrency: opts.Concurrency, MaxErrorRate: config.DefaultMaxErrorRate}
	ro.set = func(n string) bool { return (n == "judge" && judgeSet) || n == "concurrency" }
	cfg, err := loadConfig(a, ro)
	if err != nil {
		return err
	}
	st, err := openStore(a, opts.Store, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	run, err := findRun(st, opts.Run, true)
	if err != nil {
		return err
	}

	// Build the selected scorers against the run's columns.
	limit := eval.NewCallLimit(cfg.Concurrency)
	ps := newProviders(a, cfg, limit)
	defer ps.Close()
	ps.cache = func(c llm.Client, endpoint string) llm.Client { return st.Cached(c, endpoint, !opts.NoCache, nil) }
	env := scorers.Env{Columns: run.Spec.Layout.Columns, BaseDir: cfg.Dir, Salt: st.Salt()}
	for _, p := range run.Spec.Layout.Prompts {
		env.Prompts = append(env.Prompts, p.Name)
	}
	for _, m := range run.Spec.Layout.Models {
		env.Models = append(env.Models, m.Ref)
	}
	if err := setJudge(ps, cfg, &env); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range trimAll(opts.Scorers) {
		want[n] = true
	}
	var selected []scorers.Scorer
	found := map[string]bool{}
	for _, sc := range cfg.Scorers {
		name := sc.Name
		if name == "" {
			name = sc.Type
		}
		if len(opts.Scorers) > 0 && !want[name] {
			continue
		}
		found[name] = true
		s, err := a.registry.Build(scorers.Spec{Name: sc.Name, Type: sc.Type, Where: fmt.Sprintf("%s:%d", cfg.Path, sc.Line), Decode: sc.Decode}, env)
		if err != nil {
			return exitErr(ExitUsage, err, "")
		}
		selected = append(selected, s)
	}
	var missing []string
	for n := range want {
		if !found[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return usageErr("no scorer named %s in %s", strings.Join(missing, ", "), cfg.Path)
	}
	if len(selected) == 0 {
		return usageErr("no scorers to run: %s defines none", cfg.Path)
	}

	order := append([]string(nil), run.Spec.Layout.Scorers...)
	var names []string
	for _, s := range selected {
		names = append(names, s.Name())
		if !slices.Contains(order, s.Name()) {
			order = append(order, s.Name())
		}
	}
	if err := st.SetScorers(ctx, run, order); err != nil {
		return err
	}
	judge := ""
	if cfg.Judge != nil {
		judge = cfg.Judge.Model
	}
	id, err := st.BeginAssessment(ctx, run.ID, names, judge, cfg.ScorersYAML(names...))
	if err != nil {
		return err
	}
	fmt.Fprintf(a.io.Stderr, "evalctl: scoring run %s (assessment %d): %d answers × %d scorers\n", run.ID, id, run.Done-run.GenErrors, len(selected))

	// The same runner as evalctl run, over the stored answers: pairing,
	// retries, limits and progress exist once. The new verdicts are an
	// assessment of their own; no earlier verdict is touched.
	plan, err := storedPlan(run, selected)
	if err != nil {
		return err
	}
	cells := newStoredCells(st, run, plan, true)
	defer cells.stop()
	sigCtx, stop := a.io.Context()
	defer stop()
	runCtx, abort := context.WithCancelCause(sigCtx)
	defer abort(nil)
	cells.abort = abort
	a.spending = true
	a.onPanic = append(a.onPanic, func() { st.EndAssessment(context.Background(), run.ID, id, eval.StatusInterrupted) })
	prog := newProgress(a.io.Stderr, a.io.StderrIsTerminal, limit.Calls, ps.pacing)
	runner := &eval.Runner{Limit: limit, Progress: prog.update, Stored: cells.all(), StoredTotal: run.Done, MaxErrorRate: cfg.MaxErrorRate}
	sum, err := runner.Run(runCtx, plan, st.AssessmentSink(run.ID, id))
	prog.done()
	if err != nil {
		return exitErr(ExitInternal, fmt.Errorf("scoring run %s stopped: %w", run.ID, err), "score it again: evalctl score "+run.ID)
	}
	if cells.err != nil {
		return exitErr(ExitInternal, fmt.Errorf("reading run %s's answers: %w", run.ID, cells.err), "")
	}
	if sum.Status == eval.StatusInterrupted {
		return exitErr(ExitInterrupted, fmt.Errorf("interrupted: assessment %d of run %s is incomplete; the run's columns keep their earlier verdicts", id, run.ID), "score it again: evalctl score "+run.ID)
	}
	fmt.Fprintf(a.io.Stderr, "evalctl: assessment %d of run %s %s: %d answers scored in %s, %d LLM calls, %d scorer errors\n",
		id, run.ID, sum.Status, sum.Done-sum.GenErrors, sum.Elapsed.Round(10*time.Millisecond), limit.Calls(), sum.ScorerErrors)
	stored, err := st.Run(ctx, run.ID)
	if err != nil {
		return err
	}
	cmp, err := compareStored(st, stored)
	if err != nil {
		return err
	}
	if err := reports.WriteTable(a.io.Stdout, cmp); err != nil {
		return err
	}
	if sum.Status != eval.StatusComplete {
		if over := sum.Errors(len(plan.Scorers)).Over(*cfg.MaxErrorRate); over != "" {
			return exitErr(ExitIncomplete, fmt.Errorf("assessment %d incomplete: %s; the run's columns keep their earlier verdicts", id, over), "score it again: evalctl score "+run.ID)
		}
	}
	return nil
}

// storedPlan is the plan of a stored run, for scoring its answers: its
// variants as recorded (no model is asked) and the given scorers.
func storedPlan(run *store.Run, selected []scorers.Scorer) (*eval.Plan, error) {
	lay := run.Spec.Layout
	plan := &eval.Plan{Dataset: &datasets.Dataset{Columns: lay.Columns}, Repeat: lay.Repeat, Scorers: selected, Prices: lay.Prices}
	for _, vs := range lay.AllVariants() {
		ref, err := llm.ParseModelRef(vs.Model.Ref)
		if err != nil {
			return nil, err
		}
		v := &eval.Variant{ID: vs.ID, Label: vs.Label, Prompt: &prompts.Template{Name: vs.Prompt.Name, Version: vs.Prompt.Version},
			Model: &eval.Model{Ref: ref, Params: vs.Model.Params}}
		if vs.System != nil {
			v.System = &prompts.Template{Name: vs.System.Name, Version: vs.System.Version}
		}
		plan.Variants = append(plan.Variants, v)
	}
	return plan, nil
}
