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
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/gates/spec"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/scorers"
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
		Short: "Generate answers for every row × prompt × model, score them, and print the comparison",
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
			if cmd.Flags().Changed("repeat") && opts.Repeat < 1 {
				return usageErr("--repeat must be at least 1 (got %d)", opts.Repeat)
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
						return usageErr("--resume re-plans the stored run: --%s cannot change it (allowed: --config, --store, -j, --out, --no-cache, --max-cost, --max-error-rate and gates)", n)
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
	f.StringSliceVarP(&opts.Models, "models", "m", nil, "models to evaluate, comma-separated provider:model refs")
	f.StringVar(&opts.Judge, "judge", "", "judge model for LLM scorers, a provider:model ref")
	f.IntVarP(&opts.Limit, "limit", "n", 0, "evaluate only the first N rows (0: all)")
	f.IntVarP(&opts.Concurrency, "concurrency", "j", config.DefaultConcurrency, "LLM calls in flight")
	f.IntVar(&opts.Repeat, "repeat", 1, "run each cell N times")
	f.StringVarP(&opts.Out, "out", "o", "", "directory for the reports: answers.csv, feedback.csv, scores.csv, report.json, junit.xml, summary.md, table.txt")
	f.Float64Var(&opts.MaxErrorRate, "max-error-rate", config.DefaultMaxErrorRate, "share of calls that may fail before the run is incomplete (exit 3)")
	f.StringVar(&opts.Store, "store", "", "run store (default: $EVALCTL_STORE, or .evalctl/evalctl.db beside the config)")
	f.StringVar(&opts.Resume, "resume", "", "finish an earlier run (RUN id, prefix, name or 'last'): only missing cells and scores are computed")
	f.BoolVar(&opts.NoCache, "no-cache", false, "ask the models even when the response cache has the answer")
	f.StringVar(&opts.Name, "name", "", "a name for the run, shown in lists and reports")
	f.StringArrayVar(&opts.Tags, "tag", nil, "a key=value tag for the run (repeatable)")
	f.StringVar(&opts.Shard, "shard", "", "run only the i-th of n parts of the rows (i/n, split by row id), for CI matrix jobs; combine them with evalctl merge")
	f.StringVar(&opts.Group, "group", "", "the shard group (default: derived from the plan, equal for every shard of the same evaluation)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the plan (cells, LLM calls by kind, estimated tokens and cost per model) and send nothing")
	f.BoolVar(&opts.CSVRaw, "csv-raw", false, csvRawHelp+" (the CSV files of --out)")
	f.Float64Var(&opts.MaxCost, "max-cost", 0, "stop scheduling when the run costs this many USD at its prices, cache hits included (the run stays resumable; exit 3)")
	addGateFlags(cmd, &opts.GateFlags)
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
	if err := applyFlags(cfg, opts, wd); err != nil {
		return nil, err
	}
	return cfg, nil
}

// applyFlags lays the given flags over cfg; relative paths in flags are
// relative to wd.
func applyFlags(cfg *config.Config, opts *RunOptions, wd string) error {
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
	if (opts.set("prompts") || opts.set("models")) && len(cfg.Variants) > 0 {
		// The flags ask for prompts × models: the listed variants give way,
		// keeping the models they configure.
		if !opts.set("models") {
			cfg.Models = nil
			for _, v := range cfg.Variants {
				if !slices.ContainsFunc(cfg.Models, func(m config.ModelConfig) bool { return m.Model == v.Model }) {
					cfg.Models = append(cfg.Models, v.ModelConfig)
				}
			}
		}
		cfg.Variants = nil
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
	if opts.set("shard") {
		if _, err := eval.ParseShard(opts.Shard); err != nil {
			return usageErr("--shard: %v", err)
		}
		cfg.Shard = opts.Shard
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
			return usageErr("%v", err)
		}
	}
	if cfg.Judge != nil {
		if _, err := cfg.Judge.Ref(); err != nil {
			return usageErr("judge: %v", err)
		}
	}
	return nil
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
	limit     *eval.CallLimit
	providers *providers
	cache     *store.CacheStats
	gates     []spec.Gate
	baseline  *baseline
	budget    float64
	csv       reports.CSVOptions // how --out writes its CSV files
	// allRows is the number of rows before --shard took its part.
	allRows int
}

// withBudget checks that a spending limit can be enforced: every model and
// the judge need a price.
func (p *prepared) withBudget(usd float64) error {
	if usd <= 0 {
		return nil
	}
	if err := p.needPrices("--max-cost"); err != nil {
		return err
	}
	p.budget = usd
	return nil
}

