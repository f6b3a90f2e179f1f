package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/store"
)

// storedAnswers reads the newest run of a store: "row|prompt|model" → answer.
func storedAnswers(t *testing.T, path string) (map[string]string, *store.Run) {
	t.Helper()
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run, err := st.Run(context.Background(), "last")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	err = st.EachRecord(context.Background(), run, true, func(r eval.Record) error {
		k := r.RowID + "|" + r.Variant.Prompt.Name + "|" + r.Variant.Model.Ref
		if _, dup := out[k]; dup {
			return fmt.Errorf("cell %s twice", k)
		}
		out[k] = r.Answer
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, run
}

// Three CI jobs run a shard each into their own store; a fourth merges them.
// The merged run holds exactly the cells of an unsharded run.
func TestShardsMerge(t *testing.T) {
	cfg := project(t, map[string]string{
		"questions.csv": numberedQuestions(40),
		"evalctl.yaml": `dataset: questions.csv
prompts: {dir: prompts, use: [concise], system: ''}
models: [sim:a, sim:b]
scorers:
  - {name: enough_words, type: word_count, min: 11}
`,
	})
	dir := t.TempDir()
	db := func(name string) string { return filepath.Join(dir, name+".db") }
	rows := 0
	for i := 1; i <= 3; i++ {
		r := run(t, nil, nil, "run", "--config", cfg, "--shard", fmt.Sprintf("%d/3", i), "--store", db(fmt.Sprint("shard", i)))
		if r.code != ExitOK {
			t.Fatalf("shard %d: exit %d\n%s", i, r.code, r.stderr)
		}
		got, run := storedAnswers(t, db(fmt.Sprint("shard", i)))
		if run.Tags["shard"] != fmt.Sprintf("%d/3", i) || run.Tags["group"] == "" || len(got) == 0 {
			t.Errorf("shard %d run: tags %v, %d cells", i, run.Tags, len(got))
		}
		rows += len(got) / 2
	}
	if rows != 40 {
		t.Errorf("the shards ran %d rows in all, want 40", rows)
	}

	// A missing shard is refused, naming it; --partial merges what there is.
	r := run(t, nil, nil, "merge", "--store", db("partial"), db("shard1"), db("shard3"))
	if r.code != ExitUsage || !strings.Contains(r.stderr, "lacks shard 2/3") {
		t.Errorf("merge without shard 2: exit %d %s", r.code, r.stderr)
	}
	r = run(t, nil, nil, "merge", "--partial", "--store", db("partial"), db("shard1"), db("shard3"))
	part, pr := storedAnswers(t, db("partial"))
	if r.code != ExitOK || pr.Status != eval.StatusIncomplete || pr.Planned != 80 || pr.Done != len(part) || pr.Done >= 80 {
		t.Errorf("--partial: exit %d, status %s, %d of %d cells (want of 80)\n%s", r.code, pr.Status, pr.Done, pr.Planned, r.stderr)
	}
	if want := fmt.Sprintf("%d of 80 cells", len(part)); !strings.Contains(r.stderr, want) {
		t.Errorf("a partial merge reports %q? %s", want, r.stderr)
	}
	// A merged run resumes as the whole evaluation: the missing shard's
	// cells are asked, the merged ones are not.
	r = run(t, nil, nil, "run", "--resume", "last", "--config", cfg, "--store", db("partial"))
	if r.code != ExitOK || !strings.Contains(r.stderr, "80 of 80 cells") || !strings.Contains(r.stderr, fmt.Sprintf("%d LLM calls", 80-len(part))) {
		t.Errorf("resume of the partial merge: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	resumed, _ := storedAnswers(t, db("partial"))
	if len(resumed) != 80 {
		t.Errorf("the resumed merge holds %d cells", len(resumed))
	}

	r = run(t, nil, nil, "merge", "--store", db("merged"), db("shard1"), db("shard2"), db("shard3"))
	if r.code != ExitOK {
		t.Fatalf("merge: exit %d\n%s", r.code, r.stderr)
	}
	merged, mr := storedAnswers(t, db("merged"))
	if mr.Status != eval.StatusComplete || mr.Planned != 80 || mr.Done != 80 {
		t.Errorf("merged run: %s, %d of %d cells", mr.Status, mr.Done, mr.Planned)
	}
	if r := run(t, nil, nil, "run", "--config", cfg, "--store", db("whole")); r.code != ExitOK {
		t.Fatalf("unsharded run: exit %d\n%s", r.code, r.stderr)
	}
	whole, _ := storedAnswers(t, db("whole"))
	if len(merged) != 80 || len(whole) != 80 {
		t.Fatalf("cells: merged %d, unsharded %d", len(merged), len(whole))
	}
	for k, v := range whole {
		if merged[k] != v || resumed[k] != v {
			t.Errorf("cell %s differs between the merged (or resumed partial) and the unsharded run", k)
		}
	}
	// Reports and gates read the merged run like any other.
	r = run(t, nil, nil, "report", "last", "--store", db("merged"))
	if r.code != ExitOK || !strings.Contains(r.stdout, "80 of 80 cells") {
		t.Errorf("report of the merged run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
