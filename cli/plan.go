package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/gates/spec"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/batch"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/store"
	"github.com/evalctl/evalctl/tools"
)

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
	if p.providers.batched(modelRefs(p.plan)) && p.providers.dry == nil {
		return usageErr("--max-cost cannot bound a batch run: its requests are sent together, and paid for, before any answer is in; see what it costs with --dry-run, or run without batch")
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
		if versioned && ref == "" {
			return nil, usageErr("prompt %s: name a version after @ (a version, an alias, or latest)", n)
		}
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

	if len(cfg.Models) == 0 && len(cfg.Variants) == 0 && len(cfg.Agents) == 0 {
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
		ps.ledger = func(endpoint string) batch.Ledger { return st.Batches(endpoint) }
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
	// A dry run only estimates: it starts no tool server (its agents get
	// stand-in tools, and scorers' tool names wait for a real run).
	var toolSet *tools.Set
	dryTools := false
	if ps.dry == nil {
		var err error
		if toolSet, err = toolServers(a, cfg, st, readCache); err != nil {
			return nil, err
		}
	} else {
		dryTools = len(toolServerSpecs(a, cfg)) > 0 // and their secrets, for the redactor
	}
	if toolSet != nil {
		ps.closers = append(ps.closers, toolSet.Close)
		if msg := describeTools(toolSet); msg != "" && a.io.Stderr != nil {
			fmt.Fprintln(a.io.Stderr, msg)
		}
	}
	variantOf := func(vc config.VariantConfig) (*eval.Variant, error) {
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
		agent, err := agentOf(cfg, toolSet, vc, set, a.redactor.Redact)
		if err != nil {
			return nil, err
		}
		return eval.NewAgentVariant(vc.Label, t, sys, m, agent), nil
	}
	if len(cfg.Variants) > 0 {
		// Listed by hand: each its prompt, model and parameters, and label.
		for _, vc := range cfg.Variants {
			v, err := variantOf(vc)
			if err != nil {
				return nil, err
			}
			plan.Variants = append(plan.Variants, v)
		}
	} else if len(cfg.Models) > 0 {
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
	for _, ac := range cfg.Agents {
		v, err := variantOf(ac)
		if err != nil {
			return nil, err
		}
		plan.Variants = append(plan.Variants, v)
	}
	plan.TraceBody = cfg.Trace.MaxBodyBytes

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
	if !dryTools {
		if err := checkScorerTools(toolSet, plan.Scorers); err != nil {
			return nil, err
		}
	}
	plan.Prices = llm.Prices(cfg.Prices, modelRefs(plan)...)
	ps.batchPrices(plan.Prices)
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
	pairs := map[[2]string]bool{}
	for _, v := range p.Variants {
		pr, m := v.Prompt.Ref(), v.Model.Ref.String()
		if !slices.Contains(prompts, pr) {
			prompts = append(prompts, pr)
		}
		if !slices.Contains(models, m) {
			models = append(models, m)
		}
		pairs[[2]string{pr, m}] = true
	}
	if n := len(p.Variants); len(prompts)*len(models) == n && len(pairs) == n {
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

// prepareRun validates a run's plan, gates and budget before any call.
func prepareRun(a *app, cfg *config.Config, st *store.Store, opts *RunOptions) (*prepared, error) {
	p, err := prepare(a, cfg, st, !opts.NoCache, func(ps *providers) { ps.batchAll = opts.Batch })
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
