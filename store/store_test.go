package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(location(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// variant is the one variant of the test runs.
var variant = eval.NewVariant("", &prompts.Template{Name: "basic", Version: "aaaa1111"}, nil, &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: "a"}})

func layout() eval.Layout {
	return eval.Layout{Variants: []eval.VariantSpec{variant.Spec()},
		Scorers: []string{"english", "length"}, Rows: 2, Repeat: 1, Columns: []string{"question"}}
}

func results() []eval.Result {
	yes := true
	one, n := 1.0, 12.0
	r1 := eval.Result{Cell: eval.Cell{Index: 0, Row: &datasets.Row{ID: "r1", Line: 2, Vars: map[string]string{"question": "What is \"X\"?\ufffd"}}, Variant: variant},
		System: "sys", Input: "Q: What is X?", Answer: "X is <b>x</b>.", FinishReason: "stop", Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 5},
		Latency: 1234567 * time.Nanosecond, Attempts: 2,
		Feedback: []scorers.Feedback{
			{Scorer: "english", Value: "yes", Pass: &yes, Score: &one, Rationale: "English.", JudgeModel: "sim:j", Raw: `{"result":"yes"}`, Usage: llm.Usage{PromptTokens: 50, CompletionTokens: 9}, Latency: time.Millisecond, Attempts: 1},
			{Scorer: "length", Value: 12.0, Score: &n, Rationale: "12 words"},
		}}
	r2 := eval.Result{Cell: eval.Cell{Index: 1, Row: &datasets.Row{ID: "r2", Line: 3, Vars: map[string]string{"question": "Y?"}}, Variant: variant},
		Input: "Q: Y?", Attempts: 5, Err: &llm.Error{Kind: llm.KindServer, Status: 500, Model: "sim:a", Msg: "boom", Attempts: 5}}
	return []eval.Result{r1, r2}
}

func TestResultsRoundTrip(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	run := &Run{ID: NewRunID(time.Now()), Name: "n", Tags: map[string]string{"pr": "7"}, StartedAt: time.Now(), Spec: Spec{Layout: layout()}, Planned: 2}
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	sink := s.Sink(run.ID)
	want := results()
	for _, r := range want {
		sink.Put(r)
	}
	if err := sink.End(eval.StatusComplete); err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(ctx, "last")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != eval.StatusComplete || got.Done != 2 || got.GenErrors != 1 || got.Tags["pr"] != "7" || got.EndedAt.IsZero() {
		t.Errorf("run %+v", got)
	}
	rs, err := s.Records(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	var wantRecs []eval.Record
	for _, r := range want {
		wantRecs = append(wantRecs, r.Record())
	}
	if diff := cmp.Diff(wantRecs, rs); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if rs[1].Err.Error() != want[1].Err.Error() {
		t.Errorf("error text %q vs %q", rs[1].Err.Error(), want[1].Err.Error())
	}
	var calls int
	s.r.QueryRow(`SELECT count(*) FROM calls WHERE run_id = ?`, run.ID).Scan(&calls)
	if calls != 3 { // two generations and one judge call
		t.Errorf("calls = %d", calls)
	}
}

func TestRunLookup(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i, id := range []string{"20261122-100000-aaaaaa", "20261122-100001-aaaabb", "20261122-100002-cccccc", "20261122-100003-dddddd"} {
		name := fmt.Sprintf("n%d", i)
		if i == 3 {
			name = "n1" // names repeat (main, nightly): the newest wins
		}
		if err := s.CreateRun(ctx, &Run{ID: id, Name: name, StartedAt: base.Add(time.Duration(i) * time.Second), Spec: Spec{Layout: layout()}}); err != nil {
			t.Fatal(err)
		}
	}
	for ref, want := range map[string]string{"last": "20261122-100003-dddddd", "20261122-100001": "20261122-100001-aaaabb",
		"n0": "20261122-100000-aaaaaa", "n1": "20261122-100003-dddddd"} {
		r, err := s.Run(ctx, ref)
		if err != nil || r.ID != want {
			t.Errorf("%s: %v %v", ref, r, err)
		}
	}
	if _, err := s.Run(ctx, "20261122-10000"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := s.Run(ctx, "nope"); !errors.Is(err, ErrNoRun) {
		t.Errorf("missing: %v", err)
	}
	// This process is alive, so its runs show as running.
	r, _ := s.Run(ctx, "n0")
	if r.Status != eval.StatusRunning || !r.Alive() {
		t.Errorf("status %s", r.Status)
	}
	// A run whose process is gone shows as interrupted.
	s.w.Exec(`UPDATE runs SET pid = 999999999 WHERE id = ?`, r.ID)
	if r, _ := s.Run(ctx, "n0"); r.Status != eval.StatusInterrupted {
		t.Errorf("dead process: status %s", r.Status)
	}
	if err := s.DeleteRun(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if runs, _ := s.Runs(ctx); len(runs) != 3 {
		t.Errorf("%d runs after rm", len(runs))
	}
}

func TestPromptRegistry(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	s.SavePromptVersion(ctx, "basic", "aaaa1111", "v1 {question}")
	s.SavePromptVersion(ctx, "basic", "bbbb2222", "v2 {question}")
	s.SavePromptVersion(ctx, "basic", "bbbb2222", "v2 {question}") // idempotent
	if v, err := s.PromptVersion(ctx, "basic", "latest"); err != nil || v.Version != "bbbb2222" {
		t.Errorf("latest: %v %v", v, err)
	}
	if _, err := s.TagPrompt(ctx, "basic", "aaaa", "production"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.PromptVersion(ctx, "basic", "production"); err != nil || v.Text != "v1 {question}" {
		t.Errorf("alias: %v %v", v, err)
	}
	if _, err := s.PromptVersion(ctx, "basic", "cccc"); err == nil || !strings.Contains(err.Error(), "versions: bbbb2222, aaaa1111 (production)") {
		t.Errorf("unknown version: %v", err)
	}
	if _, err := s.TagPrompt(ctx, "basic", "aaaa1111", "latest"); err == nil {
		t.Error("alias latest accepted")
	}
}

type echo struct{ n int }

func (e *echo) Complete(_ context.Context, req llm.Request) (llm.Response, error) {
	e.n++
	return llm.Response{Text: "answer to " + req.Messages[0].Content, FinishReason: "stop", Usage: llm.Usage{PromptTokens: 3, CompletionTokens: 4}, Latency: 7 * time.Millisecond, Attempts: 1}, nil
}

func TestResponseCache(t *testing.T) {
	s := open(t)
	inner := &echo{}
	stats := &CacheStats{}
	c := s.Cached(inner, "openai https://x/v1", true, stats)
	req := llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}}
	first, _ := c.Complete(context.Background(), req)
	s.Flush()
	again, _ := c.Complete(context.Background(), req)
	if inner.n != 1 || !again.Cached || again.Text != first.Text || again.Latency != first.Latency || again.Usage != first.Usage {
		t.Errorf("second call not cached: n=%d %+v", inner.n, again)
	}
	req.Sample = 1 // a repeat is a different request
	c.Complete(context.Background(), req)
	other := s.Cached(inner, "openai http://localhost:8000/v1", true, stats) // another server
	other.Complete(context.Background(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}})
	bypass := s.Cached(inner, "openai https://x/v1", false, stats)
	bypass.Complete(context.Background(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}})
	if inner.n != 4 {
		t.Errorf("calls = %d, want 4", inner.n)
	}
	if h, m := stats.Snapshot(); h != 1 || m != 4 {
		t.Errorf("hits %d misses %d", h, m)
	}
}