// needPrices refuses a cost limit (what names it: --max-cost, or a max_cost
// gate's config line) unless every model and judge of the run has a price.
func (p *prepared) needPrices(what string) error {
	var missing []string
	for _, r := range modelRefs(p.plan) {
		if _, ok := p.plan.Price(r, llm.Usage{PromptTokens: 1}); !ok && !slices.Contains(missing, r) {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return usageErr("%s needs a price for %s: add it under prices: in evalctl.yaml", what, strings.Join(missing, ", "))
	}
	return nil
}

// prepare validates everything before any model call: dataset, templates
// against columns, model refs and credentials, scorer configs, output dir.
func prepare(a *app, cfg *config.Config, st *store.Store, readCache bool, with ...func(*providers)) (*prepared, error) {
	if cfg.Dataset == "" {
		return nil, usageErr("no dataset: set dataset: in evalctl.yaml or pass --dataset")
	}
	ds, err := datasets.Load(cfg.Resolve(cfg.Dataset), datasets.Options{Encoding: cfg.DatasetEncoding, MaxCellBytes: cfg.MaxCellBytes})
	if err != nil {
		return nil, exitErr(ExitUsage, err, "")
	}
	plan := &eval.Plan{Dataset: ds, Rows: ds.Rows, Repeat: cfg.Repeat}
	if cfg.Limit > 0 && cfg.Limit < len(ds.Rows) {
		plan.Rows = ds.Rows[:cfg.Limit]
	}
	allRows := len(plan.Rows)
	if cfg.Shard != "" {
		sh, _ := eval.ParseShard(cfg.Shard)
		all := len(plan.Rows)
		if plan.Rows = sh.Rows(plan.Rows); len(plan.Rows) == 0 {
			return nil, usageErr("shard %s has none of the %d rows: use fewer shards", sh, all)
		}
	}

	dir := cfg.Prompts.Dir
	if dir == "" {
		dir = "prompts"
	}
	set, err := prompts.LoadDir(cfg.Resolve(dir))
	if err != nil {
		return nil, exitErr(ExitUsage, err, "")
	}
	defaultSystem := "system"
	if cfg.Prompts.System != nil {
		defaultSystem = *cfg.Prompts.System
	} else if _, ok := set.Templates[defaultSystem]; !ok {
		defaultSystem = ""
	}
	systems := map[string]*prompts.Template{}
	systemOf := func(name string) (*prompts.Template, error) {
		if name == "" {
			return nil, nil
		}
		if t, ok := systems[name]; ok {
			return t, nil
		}
		t, err := set.Get(name)
		if err != nil {
			return nil, usageErr("system prompt: %v", err)
		}
		systems[name] = t
		return t, nil
	}
	templates := map[string]*prompts.Template{}
	promptOf := func(n string) (*prompts.Template, error) {
		if t, ok := templates[n]; ok {
			return t, nil
		}
		name, ref, versioned := strings.Cut(n, "@")
		var t *prompts.Template
		var err error
		if versioned {
			// A stored version: an alias ("production"), a version or "latest".
			if st == nil {
				return nil, usageErr("prompt %s: versions come from the run store, and there is none", n)
			}
			v, err := st.PromptVersion(context.Background(), name, ref)
			if err != nil {
				return nil, exitErr(ExitUsage, err, "see evalctl prompts list")
			}
			if t, err = prompts.Parse(v.Name, "store:"+v.Name+"@"+v.Version, v.Text); err != nil {
				return nil, exitErr(ExitUsage, err, "")
			}
		} else if t, err = set.Get(n); err != nil {
			return nil, usageErr("%v", err)
		}
		templates[n] = t
		return t, nil
	}

	if len(cfg.Models) == 0 && len(cfg.Variants) == 0 {
		return nil, usageErr("no models: list them under models: in evalctl.yaml or pass --models")
	}
	limit := eval.NewCallLimit(cfg.Concurrency)
	ps := newProviders(a, cfg, limit)
	for _, f := range with {
		f(ps)
	}
	cache := &store.CacheStats{}
	switch {
	case st != nil && ps.dry != nil && readCache:
		ps.cache = func(c llm.Client, endpoint string) llm.Client { return st.CacheLookup(c, endpoint) }
	case st != nil && ps.dry == nil:
		ps.cache = func(c llm.Client, endpoint string) llm.Client { return st.Cached(c, endpoint, readCache, cache) }
	}
	ok := false
	defer func() {
		if !ok {
			ps.Close()
		}
	}()
	modelOf := func(mc config.ModelConfig) (*eval.Model, error) {
		ref, err := mc.Ref()
		if err != nil {
			return nil, usageErr("%v", err)
		}
		c, err := ps.client(ref)
		if err != nil {
			return nil, err
		}
		return &eval.Model{Ref: ref, Params: mc.Params, Client: c}, nil
	}
	if len(cfg.Variants) > 0 {
		// Listed by hand: each its prompt, model and parameters, and label.
		for _, vc := range cfg.Variants {
			t, err := promptOf(vc.Prompt)
			if err != nil {
				return nil, err
			}
			sysName := defaultSystem
			if vc.System != nil {
				sysName = *vc.System
			}
			sys, err := systemOf(sysName)
			if err != nil {
				return nil, err
			}
			m, err := modelOf(vc.ModelConfig)
			if err != nil {
				return nil, err
			}
			plan.Variants = append(plan.Variants, eval.NewVariant(vc.Label, t, sys, m))
		}
	} else {
		// prompts × models.
		use := cfg.Prompts.Use
		if len(use) == 0 {
			for _, n := range set.Names() {
				if n != defaultSystem {
					use = append(use, n)
				}
			}
		}
		sys, err := systemOf(defaultSystem)
		if err != nil {
			return nil, err
		}
		var models []*eval.Model
		for _, mc := range cfg.Models {
			m, err := modelOf(mc)
			if err != nil {
				return nil, err
			}
			models = append(models, m)
		}
		var templates []*prompts.Template
		for _, n := range use {
			t, err := promptOf(n)
			if err != nil {
				return nil, err
			}
			templates = append(templates, t)
		}
		plan.Variants = eval.Product(sys, templates, models)
	}

	env := scorers.Env{Columns: ds.Columns, BaseDir: cfg.Dir}
	for _, v := range plan.Variants {
		if !slices.Contains(env.Prompts, v.Prompt.Name) {
			env.Prompts = append(env.Prompts, v.Prompt.Name)
		}
		if !slices.Contains(env.Models, v.Model.Ref.String()) {
			env.Models = append(env.Models, v.Model.Ref.String())
		}
	}
	if st != nil {
		env.Salt = st.Salt()
	}
	if err := setJudge(ps, cfg, &env); err != nil {
		return nil, err
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
	plan.Prices = llm.Prices(cfg.Prices, modelRefs(plan)...)
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
	return &prepared{cfg: cfg, plan: plan, limit: limit, providers: ps, cache: cache, allRows: allRows}, nil
}

// variantsText says what the plan's variants are: "2 prompts × 2 models"
// when they are every prompt × model, else "3 variants".
func variantsText(p *eval.Plan) string {
	var prompts, models []string
	for _, v := range p.Variants {
		if k := v.Prompt.Ref(); !slices.Contains(prompts, k) {
			prompts = append(prompts, k)
		}
		if k := v.Model.Ref.String(); !slices.Contains(models, k) {
			models = append(models, k)
		}
	}
	if len(prompts)*len(models) == len(p.Variants) {
		return fmt.Sprintf("%d prompts × %d models", len(prompts), len(models))
	}
	return fmt.Sprintf("%d variants", len(p.Variants))
}

// modelRefs lists the plan's models and judges, once each.
func modelRefs(p *eval.Plan) []string {
	var refs []string
	for _, m := range p.Models() {
		if r := m.Ref.String(); !slices.Contains(refs, r) {
			refs = append(refs, r)
		}
	}
	for _, j := range judgeModels(p) {
		if !slices.Contains(refs, j) {
			refs = append(refs, j)
		}
	}
	return refs
}

// judgeModels lists the judge models of a plan's scorers, once each.
func judgeModels(p *eval.Plan) []string {
	var out []string
	for _, s := range p.Scorers {
		if j, ok := s.(interface{ JudgeModels() []string }); ok {
			for _, m := range j.JudgeModels() {
				if !slices.Contains(out, m) {
					out = append(out, m)
				}
			}
		}
	}
	return out
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

// storedOptions is what a run keeps of its command line, to plan it again on
// --resume.
type storedOptions struct {
	RunOptions
	Set       []string `json:"set"`        // flags given
	ConfigDir string   `json:"config_dir"` // absolute
	WorkDir   string   `json:"work_dir"`
}

var runFlags = []string{"config", "dataset", "prompts-dir", "prompts", "system", "models", "judge", "limit", "shard", "group",
	"concurrency", "repeat", "out", "max-error-rate", "store", "no-cache", "name", "tag", "max-cost",
	"fail-under", "max-drop", "no-significant-drop", "baseline"}

// prepareRun validates a run's plan, gates and budget before any call.
func prepareRun(a *app, cfg *config.Config, st *store.Store, opts *RunOptions) (*prepared, error) {
	p, err := prepare(a, cfg, st, !opts.NoCache)
	if err != nil {
		return nil, err
	}
	if err = p.withGates(st, cfg, &opts.GateFlags); err == nil {
		err = p.withBudget(opts.MaxCost)
	}
	if err != nil {
		p.providers.Close()
		return nil, err
	}
	p.csv.Raw = opts.CSVRaw
	return p, nil
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
	so.ConfigDir, _ = filepath.Abs(cfg.Dir)
	for _, n := range runFlags {
		if opts.set(n) {
			so.Set = append(so.Set, n)
		}
	}
	rawOpts, _ := json.Marshal(so)
	now := time.Now()
	run := &store.Run{ID: store.NewRunID(now), Name: opts.Name, Tags: parseTags(opts.Tags), StartedAt: now,
		Spec: store.Spec{Layout: p.plan.Layout(), Options: rawOpts}, Config: string(cfg.Raw),
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
	if err := st.CreateRun(ctx, run); err != nil {
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
	return execute(a, st, run, p, nil)
}

// resumeRun plans a stored run again and computes only what it lacks.
func resumeRun(a *app, opts *RunOptions) error {
	var locate *config.Config
	if opts.ConfigPath != "" || fileExists("evalctl.yaml") {
		c, err := loadConfig(a, &RunOptions{ConfigPath: opts.ConfigPath, set: func(string) bool { return false }})
		if err != nil {
			return err
		}
		locate = c
	}
	st, err := openStore(a, opts.Store, locate)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	run, err := findRun(st, opts.Resume, true)
	if err != nil {
		return err
	}
	var so storedOptions
	if err := json.Unmarshal(run.Spec.Options, &so); err != nil {
		return fmt.Errorf("run %s: unreadable options: %w", run.ID, err)
	}
	// The run's own config text and flags, with this invocation's allowed overrides.
	stored := so.RunOptions
	given := map[string]bool{}
	for _, n := range so.Set {
		given[n] = true
	}
	for _, n := range []string{"concurrency", "out", "max-error-rate", "no-cache"} {
		if opts.set(n) {
			given[n] = true
		}
	}
	stored.Concurrency, stored.NoCache = pick(opts.set("concurrency"), opts.Concurrency, stored.Concurrency), opts.NoCache
	stored.MaxErrorRate = pick(opts.set("max-error-rate"), opts.MaxErrorRate, stored.MaxErrorRate)
	if opts.set("out") {
		stored.Out, _ = filepath.Abs(opts.Out)
	}
	stored.set = func(n string) bool { return given[n] }
	var cfg *config.Config
	if run.Config != "" {
		name := "evalctl.yaml" // found in the working directory
		if stored.ConfigPath != "" {
			name = filepath.Base(stored.ConfigPath)
		}
		cfg, err = config.Parse(filepath.Join(so.ConfigDir, name), []byte(run.Config), a.io.LookupEnv)
		if err != nil {
			return exitErr(ExitUsage, fmt.Errorf("run %s: its stored config: %w", run.ID, err), "")
		}
		cfg.Dir = so.ConfigDir
	} else {
		cfg = &config.Config{Dir: so.WorkDir}
	}
	if err := applyFlags(cfg, &stored, so.WorkDir); err != nil {
		return err
	}
	p, err := prepareRun(a, cfg, st, opts)
	if err != nil {
		return err
	}
	defer p.providers.Close()
	if p.plan.Dataset.Hash != run.DatasetHash {
		return usageErr("cannot resume run %s: %s changed since the run (start a new run instead)", run.ID, p.plan.Dataset.Path)
	}
	if err := sameLayout(run.Spec.Layout, p.plan.Layout()); err != nil {
		return usageErr("cannot resume run %s: %v (start a new run instead)", run.ID, err)
	}
	for i, v := range run.Spec.Layout.AllVariants() {
		p.plan.Variants[i].ID = v.ID // a run recorded before variants keeps its IDs
	}
	// The stored cells stream alongside the plan (both in cell order), so a
	// resume holds one stored result at a time, not the run.
	// A merge of shards numbers its cells by dataset line; its resume
	// numbers the cells it adds alike.
	p.plan.ByLine = run.Tags["merged"] != ""
	cells := newStoredCells(st, run, p.plan, false)
	defer cells.stop()
	if err := st.MarkRunning(ctx, run.ID); err != nil {
		return err
	}
	fmt.Fprintf(a.io.Stderr, "evalctl: resuming %s: %d of %d cells stored\n", run.ID, run.Done, run.Planned)
	return execute(a, st, run, p, cells)
}

func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}

// sameLayout explains how two layouts differ, or returns nil.
func sameLayout(was, now eval.Layout) error {
	if was.Rows != now.Rows || was.Repeat != now.Repeat {
		return fmt.Errorf("it planned %d rows × %d repeats, now %d × %d", was.Rows, was.Repeat, now.Rows, now.Repeat)
	}
	wv, nv := was.AllVariants(), now.AllVariants()
	if len(wv) != len(nv) {
		return fmt.Errorf("it had %d variants, now %d", len(wv), len(nv))
	}
	for i := range wv {
		w, n := wv[i], nv[i]
		if w.ID == n.ID && w.Label == n.Label {
			continue
		}
		name := eval.VariantName(w)
		switch {
		case w.Prompt != n.Prompt:
			return fmt.Errorf("variant %s: prompt %s was @%s and is now %s@%s", name, w.Prompt.Name, w.Prompt.Version, n.Prompt.Name, n.Prompt.Version)
		case w.System == nil && n.System != nil:
			return fmt.Errorf("variant %s: it had no system prompt, and now has %s@%s", name, n.System.Name, n.System.Version)
		case w.System != nil && n.System == nil:
			return fmt.Errorf("variant %s: its system prompt %s@%s is gone", name, w.System.Name, w.System.Version)
		case w.System != nil && *w.System != *n.System:
			return fmt.Errorf("variant %s: system prompt %s was @%s and is now %s@%s", name, w.System.Name, w.System.Version, n.System.Name, n.System.Version)
		case w.Label != n.Label:
			return fmt.Errorf("variant %s is now labelled %q", name, n.Label)
		case w.ID != n.ID && strings.HasPrefix(w.ID, w.Prompt.Name+"@"):
			// Recorded before variants: the ID was prompt and model only.
			if w.ID != eval.LegacyVariantID(n.Prompt.Name, n.Prompt.Version, n.Model.Ref) || !reflect.DeepEqual(w.Model, n.Model) {
				return fmt.Errorf("variant %s: its model or parameters changed", name)
			}
			continue
		default:
			return fmt.Errorf("variant %s: its model or parameters changed", name)
		}
	}
	if strings.Join(was.Scorers, ",") != strings.Join(now.Scorers, ",") {
		return fmt.Errorf("its scorers changed (were %s)", strings.Join(was.Scorers, ", "))
	}
	return nil
}

// execute runs (or finishes) a recorded run and prints its report from the store.
func execute(a *app, st *store.Store, run *store.Run, p *prepared, cells *storedCells) error {
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
	fmt.Fprintf(stderr, " = %d cells, %d scorers, %d calls in flight\n", p.plan.Len(), len(p.plan.Scorers), cfg.Concurrency)

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
	sum, runErr := runner.Run(ctx, p.plan, st.Sink(run.ID))
	prog.done()
	if runErr != nil {
		return exitErr(ExitInternal, fmt.Errorf("run %s stopped: recording its results: %w", run.ID, runErr), "evalctl run --resume "+run.ID)
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

// openStore opens the run store: --store, $EVALCTL_STORE, or
// .evalctl/evalctl.db beside the config (or in the working directory).
func openStore(a *app, flag string, cfg *config.Config) (*store.Store, error) {
	path := flag
	if path == "" {
		path = a.io.getenv("EVALCTL_STORE")
	}
	if path == "" {
		dir := "."
		if cfg != nil && cfg.Dir != "" {
			dir = cfg.Dir
		}
		path = filepath.Join(dir, ".evalctl", "evalctl.db")
	}
	st, err := store.Open(path)
	if err != nil {
		return nil, exitErr(ExitUsage, err, "")
	}
	return st, nil
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
		return "check the model name and the base URL"
	case llm.KindUnreachable:
		return "check the base URL (OPENAI_BASE_URL, OLLAMA_HOST or providers.NAME.base_url)"
	}
	return ""
}
