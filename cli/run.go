package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
)

// RunOptions are the inputs of `evalctl run`.
type RunOptions struct {
	ConfigPath   string
	Dataset      string
	PromptsDir   string
	Prompts      []string
	System       string
	Models       []string
	Judge        string
	Limit        int
	Concurrency  int
	Repeat       int
	Out          string
	MaxErrorRate float64
	Store        string
	Resume       string
	NoCache      bool
	Name         string
	Tags         []string
	MaxCost      float64
	DryRun       bool
	CSVRaw       bool
	Shard        string
	Group        string
	// Batch sends every provider's requests through its Batch API.
	Batch bool
	// Lease is how long a worker of a shared run holds its cells without
	// renewing them (PostgreSQL stores).
	Lease time.Duration
	GateFlags

	// set records which flags were given, to override the config.
	set func(name string) bool
}

// NewCmdRun returns `evalctl run`. runF, when not nil, replaces the behaviour
// (tests use it to check flag parsing alone).
func NewCmdRun(a *app, runF func(*RunOptions) error) *cobra.Command {
	opts := &RunOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Generate answers for every row × variant (prompt × model, or variants:), score them, and print the comparison",
		Long: `Run an evaluation: every dataset row is rendered into every selected prompt template,
sent to every model, and each answer is scored by every scorer in evalctl.yaml.

The configuration is read from --config, or evalctl.yaml in the working directory if there is one;
flags override it. Everything is validated before the first model call.

Model refs: openai:MODEL (OPENAI_API_KEY, OPENAI_BASE_URL), azure:DEPLOYMENT (AZURE_OPENAI_ENDPOINT,
AZURE_OPENAI_API_KEY), ollama:MODEL (OLLAMA_HOST), sim:NAME (the built-in simulator, offline), or
NAME:MODEL for a provider defined in evalctl.yaml.

` + exitCodesHelp,
		Example: `  evalctl run --config examples/se-quiz/evalctl.yaml --models sim:a,sim:b --judge sim:judge
  evalctl run --prompts basic,academic --models openai:gpt-4.1-mini,openai:gpt-5-mini --limit 20 --out out`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.set = func(n string) bool { return cmd.Flags().Changed(n) }
			if cmd.Flags().Changed("concurrency") && opts.Concurrency < 1 {
				return usageErr("-j/--concurrency must be at least 1 (got %d)", opts.Concurrency)
			}
			if cmd.Flags().Changed("limit") && opts.Limit < 0 {
				return usageErr("--limit must be 0 (all rows) or more (got %d)", opts.Limit)
			}
			if cmd.Flags().Changed("repeat") && (opts.Repeat < 1 || opts.Repeat > config.MaxRepeat) {
				return usageErr("--repeat must be from 1 to %d (got %d)", config.MaxRepeat, opts.Repeat)
			}
			if !(opts.MaxCost >= 0) || math.IsInf(opts.MaxCost, 1) { // NaN too
				return usageErr("--max-cost must be a cost in USD, 0 or more (got %v)", opts.MaxCost)
			}
			if cmd.Flags().Changed("max-error-rate") && !(opts.MaxErrorRate >= 0 && opts.MaxErrorRate <= 1) {
				return usageErr("--max-error-rate must be between 0 and 1 (got %v)", opts.MaxErrorRate)
			}
			if opts.Shard != "" {
				if _, err := eval.ParseShard(opts.Shard); err != nil {
					return usageErr("--shard: %v", err)
				}
			}
			if err := opts.GateFlags.check(); err != nil {
				return err
			}
			for _, t := range opts.Tags {
				if k, _, ok := strings.Cut(t, "="); !ok || k == "" {
					return usageErr("--tag %q: want key=value", t)
				}
			}
			if opts.DryRun && opts.Resume != "" {
				return usageErr("--dry-run plans a new run; it cannot be combined with --resume")
			}
			if opts.Resume != "" {
				for _, n := range []string{"dataset", "prompts-dir", "prompts", "system", "models", "judge", "limit", "shard", "group", "repeat", "name", "tag"} {
					if cmd.Flags().Changed(n) {
						return usageErr("--resume re-plans the stored run: --%s cannot change it (allowed: --config, --store, -j, --out, --no-cache, --batch, --max-cost, --max-error-rate and gates)", n)
					}
				}
			}
			if runF != nil {
				return runF(opts)
			}
			if opts.Resume != "" {
				return resumeRun(a, opts)
			}
			return runRun(a, opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.ConfigPath, "config", "c", "", "config file (default: evalctl.yaml in the working directory, if present)")
	f.StringVar(&opts.Dataset, "dataset", "", "dataset file: .csv, .tsv or .jsonl")
	f.StringVar(&opts.PromptsDir, "prompts-dir", "", "directory of *.txt prompt templates (default: prompts)")
	f.StringSliceVarP(&opts.Prompts, "prompts", "p", nil, "prompt templates to evaluate, comma-separated (default: all but the system prompt)")
	f.StringVar(&opts.System, "system", "", "template used as the system prompt (default: system, when present; 'none' for none)")
	f.StringSliceVarP(&opts.Models, "models", "m", nil, "models to evaluate, comma-separated provider:model refs (with --prompts, replaces the variants and agents of evalctl.yaml)")
	f.StringVar(&opts.Judge, "judge", "", "judge model for LLM scorers, a provider:model ref")
	f.IntVarP(&opts.Limit, "limit", "n", 0, "evaluate only the first N rows (0: all)")
	f.IntVarP(&opts.Concurrency, "concurrency", "j", config.DefaultConcurrency, "LLM calls in flight")
	f.IntVar(&opts.Repeat, "repeat", 1, "run each cell N times")
	f.StringVarP(&opts.Out, "out", "o", "", "directory for the reports: answers.csv, feedback.csv, scores.csv, report.json, junit.xml, summary.md, table.txt")
	f.Float64Var(&opts.MaxErrorRate, "max-error-rate", config.DefaultMaxErrorRate, "share of calls that may fail before the run is incomplete (exit 3)")
	f.StringVar(&opts.Store, "store", "", "run store: a SQLite file or a postgres:// URL (default: $EVALCTL_STORE, or .evalctl/evalctl.db beside the config)")
	f.StringVar(&opts.Resume, "resume", "", "finish an earlier run (RUN id, prefix, name or 'last'): only missing cells and scores are computed")
	f.BoolVar(&opts.NoCache, "no-cache", false, "ask the models even when the response cache has the answer")
	f.StringVar(&opts.Name, "name", "", "a name for the run, shown in lists and reports; on a PostgreSQL store, runs started with the same name and plan join one run and share its cells")
	f.DurationVar(&opts.Lease, "lease", 30*time.Second, "on a shared run (PostgreSQL store, --name): how long a worker holds cells without renewing them; a killed worker's cells are taken over after it")
	f.StringArrayVar(&opts.Tags, "tag", nil, "a key=value tag for the run (repeatable)")
	f.StringVar(&opts.Shard, "shard", "", "run only the i-th of n parts of the rows (i/n, split by row id), for CI matrix jobs; combine them with evalctl merge")
	f.StringVar(&opts.Group, "group", "", "the shard group (default: derived from the plan, equal for every shard of the same evaluation)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the plan (cells, LLM calls by kind, estimated tokens and cost per model) and send nothing; starts no tool server")
	f.BoolVar(&opts.CSVRaw, "csv-raw", false, csvRawHelp+" (the CSV files of --out)")
	f.BoolVar(&opts.Batch, "batch", false, "send every request (answers, then judges) through the providers' Batch API, at half price, answered within 24h (as batch: true on each provider); a killed run's --resume waits for its batches instead of paying again")
	f.Float64Var(&opts.MaxCost, "max-cost", 0, "stop scheduling when the run costs this many USD at its prices, cache hits included (the run stays resumable; exit 3)")
	addGateFlags(cmd, &opts.GateFlags)
	return cmd
}

