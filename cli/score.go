package cli

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/scorers"
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
	f.StringVar(&opts.Store, "store", "", "run store (default: $EVALCTL_STORE, or .evalctl/evalctl.db beside the config)")
	f.StringSliceVarP(&opts.Scorers, "scorers", "s", nil, "scorers of the config to run, comma-separated (default: all)")
	f.StringVar(&opts.Judge, "judge", "", "judge model for LLM scorers (default: the config's)")
	f.IntVarP(&opts.Concurrency, "concurrency", "j", config.DefaultConcurrency, "LLM calls in flight")
	f.BoolVar(&opts.NoCache, "no-cache", false, "ask the judge even when the response cache has its verdict")
	return cmd
}

func scoreRun(a *app, opts *ScoreOptions, judgeSet bool) error {
	ro := &RunOptions{ConfigPath: opts.ConfigPath, Judge: opts.Judge, Concurrency: opts.Concurrency}
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
	gate := eval.NewGate(cfg.Concurrency)
	ps := newProviders(a, cfg, gate)
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
	for _, s := range selected {
		if !slices.Contains(order, s.Name()) {
			order = append(order, s.Name())
		}
	}
	if err := st.SetScorers(ctx, run, order); err != nil {
		return err
	}
	fmt.Fprintf(a.io.Stderr, "evalctl: scoring run %s: %d answers × %d scorers\n", run.ID, run.Done-run.GenErrors, len(selected))

	// Pairwise scorers compare each answer with its baseline's: the same row
	// and repeat. Results stream in cell order, a row's cells together, so
	// they are scored a row at a time and a row's baselines are at hand.
	var bases map[string]*eval.Result
	pairKey := func(ps scorers.PairScorer, r *eval.Result) (key string, isBase bool) {
		prompt, model := ps.Baseline()
		if prompt != "" {
			return ps.Name() + "\x00" + r.Row.ID + "\x00" + strconv.Itoa(r.Repeat) + "\x00" + r.Model.Ref.String(), r.Prompt.Name == prompt
		}
		return ps.Name() + "\x00" + r.Row.ID + "\x00" + strconv.Itoa(r.Repeat) + "\x00" + r.Prompt.Name, r.Model.Ref.String() == model
	}
	sampleOf := func(r *eval.Result) scorers.Sample {
		return scorers.Sample{RowID: r.Row.ID, Vars: r.Row.Vars, Prompt: r.Prompt.Name, Model: r.Model.Ref.String(),
			System: r.System, Input: r.Input, Answer: r.Answer, Latency: r.Latency, Usage: r.Usage}
	}

	sigCtx, stop := a.io.Context()
	defer stop()
	sink := st.Sink(run.ID)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(sigCtx)
	g.SetLimit(2*cfg.Concurrency + 2)
	start, done, scoreErrs := time.Now(), 0, 0
	scoreRow := func(results []eval.Result) {
		bases = map[string]*eval.Result{}
		for i := range results {
			for _, s := range selected {
				if ps, ok := s.(scorers.PairScorer); ok {
					if k, isBase := pairKey(ps, &results[i]); isBase {
						bases[k] = &results[i]
					}
				}
			}
		}
		bases := bases
		for _, r := range results {
			if r.Err != nil {
				continue
			}
			g.Go(func() error {
				sample := sampleOf(&r)
				fresh := make([]scorers.Feedback, len(selected))
				var wg sync.WaitGroup
				for i, s := range selected {
					wg.Go(func() {
						if ps, ok := s.(scorers.PairScorer); ok {
							k, isBase := pairKey(ps, &r)
							switch base := bases[k]; {
							case isBase:
								fresh[i] = scorers.Feedback{Skipped: true, Rationale: "the baseline of this comparison"}
							case base == nil:
								fresh[i] = scorers.Feedback{Err: "the baseline cell is not in the run"}
							case base.Err != nil:
								fresh[i] = scorers.Feedback{Err: "the baseline's answer is missing: its generation failed"}
							default:
								fresh[i] = ps.ScorePair(gctx, sampleOf(base), sample)
							}
						} else {
							fresh[i] = s.Score(gctx, sample)
						}
						fresh[i].Scorer = s.Name()
					})
				}
				wg.Wait()
				if gctx.Err() != nil {
					return gctx.Err() // interrupted: keep what was stored
				}
				merged := make([]scorers.Feedback, 0, len(order))
				for _, name := range order {
					fb, ok := pickFeedback(fresh, name)
					if !ok {
						if fb, ok = pickFeedback(r.Feedback, name); ok {
							fb.Reused = true
						}
					}
					if ok {
						merged = append(merged, fb)
					}
				}
				r.Feedback, r.Resumed = merged, true
				mu.Lock()
				defer mu.Unlock()
				for _, fb := range fresh {
					if fb.Err != "" {
						scoreErrs++
					}
				}
				done++
				return sink.Put(r)
			})
		}
	}
	var row []eval.Result
	rerr := st.EachResult(gctx, run, true, func(r eval.Result) error {
		if len(row) > 0 && row[0].Row.ID != r.Row.ID {
			scoreRow(row)
			row = nil
		}
		row = append(row, r)
		return gctx.Err()
	})
	if rerr == nil && len(row) > 0 {
		scoreRow(row)
	}
	werr := g.Wait()
	if werr == nil && rerr != nil && sigCtx.Err() == nil {
		werr = rerr
	}
	if err := st.Flush(); err != nil {
		return err
	}
	if sigCtx.Err() != nil {
		return exitErr(ExitInterrupted, fmt.Errorf("interrupted: %d answers scored", done), "")
	}
	if werr != nil {
		return werr
	}
	fmt.Fprintf(a.io.Stderr, "evalctl: scored %d answers in %s, %d LLM calls, %d scorer errors\n",
		done, time.Since(start).Round(10*time.Millisecond), gate.Calls(), scoreErrs)
	stored, err := st.Run(ctx, run.ID)
	if err != nil {
		return err
	}
	cmp, err := compareStored(st, stored)
	if err != nil {
		return err
	}
	return reports.WriteTable(a.io.Stdout, cmp)
}

func pickFeedback(list []scorers.Feedback, name string) (scorers.Feedback, bool) {
	for _, fb := range list {
		if fb.Scorer == name {
			return fb, true
		}
	}
	return scorers.Feedback{}, false
}
