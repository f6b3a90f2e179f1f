package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/scorers"
)

// TestCountsInTheDatabase: what the database counts (Tallies,
// VariantStats, a cell's Position in a list) equals what Go counts from
// the records, on each backend, with repeats folded per question.
func TestCountsInTheDatabase(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	for _, repeats := range []int{1, 2} {
		run := pageRun(t, s, 23, repeats)
		var recs []eval.Record
		if err := s.EachRecord(ctx, run, true, func(r eval.Record) error { recs = append(recs, r); return nil }); err != nil {
			t.Fatal(err)
		}
		// Go's count: per variant and scorer, per question (majority of its
		// decided outcomes; a tie fails), numeric scores averaged per question.
		type key struct{ scorer, variant string }
		type q struct {
			pass, fail int
			sum        float64
			n          int
		}
		perQ := map[key]map[string]*q{}
		want := map[key]*Tally{}
		stats := map[string]*VariantStat{}
		for _, r := range recs {
			vs := stats[r.Variant.ID]
			if vs == nil {
				vs = &VariantStat{Variant: r.Variant.ID}
				stats[r.Variant.ID] = vs
			}
			vs.Cells++
			vs.PromptTokens += r.Usage.PromptTokens
			vs.CompletionTokens += r.Usage.CompletionTokens
			if r.Err != nil {
				vs.GenErrors++
			}
			for _, fb := range r.Feedback {
				k := key{fb.Scorer, r.Variant.ID}
				tl := want[k]
				if tl == nil {
					tl = &Tally{Scorer: fb.Scorer, Variant: r.Variant.ID}
					want[k], perQ[k] = tl, map[string]*q{}
				}
				if fb.JudgeModel != "" {
					tl.Judged++
					tl.JudgeTokens += fb.Usage.Total()
				}
				qq := perQ[k][r.RowID]
				if qq == nil {
					qq = &q{}
					perQ[k][r.RowID] = qq
				}
				switch {
				case fb.Err != "":
					tl.Errors++
				case fb.Skipped:
					tl.Skipped++
				case fb.Pass != nil && *fb.Pass:
					qq.pass++
				case fb.Pass != nil:
					qq.fail++
				case fb.Score != nil:
					qq.sum += *fb.Score
					qq.n++
				}
			}
		}
		for k, qs := range perQ {
			tl := want[k]
			for _, qq := range qs {
				switch {
				case repeats == 1:
					tl.Pass += qq.pass
					tl.Fail += qq.fail
					tl.Sum += qq.sum
					tl.N += qq.n
				default:
					if qq.pass > qq.fail {
						tl.Pass++
					} else if qq.pass+qq.fail > 0 {
						tl.Fail++
					}
					if qq.n > 0 {
						tl.Sum += qq.sum / float64(qq.n)
						tl.N++
					}
				}
			}
		}
		got, err := s.Tallies(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("repeats %d: %d tallies, want %d", repeats, len(got), len(want))
		}
		for _, tl := range got {
			if d := cmp.Diff(*want[key{tl.Scorer, tl.Variant}], tl); d != "" {
				t.Errorf("repeats %d: tally of %s × %s (-go +database):\n%s", repeats, tl.Scorer, tl.Variant, d)
			}
		}
		vstats, err := s.VariantStats(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vstats {
			w := stats[v.Variant]
			if w == nil || v.Cells != w.Cells || v.GenErrors != w.GenErrors || v.PromptTokens != w.PromptTokens || v.CompletionTokens != w.CompletionTokens {
				t.Errorf("repeats %d: variant stats %+v, want %+v", repeats, v, w)
			}
		}
		// A cell's position in a list is its place in the list's pages.
		for _, cq := range []CellQuery{{}, {Criterion: "judge", Review: true}, {Scorer: "judge", Outcome: OutcomeFail}, {Text: "ANSWER 1"}} {
			cq.Limit = 1000
			page, err := s.Cells(ctx, run, cq)
			if err != nil {
				t.Fatal(err)
			}
			in := map[int]int{}
			for i, r := range page.Records {
				in[r.Index] = i
			}
			for _, r := range recs {
				pos, ok, err := s.Position(ctx, run, cq, r.Index)
				if err != nil {
					t.Fatal(err)
				}
				if want, listed := in[r.Index]; ok != listed || (listed && pos != want) {
					t.Errorf("%+v: cell %d at %d (listed %v); the page has it at %d (listed %v)", cq, r.Index, pos, ok, want, listed)
				}
			}
		}
	}
	// History: the completion tokens of answers and of judges (a verdict
	// with three votes counts three calls).
	run := &Run{ID: NewRunID(time.Now()), StartedAt: time.Now(), Spec: Spec{Layout: layout()}}
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	rs := results()
	rs[0].Feedback[0].Votes = []scorers.Vote{{Judge: "sim:j", Value: "yes"}, {Judge: "sim:j", Value: "yes"}, {Judge: "sim:j", Value: "no"}}
	sink := s.Sink(run.ID)
	for _, r := range rs {
		sink.Put(r)
	}
	if err := sink.End(eval.StatusComplete); err != nil {
		t.Fatal(err)
	}
	h, err := s.CompletionHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, j := h.Generation[[2]string{"sim:a", "basic"}], h.Judge[[2]string{"sim:j", "english"}]; g != (Mean{5, 1}) || j != (Mean{3, 3}) {
		t.Errorf("history: generation %+v, judge %+v", g, j)
	}
}
