package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/store"
)

// withShard tags a shard run with its shard and group. The default group
// is a digest of what every shard of one evaluation shares (dataset,
// templates, models, scorers, repeats, row limit, shard count), so CI matrix
// jobs of the same commit agree on it without being told.
func withShard(tags map[string]string, shard, group string, p *eval.Plan) map[string]string {
	if tags == nil {
		tags = map[string]string{}
	}
	sh, _ := eval.ParseShard(shard)
	if group == "" {
		l := p.Layout()
		l.Rows = 0
		b, _ := json.Marshal(struct {
			Layout  eval.Layout
			Dataset string
			N       int
		}{l, p.Dataset.Hash, sh.N})
		h := sha256.Sum256(b)
		group = "g-" + hex.EncodeToString(h[:5])
	}
	tags["shard"], tags["group"] = sh.String(), group
	return tags
}

// MergeOptions are the inputs of `evalctl merge`.
type MergeOptions struct {
	StoreOptions
	Group   string
	Name    string
	Partial bool
	Sources []string
}

func newCmdMerge(a *app) *cobra.Command {
	opts := &MergeOptions{}
	cmd := &cobra.Command{
		Use:   "merge [SHARD_STORE.db ...]",
		Short: "Combine the shard runs of one evaluation (run --shard i/n) into one run for reports and gates",
		Long: `Combine shard runs into one run of the target store (--store, or the default store).

Shard runs are taken from the target store itself (shards that shared it) and from
every store file given as an argument (one per CI matrix job). The shards of one
group must all be there, each once (the newest run of a shard counts), with the same
templates, models, scorers and dataset; --partial merges what there is and marks the
merged run incomplete.

` + exitCodesHelp,
		Example: `  # CI: each matrix job runs one shard into its own store
  evalctl run --shard 2/4 --store shard-2.db
  # then one job merges the artifacts and gates
  evalctl merge --store merged.db shard-*.db && evalctl gate last --store merged.db --fail-under overall=0.8`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Sources = args
			return runMerge(a, opts)
		},
	}
	addStoreFlags(cmd, &opts.StoreOptions)
	cmd.Flags().StringVar(&opts.Group, "group", "", "the shard group to merge (default: the only group found)")
	cmd.Flags().StringVar(&opts.Name, "name", "", "a name for the merged run (default: the group)")
	cmd.Flags().BoolVar(&opts.Partial, "partial", false, "merge even when shards are missing (the merged run is incomplete)")
	return cmd
}

type shardRun struct {
	st    *store.Store
	run   *store.Run
	shard eval.Shard
}

