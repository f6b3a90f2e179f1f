package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/eval"
)

// storedOptions is what a run keeps of its command line, to plan it again on
// --resume.
type storedOptions struct {
	RunOptions
	Set       []string `json:"set"`        // flags given
	ConfigDir string   `json:"config_dir"` // absolute
	WorkDir   string   `json:"work_dir"`
}

var runFlags = []string{"config", "dataset", "prompts-dir", "prompts", "system", "models", "judge", "limit", "shard", "group",
	"concurrency", "repeat", "out", "max-error-rate", "store", "no-cache", "name", "tag", "max-cost", "batch",
	"fail-under", "max-drop", "no-significant-drop", "baseline"}

// resumeRun plans a stored run again and computes only what it lacks.
func resumeRun(a *app, opts *RunOptions) error {
	var locate *config.Config
	if a.configPath(opts.ConfigPath) != "" {
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
	if src := run.Tags["imported"]; src != "" {
		return usageErr("run %s was imported (%s): its answers were not generated here, so there is nothing to resume; judge them with: evalctl score %s", run.ID, src, run.ID)
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
		path := filepath.Join(so.ConfigDir, name)
		text, err := unredactedConfig(a, path, run.Config)
		if err != nil {
			return exitErr(ExitUsage, fmt.Errorf("run %s: %w", run.ID, err), "start a new run instead")
		}
		cfg, err = config.Parse(path, []byte(text), a.io.LookupEnv)
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
	// A batch run goes on in batches: its resume waits for the batches the
	// killed process left running instead of asking again.
	opts.Batch = opts.Batch || so.Batch
	// A run that asked without the cache goes on without it: its cells
	// are not mixed with answers an earlier run left in the cache.
	opts.NoCache = opts.NoCache || so.NoCache
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
	return execute(a, st, run, p, cells, nil)
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
		if w.ID == eval.LegacyVariantID(w.Prompt.Name, w.Prompt.Version, w.Model.Ref) {
			// Recorded before variants: its system prompt is unknown, its ID
			// is its prompt version and model.
			switch {
			case w.Prompt != n.Prompt:
				return fmt.Errorf("variant %s: prompt %s was @%s and is now %s@%s", name, w.Prompt.Name, w.Prompt.Version, n.Prompt.Name, n.Prompt.Version)
			case !reflect.DeepEqual(w.Model, n.Model):
				return fmt.Errorf("variant %s: its model or parameters changed", name)
			}
			continue
		}
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
		default:
			return fmt.Errorf("variant %s: its model or parameters changed", name)
		}
	}
	if strings.Join(was.Scorers, ",") != strings.Join(now.Scorers, ",") {
		return fmt.Errorf("its scorers changed (were %s)", strings.Join(was.Scorers, ", "))
	}
	return nil
}

// unredactedConfig returns a run's stored config text as it was: the
// secrets written in it (a tool server's --api-key, a literal env value)
// were redacted when it was stored, so they are taken from the config file
// at path, provided it is the same file but for them.
func unredactedConfig(a *app, path, stored string) (string, error) {
	if !strings.Contains(stored, "[REDACTED]") {
		return stored, nil
	}
	data, err := os.ReadFile(path)
	if err == nil {
		var cfg *config.Config
		if cfg, err = config.Parse(path, data, a.io.LookupEnv); err == nil {
			toolServerSpecs(a, cfg) // the redactor learns the file's secrets
			if a.redactor.Redact(string(data)) == stored {
				return string(data), nil
			}
			err = errors.New("it changed since the run")
		}
	}
	return "", fmt.Errorf("its stored config had secrets, redacted, and %s cannot restore them: %v", filepath.Base(path), err)
}