// TestMigrationFromV1 opens a store written by schema version 1.
func TestMigrationFromV1(t *testing.T) {
	sqliteOnly(t)
	path := filepath.Join(t.TempDir(), "old.db")
	ctx := context.Background()
	old, err := OpenAt(ctx, path, 1)
	if err != nil {
		t.Fatal(err)
	}
	var tables int
	old.r.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'response_cache'`).Scan(&tables)
	if tables != 0 {
		t.Fatal("version 1 already has the cache")
	}
	// A run as version 1 wrote it: prompts × models in the layout, cells and
	// verdicts keyed by prompt name and model.
	run := &Run{ID: "20260101-000000-abcdef"}
	legacy := `{"layout":{"prompts":[{"name":"basic","version":"aaaa1111"}],"models":[{"ref":"sim:a","params":{}}],` +
		`"scorers":["english","length"],"rows":2,"repeat":1,"columns":["question"]}}`
	if _, err := old.w.Exec(`INSERT INTO runs(id, status, started_at, spec, planned) VALUES (?, 'running', ?, ?, 2)`,
		run.ID, time.Unix(1767225600, 0).UnixNano(), legacy); err != nil {
		t.Fatal(err)
	}
	for i, r := range results() {
		if _, err := old.w.Exec(`INSERT INTO cells(run_id, idx, row_id, row_line, row_vars, prompt, prompt_version, model,
			repeat, system, input, answer, finish_reason, prompt_tokens, completion_tokens, latency_ns, attempts)
			VALUES (?,?,?,?,'{}',?,?,?,0,'','',?,'stop',1,1,0,1)`, run.ID, i, r.Row.ID, r.Row.Line, r.Variant.Prompt.Name,
			r.Variant.Prompt.Version, r.Variant.Model.Ref.String(), r.Answer); err != nil {
			t.Fatal(err)
		}
		if _, err := old.w.Exec(`INSERT INTO feedback(run_id, row_id, prompt, model, repeat, scorer, value, pass)
			VALUES (?,?,?,?,0,'english','"yes"',1)`, run.ID, r.Row.ID, r.Variant.Prompt.Name, r.Variant.Model.Ref.String()); err != nil {
			t.Fatal(err)
		}
	}
	old.w.Exec(`UPDATE runs SET status = 'complete' WHERE id = ?`, run.ID)
	old.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Run(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := s.Records(ctx, got)
	if err != nil || len(rs) != 2 || rs[0].Answer != "X is <b>x</b>." {
		t.Fatalf("results after migration: %v %v", rs, err)
	}
	// The verdicts are the run's own assessment's, read by name.
	if fb := rs[0].Feedback; len(fb) != 1 || fb[0].Scorer != "english" || fb[0].Pass == nil || !*fb[0].Pass {
		t.Errorf("feedback after migration: %+v", fb)
	}
	if v := rs[0].Variant; v.ID != eval.LegacyVariantID("basic", "aaaa1111", "sim:a") || v.Prompt.Name != "basic" || v.Model.Ref != "sim:a" {
		t.Errorf("variant after migration: %+v", v)
	}
	if as, err := s.Assessments(ctx, run.ID); err != nil || len(as) != 1 || as[0].Status != eval.StatusComplete || strings.Join(as[0].Scorers, ",") != "english,length" {
		t.Errorf("assessments after migration: %+v %v", as, err)
	}
	c := s.Cached(&echo{}, "e", true, nil)
	if _, err := c.Complete(ctx, llm.Request{Model: "m", Messages: []llm.Message{{Content: "x"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Errorf("cache table missing after migration: %v", err)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	path := location(t)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.w.Exec(`INSERT INTO goose_db_version(version_id, is_applied) VALUES (99, TRUE)`)
	s.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer than this evalctl understands") {
		t.Errorf("err = %v", err)
	}
}

// Readers never see "database is locked" while the writer commits batches.
func TestReadersDuringWrites(t *testing.T) {
	path := location(t)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	run := &Run{ID: NewRunID(time.Now()), StartedAt: time.Now(), Spec: Spec{Layout: layout()}}
	s.CreateRun(ctx, run)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		sink := s.Sink(run.ID)
		base := results()[0]
		for i := 0; i < 600; i++ {
			r := base
			r.Row = &datasets.Row{ID: fmt.Sprint("r", i), Vars: base.Row.Vars}
			r.Index = i
			sink.Put(r)
		}
		s.Flush()
		close(stop)
	})
	reads := 0
	for done := false; !done; reads++ {
		select {
		case <-stop:
			done = true
		default:
		}
		// A separate process-like reader: its own connection pool.
		other, err := Open(path)
		if err != nil {
			t.Fatalf("open during writes: %v", err)
		}
		if _, err := other.Runs(ctx); err != nil {
			t.Fatalf("read during writes: %v", err)
		}
		other.Close()
	}
	wg.Wait()
	if r, _ := s.Run(ctx, run.ID); r.Done != 600 {
		t.Errorf("done = %d", r.Done)
	}
}

func BenchmarkPutResult(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "evalctl.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	run := &Run{ID: NewRunID(time.Now()), StartedAt: time.Now(), Spec: Spec{Layout: layout()}}
	s.CreateRun(context.Background(), run)
	sink := s.Sink(run.ID)
	base := results()[0]
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := base
		r.Row = &datasets.Row{ID: fmt.Sprint("r", i), Vars: base.Row.Vars}
		r.Index = i
		i++
		sink.Put(r)
	}
	s.Flush()
}

// Several processes may create the same store at once.
func TestConcurrentFirstOpen(t *testing.T) {
	path := location(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	salts := make(chan string, 6)
	for range 6 {
		wg.Go(func() {
			s, err := Open(path)
			if err == nil {
				_, err = s.Runs(context.Background())
				salts <- string(s.Salt())
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	close(salts)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	seen := map[string]bool{}
	for s := range salts {
		seen[s] = true
	}
	if len(seen) > 1 {
		t.Errorf("processes opening one store got %d different salts", len(seen))
	}
}

// A scoring pass whose process died (kill -9) shows as interrupted, not
// running for good; a live one as running.
func TestAssessmentOfADeadProcess(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	run := &Run{ID: NewRunID(time.Now()), StartedAt: time.Now(), Spec: Spec{Layout: layout()}}
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	live, err := s.BeginAssessment(ctx, run.ID, []string{"english"}, "sim:j", "")
	if err != nil {
		t.Fatal(err)
	}
	dead, _ := s.BeginAssessment(ctx, run.ID, []string{"english"}, "sim:j", "")
	if _, err := s.w.Exec(`UPDATE assessments SET pid = 2147483646 WHERE run_id = ? AND id = ?`, run.ID, dead); err != nil {
		t.Fatal(err)
	}
	as, err := s.Assessments(ctx, run.ID)
	if err != nil || len(as) != 3 {
		t.Fatalf("%+v %v", as, err)
	}
	if as[live-1].Status != eval.StatusRunning || as[dead-1].Status != eval.StatusInterrupted {
		t.Errorf("live %s, dead %s", as[live-1].Status, as[dead-1].Status)
	}
}

// TestWorkAfterClose: a reader still at work when its program closes the
// store (the view's background counting) gets ErrClosed, never a panic.
func TestWorkAfterClose(t *testing.T) {
	st, err := Open(location(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for range 8 {
		go func() {
			var err error
			for err == nil {
				err = st.Flush()
			}
			done <- err
		}()
	}
	st.Close()
	for range 8 {
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Errorf("flush after close: %v", err)
		}
	}
}