func runMerge(a *app, opts *MergeOptions) error {
	ctx := context.Background()
	dst, err := opts.open(a)
	if err != nil {
		return err
	}
	defer dst.Close()
	stores := []*store.Store{dst}
	for _, path := range opts.Sources {
		if _, err := os.Stat(path); err != nil {
			return usageErr("shard store %s: %v", path, err)
		}
		st, err := store.Open(path)
		if err != nil {
			return exitErr(ExitUsage, err, "")
		}
		defer st.Close()
		stores = append(stores, st)
	}
	var found []shardRun
	groups := map[string]bool{}
	for _, st := range stores {
		runs, err := st.Runs(ctx)
		if err != nil {
			return err
		}
		for _, r := range runs {
			sh, err := eval.ParseShard(r.Tags["shard"])
			if err != nil || r.Tags["group"] == "" {
				continue
			}
			groups[r.Tags["group"]] = true
			found = append(found, shardRun{st, r, sh})
		}
	}
	group := opts.Group
	if group == "" {
		switch len(groups) {
		case 0:
			return usageErr("no shard runs found in %s (runs made with --shard i/n)", strings.Join(append([]string{dst.Path}, opts.Sources...), ", "))
		case 1:
			for g := range groups {
				group = g
			}
		default:
			return usageErr("shard runs of several groups: %s; choose one with --group", strings.Join(sortedKeys(groups), ", "))
		}
	} else if !groups[group] {
		return usageErr("no shard runs of group %q (groups found: %s)", group, strings.Join(sortedKeys(groups), ", "))
	}

	// The newest run of each shard (Runs lists newest first; the target
	// store before the sources).
	var n int
	byShard := map[int]shardRun{}
	for _, f := range found {
		if f.run.Tags["group"] != group {
			continue
		}
		if n == 0 {
			n = f.shard.N
		}
		if f.shard.N != n {
			return usageErr("group %s mixes shard counts (%d and %d)", group, n, f.shard.N)
		}
		if f.run.Alive() {
			return usageErr("shard %s (run %s) is still running", f.shard, f.run.ID)
		}
		if old, ok := byShard[f.shard.I]; !ok || f.run.StartedAt.After(old.run.StartedAt) {
			byShard[f.shard.I] = f
		}
	}
	var missing []string
	var parts []shardRun
	for i := 1; i <= n; i++ {
		if p, ok := byShard[i]; ok {
			parts = append(parts, p)
		} else {
			missing = append(missing, fmt.Sprintf("%d/%d", i, n))
		}
	}
	if len(missing) > 0 && !opts.Partial {
		return usageErr("group %s lacks shard %s (or pass --partial)", group, strings.Join(missing, ", "))
	}

	first := parts[0].run
	layout := first.Spec.Layout
	status := eval.StatusComplete
	rows := 0
	for _, p := range parts {
		l := p.run.Spec.Layout
		rows += l.Rows
		l.Rows = layout.Rows
		if err := sameLayout(layout, l); err != nil {
			return usageErr("shard %s (run %s) differs from shard %s: %v", p.shard, p.run.ID, parts[0].shard, err)
		}
		if p.run.DatasetHash != first.DatasetHash {
			return usageErr("shard %s (run %s) read a different dataset than shard %s", p.shard, p.run.ID, parts[0].shard)
		}
		if p.run.Status != eval.StatusComplete {
			status = eval.StatusIncomplete
		}
	}
	if len(missing) > 0 {
		status = eval.StatusIncomplete
	}
	layout.Rows = rows
	if all, err := strconv.Atoi(first.Tags["rows"]); err == nil && all >= rows {
		layout.Rows = all // the whole evaluation's, missing shards included
	}
	// The merged run resumes as the whole evaluation: the shards' options
	// without --shard.
	var so storedOptions
	options := first.Spec.Options
	if err := json.Unmarshal(first.Spec.Options, &so); err == nil {
		so.Shard, so.Group = "", ""
		so.Set = slices.DeleteFunc(so.Set, func(n string) bool { return n == "shard" || n == "group" })
		options, _ = json.Marshal(so)
	}

	name := opts.Name
	if name == "" {
		name = group
	}
	var ids []string
	for _, p := range parts {
		ids = append(ids, p.run.ID)
	}
	now := time.Now()
	merged := &store.Run{ID: store.NewRunID(now), Name: name, StartedAt: now,
		Tags:   map[string]string{"group": group, "merged": strconv.Itoa(len(parts)) + "/" + strconv.Itoa(n)},
		Spec:   store.Spec{Layout: layout, Options: options},
		Config: first.Config, GitCommit: first.GitCommit, GitDirty: first.GitDirty,
		DatasetPath: first.DatasetPath, DatasetHash: first.DatasetHash, Version: version(), Planned: layout.Planned()}
	if err := dst.CreateRun(ctx, merged); err != nil {
		return err
	}
	// Cells are numbered in the order of the whole evaluation: by dataset
	// line, then variant and repeat, as one unsharded run orders them.
	variants := layout.AllVariants()
	pos := map[string]int{}
	for i, v := range variants {
		pos[v.ID] = i
	}
	cells := 0
	for _, p := range parts {
		for _, vs := range variants {
			refs := []eval.PromptRef{vs.Prompt}
			if vs.System != nil {
				refs = append(refs, *vs.System)
			}
			for _, pr := range refs {
				if v, err := p.st.PromptVersion(ctx, pr.Name, pr.Version); err == nil {
					if err := dst.SavePromptVersion(ctx, v.Name, v.Version, v.Text); err != nil {
						return err
					}
				}
			}
		}
		err := p.st.EachRecord(ctx, p.run, true, func(r eval.Record) error {
			r.Index = eval.LineIndex(r.Line, pos[r.Variant.ID], r.Repeat, len(variants), layout.Repeat)
			cells++
			dst.PutRecord(merged.ID, r)
			return nil
		})
		if err != nil {
			dst.EndRun(ctx, merged.ID, eval.StatusIncomplete)
			return fmt.Errorf("reading shard %s (run %s): %w", p.shard, p.run.ID, err)
		}
	}
	if err := dst.EndRun(ctx, merged.ID, status); err != nil {
		return err
	}
	fmt.Fprintf(a.io.Stderr, "evalctl: merged %d of %d shards of %s (runs %s) into run %s %s: %d of %d cells\n",
		len(parts), n, group, strings.Join(ids, ", "), merged.ID, status, cells, merged.Planned)
	if len(missing) > 0 {
		fmt.Fprintf(a.io.Stderr, "evalctl: missing shards: %s\n", strings.Join(missing, ", "))
	}
	fmt.Fprintln(a.io.Stdout, merged.ID)
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
