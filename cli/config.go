package cli

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/store"
)

// loadConfig reads the config file and applies the flags over it.
// configPath locates the config: the --config flag, else evalctl.yaml in
// the working directory (through IO.Getwd), else none (""). It is the one
// place that looks for it; the store is found beside it (storePath).
func (a *app) configPath(flag string) string {
	if flag != "" {
		return flag
	}
	wd, err := a.io.Getwd()
	if err != nil {
		return ""
	}
	if p := filepath.Join(wd, "evalctl.yaml"); fileExists(p) {
		return p
	}
	return ""
}

// storePath locates the run store: the --store flag, else $EVALCTL_STORE,
// else .evalctl/evalctl.db in dir (the config's directory, or the working
// directory).
func (a *app) storePath(flag, dir string) string {
	if flag != "" {
		a.redactor.Add(store.Password(flag))
		return flag
	}
	if env := a.io.getenv("EVALCTL_STORE"); env != "" {
		a.redactor.Add(store.Password(env))
		return env
	}
	if dir == "" {
		dir, _ = a.io.Getwd()
	}
	return filepath.Join(dir, ".evalctl", "evalctl.db")
}

func loadConfig(a *app, opts *RunOptions) (*config.Config, error) {
	var cfg *config.Config
	wd, err := a.io.Getwd()
	if err != nil {
		return nil, err
	}
	// Paths in the config are relative to its directory; paths in flags are
	// relative to the working directory.
	path := a.configPath(opts.ConfigPath)
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
	if opts.set("prompts") || opts.set("models") {
		// The flags say what to run: agents (variants with tools) give way too.
		cfg.Agents = nil
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
