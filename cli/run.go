package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/scorers"
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

	// set records which flags were given, to override the config.
	set func(name string) bool
}

// NewCmdRun returns `evalctl run`. runF, when not nil, replaces the behaviour
// (tests use it to check flag parsing alone).
func NewCmdRun(a *app, runF func(*RunOptions) error) *cobra.Command {
	opts := &RunOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Generate answers for every row × prompt × model, score them, and print the comparison",
		Long: `Run an evaluation: every dataset row is rendered into every selected prompt template,
sent to every model, and each answer is scored by every scorer in evalctl.yaml.

The configuration is read from --config, or evalctl.yaml in the working directory if there is one;
flags override it. Everything is validated before the first model call.

Model refs: openai:MODEL (OPENAI_API_KEY, OPENAI_BASE_URL), ollama:MODEL (OLLAMA_HOST),
sim:NAME (the built-in simulator, offline), or NAME:MODEL for a provider defined in evalctl.yaml.

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
			if cmd.Flags().Changed("repeat") && opts.Repeat < 1 {
				return usageErr("--repeat must be at least 1 (got %d)", opts.Repeat)
			}
			if cmd.Flags().Changed("max-error-rate") && (opts.MaxErrorRate < 0 || opts.MaxErrorRate > 1) {
				return usageErr("--max-error-rate must be between 0 and 1 (got %v)", opts.MaxErrorRate)
			}
			if runF != nil {
				return runF(opts)
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
	f.StringSliceVarP(&opts.Models, "models", "m", nil, "models to evaluate, comma-separated provider:model refs")
	f.StringVar(&opts.Judge, "judge", "", "judge model for LLM scorers, a provider:model ref")
	f.IntVarP(&opts.Limit, "limit", "n", 0, "evaluate only the first N rows (0: all)")
	f.IntVarP(&opts.Concurrency, "concurrency", "j", config.DefaultConcurrency, "LLM calls in flight")
	f.IntVar(&opts.Repeat, "repeat", 1, "run each cell N times")
	f.StringVarP(&opts.Out, "out", "o", "", "directory to write answers.csv and feedback.csv into")
	f.Float64Var(&opts.MaxErrorRate, "max-error-rate", config.DefaultMaxErrorRate, "share of calls that may fail before the run is incomplete (exit 3)")
	return cmd
}

// loadConfig reads the config file and applies the flags over it.
func loadConfig(a *app, opts *RunOptions) (*config.Config, error) {
	var cfg *config.Config
	wd, err := a.io.Getwd()
	if err != nil {
		return nil, err
	}
	// Paths in the config are relative to its directory; paths in flags are
	// relative to the working directory.
	path := opts.ConfigPath
	if path == "" {
		if _, err := os.Stat("evalctl.yaml"); err == nil {
			path = "evalctl.yaml"
		}
	}
	if path != "" {
		c, err := config.Load(path, a.io.LookupEnv)
		if err != nil {
			return nil, exitErr(ExitUsage, err, "")
		}
		cfg = c
	} else {
		cfg = &config.Config{Dir: wd}
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(wd, p)
	}
	if opts.set("dataset") {
		cfg.Dataset = abs(opts.Dataset)
	}
	if opts.set("prompts-dir") {
		cfg.Prompts.Dir = abs(opts.PromptsDir)
	}
	if opts.set("prompts") {
		cfg.Prompts.Use = trimAll(opts.Prompts)
	}
	if opts.set("system") {
		s := opts.System
		if s == "none" {
			s = ""
		}
		cfg.Prompts.System = &s
	}
	if opts.set("models") {
		// Keep parameters configured for a model that the flag names again.
		var models []config.ModelConfig
		for _, m := range trimAll(opts.Models) {
			mc := config.ModelConfig{Model: m}
			for _, c := range cfg.Models {
				if c.Model == m {
					mc = c
				}
			}
			models = append(models, mc)
		}
		cfg.Models = models
	}
	if opts.set("judge") {
		if cfg.Judge == nil || cfg.Judge.Model != opts.Judge {
			cfg.Judge = &config.ModelConfig{Model: opts.Judge}
		}
	}
	if opts.set("limit") {
		cfg.Limit = opts.Limit
	}
	if opts.set("concurrency") || cfg.Concurrency == 0 {
		cfg.Concurrency = opts.Concurrency
	}
	if opts.set("repeat") || cfg.Repeat == 0 {
		cfg.Repeat = opts.Repeat
	}
	if opts.set("out") {
		cfg.Out = abs(opts.Out)
	}
	if opts.set("max-error-rate") || cfg.MaxErrorRate == nil {
		r := opts.MaxErrorRate
		cfg.MaxErrorRate = &r
	}
	for _, m := range cfg.Models {
		if _, err := m.Ref(); err != nil {
			return nil, usageErr("%v", err)
		}
	}
	if cfg.Judge != nil {
		if _, err := cfg.Judge.Ref(); err != nil {
			return nil, usageErr("judge: %v", err)
		}
	}
	return cfg, nil
}

func trimAll(xs []string) []string {
	var out []string
	for _, x := range xs {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// prepared is a validated plan and what it needs.
type prepared struct {
	cfg       *config.Config
	plan      *eval.Plan
	gate      *eval.Gate
	providers *providers
}

// prepare validates everything before any model call: dataset, templates
// against columns, model refs and credentials, scorer configs, output dir.
func prepare(a *app, cfg *config.Config) (*prepared, error) {
	if cfg.Dataset == "" {
		return nil, usageErr("no dataset: set dataset: in evalctl.yaml or pass --dataset")
	}
	ds, err := datasets.Load(cfg.Resolve(cfg.Dataset))
	if err != nil {
		return nil, exitErr(ExitUsage, err, "")
	}
	plan := &eval.Plan{Dataset: ds, Rows: ds.Rows, Repeat: cfg.Repeat}
	if cfg.Limit > 0 && cfg.Limit < len(ds.Rows) {
		plan.Rows = ds.Rows[:cfg.Limit]
	}

	dir := cfg.Prompts.Dir
	if dir == "" {
		dir = "prompts"
	}
	set, err := prompts.LoadDir(cfg.Resolve(dir))
	if err != nil {
		return nil, exitErr(ExitUsage, err, "")
	}
	system := "system"
	if cfg.Prompts.System != nil {
		system = *cfg.Prompts.System
	} else if _, ok := set.Templates[system]; !ok {
		system = ""
	}
	if system != "" {
		if plan.System, err = set.Get(system); err != nil {
			return nil, usageErr("system prompt: %v", err)
		}
	}
	use := cfg.Prompts.Use
	if len(use) == 0 {
		for _, n := range set.Names() {
			if n != system {
				use = append(use, n)
			}
		}
	}
	for _, n := range use {
		t, err := set.Get(n)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		plan.Prompts = append(plan.Prompts, t)
	}

	if len(cfg.Models) == 0 {
		return nil, usageErr("no models: list them under models: in evalctl.yaml or pass --models")
	}
	gate := eval.NewGate(cfg.Concurrency)
	ps := newProviders(a, cfg, gate)
	ok := false
	defer func() {
		if !ok {
			ps.Close()
		}
	}()
	seen := map[string]bool{}
	for _, mc := range cfg.Models {
		ref, _ := mc.Ref()
		if seen[ref.String()] {
			return nil, usageErr("model %s is listed twice", ref)
		}
		seen[ref.String()] = true
		c, err := ps.client(ref)
		if err != nil {
			return nil, err
		}
		plan.Models = append(plan.Models, &eval.Model{Ref: ref, Params: mc.Params, Client: c})
	}

	env := scorers.Env{Columns: ds.Columns, BaseDir: cfg.Dir}
	if cfg.Judge != nil && cfg.Judge.Model != "" {
		ref, _ := cfg.Judge.Ref()
		c, err := ps.client(ref)
		if err != nil {
			return nil, err
		}
		env.Judge, env.JudgeModel, env.JudgeParams = c, ref.String(), cfg.Judge.Params
		if env.JudgeParams.Temperature == nil {
			zero := 0.0
			env.JudgeParams.Temperature = &zero
		}
	}
	for _, sc := range cfg.Scorers {
		where := ""
		if cfg.Path != "" {
			where = fmt.Sprintf("%s:%d", cfg.Path, sc.Line)
		}
		s, err := a.registry.Build(scorers.Spec{Name: sc.Name, Type: sc.Type, Where: where, Decode: sc.Decode}, env)
		if err != nil {
			if cfg.Path != "" && !strings.HasPrefix(err.Error(), cfg.Path+":") {
				err = fmt.Errorf("%s: %w", where, err)
			}
			return nil, exitErr(ExitUsage, err, "")
		}
		plan.Scorers = append(plan.Scorers, s)
	}
	if err := plan.Validate(); err != nil {
		return nil, exitErr(ExitUsage, err, "")
	}
	if cfg.Out != "" {
		out := cfg.Resolve(cfg.Out)
		if err := checkWritable(out); err != nil {
			return nil, exitErr(ExitUsage, fmt.Errorf("output directory %s: %w", out, err), "")
		}
	}
	ok = true
	return &prepared{cfg: cfg, plan: plan, gate: gate, providers: ps}, nil
}

func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".evalctl-write-test-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

func runRun(a *app, opts *RunOptions) error {
	cfg, err := loadConfig(a, opts)
	if err != nil {
		return err
	}
	p, err := prepare(a, cfg)
	if err != nil {
		return err
	}
	defer p.providers.Close()
	stderr := a.io.Stderr

	if cfg.Judge != nil {
		for _, m := range p.plan.Models {
			if m.Ref.String() == cfg.Judge.Model {
				fmt.Fprintf(stderr, "warning: the judge %s is also a model under test; LLM judges tend to prefer their own answers (self-preference)\n", m.Ref)
			}
		}
	}
	fmt.Fprintf(stderr, "evalctl: %d rows × %d prompts × %d models", len(p.plan.Rows), len(p.plan.Prompts), len(p.plan.Models))
	if p.plan.Repeat > 1 {
		fmt.Fprintf(stderr, " × %d repeats", p.plan.Repeat)
	}
	fmt.Fprintf(stderr, " = %d cells, %d scorers, %d calls in flight\n", p.plan.Len(), len(p.plan.Scorers), cfg.Concurrency)

	ctx, stop := a.io.Context()
	defer stop()
	cmp := &reports.Sink{}
	sinks := []eval.Sink{cmp}
	if cfg.Out != "" {
		sinks = append(sinks, &reports.DirSink{Dir: cfg.Resolve(cfg.Out)})
	}
	prog := newProgress(stderr, a.io.StderrIsTerminal)
	runner := &eval.Runner{Gate: p.gate, Progress: prog.update}
	sum, runErr := runner.Run(ctx, p.plan, eval.Tee(sinks...))
	prog.done()
	if runErr != nil {
		return exitErr(ExitIncomplete, fmt.Errorf("run stopped: %w", runErr), "")
	}
	if err := reports.WriteTable(a.io.Stdout, cmp.C); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "evalctl: %s: %d of %d cells in %s, %d LLM calls, %d tokens\n",
		sum.Status, sum.Done, sum.Total, sum.Elapsed.Round(1e7), p.gate.Calls(), sum.Usage.Total())
	if cfg.Out != "" {
		fmt.Fprintf(stderr, "evalctl: wrote %s and %s\n",
			filepath.Join(cfg.Resolve(cfg.Out), "answers.csv"), filepath.Join(cfg.Resolve(cfg.Out), "feedback.csv"))
	}
	return exitStatus(sum, p.plan, *cfg.MaxErrorRate)
}

// exitStatus maps a run's outcome to an exit error (nil when all is well).
func exitStatus(sum eval.Summary, plan *eval.Plan, maxRate float64) error {
	switch {
	case sum.Status == eval.StatusInterrupted:
		return exitErr(ExitInterrupted, fmt.Errorf("interrupted: %d of %d cells done", sum.Done, sum.Total), "")
	case sum.Fatal != nil:
		return exitErr(ExitUsage, fmt.Errorf("run stopped: %v", sum.Fatal), fatalHint(sum.Fatal))
	case sum.Status != eval.StatusComplete:
		return exitErr(ExitIncomplete, fmt.Errorf("run incomplete: %d of %d cells done", sum.Done, sum.Total), "")
	}
	var problems []string
	if sum.Done > 0 {
		if r := float64(sum.GenErrors) / float64(sum.Done); r > maxRate {
			problems = append(problems, fmt.Sprintf("%d of %d generation calls failed (%.1f%%)", sum.GenErrors, sum.Done, 100*r))
		}
		scored := (sum.Done - sum.GenErrors) * len(plan.Scorers)
		if scored > 0 {
			if r := float64(sum.ScorerErrors) / float64(scored); r > maxRate {
				problems = append(problems, fmt.Sprintf("%d of %d scores are errors (%.1f%%)", sum.ScorerErrors, scored, 100*r))
			}
		}
	}
	if len(problems) > 0 {
		return exitErr(ExitIncomplete,
			fmt.Errorf("run incomplete: %s, above max_error_rate %.1f%%", strings.Join(problems, "; "), 100*maxRate),
			"see the error and error_kind columns of answers.csv and feedback.csv (--out DIR)")
	}
	return nil
}

func fatalHint(e *llm.Error) string {
	switch e.Kind {
	case llm.KindAuth:
		return "check the API key for this provider (OPENAI_API_KEY for openai:)"
	case llm.KindNotFound:
		return "check the model name and the base URL"
	}
	return ""
}