func runRun(a *app, opts *RunOptions) error {
	cfg, err := loadConfig(a, opts)
	if err != nil {
		return err
	}
	st, err := openStore(a, opts.Store, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if opts.DryRun {
		return dryRun(a, cfg, st, opts)
	}
	p, err := prepareRun(a, cfg, st, opts)
	if err != nil {
		return err
	}
	defer p.providers.Close()

	wd, _ := a.io.Getwd()
	so := storedOptions{RunOptions: *opts, WorkDir: wd}
	so.Store = store.Redact(so.Store) // a resume names its store again; a password is never kept
	so.ConfigDir, _ = filepath.Abs(cfg.Dir)
	for _, n := range runFlags {
		if opts.set(n) {
			so.Set = append(so.Set, n)
		}
	}
	rawOpts, _ := json.Marshal(so)
	now := time.Now()
	run := &store.Run{ID: store.NewRunID(now), Name: opts.Name, Tags: parseTags(opts.Tags), StartedAt: now,
		Spec: store.Spec{Layout: p.plan.Layout(), Options: rawOpts}, Config: a.redactor.Redact(string(cfg.Raw)),
		DatasetPath: p.plan.Dataset.Path, DatasetHash: p.plan.Dataset.Hash, Version: version(), Planned: p.plan.Len(),
		ScorersConfig: cfg.ScorersYAML()}
	if cfg.Judge != nil {
		run.Judge = cfg.Judge.Model
	}
	run.GitCommit, run.GitDirty = gitState(cfg.Dir)
	if cfg.Shard != "" {
		run.Tags = withShard(run.Tags, cfg.Shard, opts.Group, p.plan)
		run.Tags["rows"] = strconv.Itoa(p.allRows) // of the whole evaluation, for merge
	}
	ctx := context.Background()
	var w *worker
	shared := st.Shared() && opts.Name != "" && cfg.Shard == ""
	if shared && p.providers.batched(modelRefs(p.plan)) {
		// Workers claim -j cells at a time, too few for a batch.
		fmt.Fprintf(a.io.Stderr, "evalctl: run %q is a batch run: it is not shared with other workers (another `evalctl run --name %s` starts a run of its own)\n", opts.Name, opts.Name)
		shared = false
	}
	if shared {
		if opts.Lease < time.Second {
			return usageErr("--lease %s: want at least 1s", opts.Lease)
		}
		if run, err = joinShared(a, st, run); err != nil {
			return err
		}
		w = newWorker(st, run.ID, cfg.Concurrency, opts.Lease)
	} else if err := st.CreateRun(ctx, run); err != nil {
		return fmt.Errorf("recording the run: %w", err)
	}
	for _, v := range p.plan.Variants {
		for _, t := range []*prompts.Template{v.System, v.Prompt} {
			if t != nil {
				if err := st.SavePromptVersion(ctx, t.Name, t.Version, t.Text); err != nil {
					return err
				}
			}
		}
	}
	return execute(a, st, run, p, nil, w)
}

// execute runs (or finishes) a recorded run and prints its report from the store.
// w is this process's part when the run is shared by workers (nil otherwise).
func execute(a *app, st *store.Store, run *store.Run, p *prepared, cells *storedCells, w *worker) error {
	cfg := p.cfg
	stderr := a.io.Stderr
	for _, j := range judgeModels(p.plan) {
		for _, m := range p.plan.Models() {
			if m.Ref.String() == j {
				fmt.Fprintf(stderr, "warning: the judge %s is also a model under test; LLM judges tend to prefer their own answers (self-preference)\n", m.Ref)
				break
			}
		}
	}
	fmt.Fprintf(stderr, "evalctl: run %s: %d rows × %s", run.ID, len(p.plan.Rows), variantsText(p.plan))
	if p.plan.Repeat > 1 {
		fmt.Fprintf(stderr, " × %d repeats", p.plan.Repeat)
	}
	fmt.Fprintf(stderr, " = %d cells, %d scorers, %d calls in flight", p.plan.Len(), len(p.plan.Scorers), cfg.Concurrency)
	if b := p.providers.batchedProviders(); len(b) > 0 {
		fmt.Fprintf(stderr, "; %s in batches (every cell asks at once)", strings.Join(b, ", "))
	}
	fmt.Fprintln(stderr)

	sigCtx, stop := a.io.Context()
	defer stop()
	ctx, abort := context.WithCancelCause(sigCtx)
	defer abort(nil)
	var prior func(eval.Cell) *eval.Result
	if cells != nil {
		cells.abort, prior = abort, cells.prior
	}
	a.spending = true
	a.onPanic = append(a.onPanic, func() { st.EndRun(context.Background(), run.ID, eval.StatusInterrupted) })
	prog := newProgress(stderr, a.io.StderrIsTerminal, p.limit.Calls, p.providers.pacing)
	runner := &eval.Runner{Limit: p.limit, Progress: prog.update, Prior: prior, Budget: p.budget, MaxErrorRate: cfg.MaxErrorRate}
	batched := p.providers.batched(modelRefs(p.plan))
	if batched {
		// Every cell asks at once, so that their requests go in one batch.
		runner.InFlight = min(p.plan.Len(), maxBatchInFlight)
		p.providers.mu.Lock()
		p.providers.onBatch = prog.note
		p.providers.mu.Unlock()
	}
	sink := st.Sink(run.ID)
	if w != nil {
		runner.Claims, sink = w, st.SharedSink(run.ID)
		w.waiting = func(o store.Outstanding) {
			prog.note(fmt.Sprintf("waiting for %d cells other workers hold", o.Others))
		}
		stop := w.heartbeat()
		defer stop()
	}
	sum, runErr := runner.Run(ctx, p.plan, sink)
	prog.done()
	if n := p.providers.openBatches(); n > 0 && sum.Status != eval.StatusComplete {
		what := fmt.Sprintf("%d batches run", n)
		if n == 1 {
			what = "1 batch runs"
		}
		fmt.Fprintf(stderr, "evalctl: %s on at the provider; evalctl run --resume %s waits for them instead of asking again\n", what, run.ID)
	}
	if runErr != nil {
		if w != nil {
			st.ReleaseClaims(context.Background(), run.ID, w.id)
		}
		return exitErr(ExitInternal, fmt.Errorf("run %s stopped: recording its results: %w", run.ID, runErr), "evalctl run --resume "+run.ID)
	}
	if w != nil {
		all, err := finishShared(a, st, w, run, p.plan, sum, *cfg.MaxErrorRate)
		if all == nil {
			return err
		}
		sum = *all // this worker ended the run: it reports the whole run
	}
	if cells != nil && cells.err != nil {
		// Without the stored cells every cell would be asked again, and paid.
		return exitErr(ExitInternal, fmt.Errorf("run %s stopped: reading its stored cells: %w", run.ID, cells.err), "evalctl run --resume "+run.ID+" once the store reads again")
	}
	bg := context.Background()
	stored, err := st.Run(bg, run.ID)
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
	hits, _ := p.cache.Snapshot()
	fmt.Fprintf(stderr, "evalctl: run %s %s: %d of %d cells in %s, %d LLM calls, %d cache hits, %d tokens, $%.4f spent\n",
		run.ID, sum.Status, sum.Done, sum.Total, sum.Elapsed.Round(10*time.Millisecond), p.limit.Calls(), hits, sum.Usage.Total(), sum.Spent)
	if cfg.Out != "" {
		out := cfg.Resolve(cfg.Out)
		names, err := writeOut(out, stored, eachStored(bg, st, stored), cmp, p.csv)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "evalctl: wrote %s in %s\n", strings.Join(names, ", "), out)
	}
	gateErr := checkGates(a, st, p.gates, p.baseline, stored, cmp)
	err = exitStatus(sum, p.plan, *cfg.MaxErrorRate)
	if err == nil {
		err = gateErr
	}
	var ee *ExitError
	if errors.As(err, &ee) && (ee.Code == ExitInterrupted || ee.Code == ExitIncomplete) && ee.Hint == "" {
		ee.Hint = "the errors are in answers.csv and feedback.csv (--out DIR); retry the missing and failed cells with: evalctl run --resume " + run.ID
		if ee.Code == ExitInterrupted {
			ee.Hint = "finish it with: evalctl run --resume " + run.ID
		}
	}
	return err
}

