package view

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/store"
)

// bigRun writes a run of n cells (rows × 2 prompts × 4 models) scored by 7
// scorers (5 judges with rationales, 2 code scorers), answers of about 1 KB,
// into a real SQLite store: the shape of the seed workload, scaled.
func bigRun(b *testing.B, st *store.Store, n int) *store.Run {
	b.Helper()
	var vs []*eval.Variant
	for _, p := range []string{"basic", "academic"} {
		for _, m := range []string{"a", "b", "c", "d"} {
			vs = append(vs, eval.NewVariant("", &prompts.Template{Name: p, Version: "v" + p[:3]}, nil, &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: m}}))
		}
	}
	names := []string{"english", "software_engineering_related", "reference_to_definition", "relevance_to_query", "enough_words", "not_too_many_words", "correctness"}
	lay := eval.Layout{Scorers: names, Rows: n / len(vs), Repeat: 1, Columns: []string{"category", "question"}}
	for _, v := range vs {
		lay.Variants = append(lay.Variants, v.Spec())
	}
	run := &store.Run{ID: store.NewRunID(time.Now()), Name: "big", StartedAt: time.Now(), Spec: store.Spec{Layout: lay}, Planned: n}
	if err := st.CreateRun(context.Background(), run); err != nil {
		b.Fatal(err)
	}
	sink := st.Sink(run.ID)
	answer := strings.Repeat("A commit records a snapshot of the tracked files with its parents, author and message. ", 12)
	for i := range n {
		row := &datasets.Row{ID: fmt.Sprintf("q%06d", i/len(vs)), Line: i/len(vs) + 2, Vars: map[string]string{
			"category": []string{"Git", "DDD", "Testing"}[i%3], "question": fmt.Sprintf("What is concept %d?", i/len(vs))}}
		r := eval.Result{Cell: eval.Cell{Index: i, Row: row, Variant: vs[i%len(vs)]}, System: "You are a professor.", Input: "Question: " + row.Vars["question"],
			Answer: answer, FinishReason: "stop", Usage: llm.Usage{PromptTokens: 60, CompletionTokens: 300}, Latency: time.Duration(800+i%400) * time.Millisecond, Attempts: 1}
		if i%97 == 13 {
			r.Answer, r.Err = "", &llm.Error{Kind: llm.KindServer, Status: 500, Msg: "boom", Attempts: 5}
		} else {
			for j, name := range names {
				pass := (i*31+j*17)%10 < 8
				fb := scorers.Passed(pass, map[bool]string{true: "yes", false: "no"}[pass], fmt.Sprintf("The answer %s the criterion for concept %d.", map[bool]string{true: "meets", false: "misses"}[pass], i/len(vs)))
				fb.Scorer = name
				if j < 4 || j == 6 {
					fb.JudgeModel, fb.Usage, fb.Attempts = "sim:judge", llm.Usage{PromptTokens: 400, CompletionTokens: 30}, 1
				}
				r.Feedback = append(r.Feedback, fb)
			}
		}
		sink.Put(r)
	}
	if err := sink.End(eval.StatusComplete); err != nil {
		b.Fatal(err)
	}
	run, err := st.RunByID(context.Background(), run.ID)
	if err != nil {
		b.Fatal(err)
	}
	return run
}

// BenchmarkRunPage times the run page of a 100,000-cell run (a real SQLite
// file): the first page, a filtered page, a deep page and the review
// queue, each with its summary counted (as the server keeps it); and the
// summary counted cold.
func BenchmarkRunPage(b *testing.B) {
	st := newStore(b)
	start := time.Now()
	run := bigRun(b, st, 100_000)
	b.Logf("wrote 100,000 cells × 7 scorers in %v", time.Since(start))
	srv, err := New(st, Options{Loopback: true, Author: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	// A server that has not counted the run yet answers within its budget,
	// the pass rates to follow.
	start = time.Now()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/runs/"+run.ID, nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Counting the pass rates") {
		b.Fatalf("cold page: %d", rec.Code)
	}
	b.Logf("the first page before the summary is counted: %v", time.Since(start))
	if _, ok, err := srv.sums.get(context.Background(), run, time.Minute); err != nil || !ok {
		b.Fatalf("summary: %v", err)
	}
	b.Logf("the summary counted %v after the first request", time.Since(start))
	page := func(b *testing.B, query string) {
		for b.Loop() {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/runs/"+run.ID+query, nil))
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Pass rates by variant") {
				b.Fatalf("%s: %d %.300s", query, rec.Code, rec.Body.String())
			}
		}
	}
	for _, tc := range []struct{ name, query string }{
		{"first page", ""},
		{"failing answers of a scorer", "?scorer=correctness&outcome=fail"},
		{"page 1000", "?page=1000"},
		{"review queue", "?order=review&criterion=correctness"},
		{"text search", "?q=concept+4242%3F"},
	} {
		b.Run(tc.name, func(b *testing.B) { page(b, tc.query) })
	}
	b.Run("summary cold", func(b *testing.B) {
		for b.Loop() {
			if _, err := summarize(context.Background(), st, run); err != nil {
				b.Fatal(err)
			}
		}
	})
}