func parseTags(tags []string) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		k, v, _ := strings.Cut(t, "=")
		m[k] = v
	}
	return m
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// gitState returns the commit and dirtiness of the repository holding dir, if any.
func gitState(dir string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false
	}
	status, _ := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain").Output()
	return strings.TrimSpace(string(out)), len(strings.TrimSpace(string(status))) > 0
}

// exitStatus maps a run's outcome to an exit error (nil when all is well).
func exitStatus(sum eval.Summary, plan *eval.Plan, maxRate float64) error {
	switch {
	case sum.Status == eval.StatusInterrupted:
		return exitErr(ExitInterrupted, fmt.Errorf("interrupted: %d of %d cells done", sum.Done, sum.Total), "")
	case sum.Fatal != nil:
		return exitErr(ExitUsage, fmt.Errorf("run stopped: %v", sum.Fatal), fatalHint(sum.Fatal))
	case sum.BudgetReached && sum.Done < sum.Total:
		return exitErr(ExitIncomplete, fmt.Errorf("budget reached: the run costs $%.4f at its prices ($%.4f paid now), %d of %d cells done", sum.Cost, sum.Spent, sum.Done, sum.Total), "")
	case sum.Status != eval.StatusComplete:
		if over := sum.Errors(len(plan.Scorers)).Over(maxRate); over != "" {
			return exitErr(ExitIncomplete, fmt.Errorf("run incomplete: %s", over), "")
		}
		return exitErr(ExitIncomplete, fmt.Errorf("run incomplete: %d of %d cells done", sum.Done, sum.Total), "")
	}
	return nil
}

func fatalHint(e *llm.Error) string {
	switch e.Kind {
	case llm.KindAuth:
		return "check the API key for this provider (OPENAI_API_KEY for openai:)"
	case llm.KindNotFound:
		if strings.Contains(e.Msg, "cannot be read") {
			return "" // a batch that is gone: the message says what to do
		}
		return "check the model name and the base URL"
	case llm.KindUnreachable:
		return "check the base URL (OPENAI_BASE_URL, OLLAMA_HOST or providers.NAME.base_url)"
	}
	return ""
}
