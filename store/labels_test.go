package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
)

// pageRun stores a run of rows × 2 variants × repeats cells scored by
// "judge" (pass/fail; votes disagree on every 5th row) and "words"
// (numeric): every 7th cell failed to answer, the judge fails rows whose
// number is divisible by 3, and skips rows divisible by 11.
func pageRun(t testing.TB, s *Store, rows, repeats int) *Run {
	t.Helper()
	ctx := context.Background()
	var vs []*eval.Variant
	for _, m := range []string{"a", "b"} {
		vs = append(vs, eval.NewVariant("", &prompts.Template{Name: "basic", Version: "v1"}, nil, &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: m}}))
	}
	lay := eval.Layout{Scorers: []string{"judge", "words"}, Rows: rows, Repeat: repeats, Columns: []string{"question"}}
	for _, v := range vs {
		lay.Variants = append(lay.Variants, v.Spec())
	}
	run := &Run{ID: NewRunID(time.Now()), Name: "paged", StartedAt: time.Now(), Spec: Spec{Layout: lay}, Planned: lay.Planned()}
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	sink := s.Sink(run.ID)
	i := 0
	for r := range rows {
		row := &datasets.Row{ID: fmt.Sprintf("q%03d", r), Line: r + 2, Vars: map[string]string{"question": fmt.Sprintf("What is %d?", r)}}
		for _, v := range vs {
			for k := range repeats {
				res := eval.Result{Cell: eval.Cell{Index: i, Row: row, Variant: v, Repeat: k}, Input: "Q " + row.Vars["question"],
					Answer: fmt.Sprintf("answer %d of %s", r, v.Model.Ref), Latency: time.Duration(i) * time.Millisecond, Attempts: 1}
				if i%7 == 3 {
					res.Answer, res.Err = "", &llm.Error{Kind: llm.KindServer, Msg: "boom"}
				} else {
					pass := r%3 != 0
					fb := scorers.Passed(pass, pass, "judged")
					fb.Scorer, fb.JudgeModel = "judge", "sim:j"
					if r%5 == 0 {
						half := 0.5
						fb.Agreement = &half
					}
					if r%11 == 0 {
						fb = scorers.Feedback{Scorer: "judge", Skipped: true}
					}
					n := float64(r % 4)
					res.Feedback = []scorers.Feedback{fb, {Scorer: "words", Value: n, Score: &n}}
				}
				sink.Put(res)
				i++
			}
		}
	}
	if err := sink.End(eval.StatusComplete); err != nil {
		t.Fatal(err)
	}
	run, err := s.RunByID(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func TestLabelsHistory(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	run := pageRun(t, s, 4, 1)
	rec, err := s.Cell(ctx, run, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := func(l Label) *Label {
		l.Variant, l.RowID, l.Repeat = rec.Variant.ID, rec.RowID, rec.Repeat
		return &l
	}
	for _, l := range []*Label{
		at(Label{Criterion: "judge", Value: LabelPass, Author: "ann"}),
		at(Label{Criterion: "judge", Value: LabelFail, Comment: "wrong year", Author: "bob"}),
		at(Label{Criterion: "words", Value: LabelPass, Author: "ann"}),
	} {
		if err := s.AddLabels(ctx, run, []*Label{l}); err != nil {
			t.Fatal(err)
		}
		if l.ID == 0 || l.CreatedAt.IsZero() || l.Source != "view" {
			t.Errorf("label not filled in: %+v", l)
		}
	}
	latest, err := s.Labels(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 2 || latest[0].Criterion != "judge" || latest[0].Value != LabelFail || latest[0].Author != "bob" || latest[0].Comment != "wrong year" {
		t.Errorf("latest labels: %+v", latest)
	}
	hist, _ := s.LabelHistory(ctx, run.ID, rec.Variant.ID, rec.RowID, rec.Repeat)
	if len(hist) != 3 || hist[0].Value != LabelPass || hist[0].Author != "ann" {
		t.Errorf("history: %+v", hist)
	}
	byCell, _ := s.CellLabels(ctx, run.ID, []int{0, 1})
	if len(byCell[0]) != 2 || len(byCell[1]) != 0 {
		t.Errorf("cell labels: %+v", byCell)
	}

	for _, tc := range []struct {
		name string
		l    *Label
		want string
	}{
		{"bad value", at(Label{Criterion: "judge", Value: "maybe", Author: "a"}), "want pass or fail"},
		{"empty", at(Label{Criterion: "judge", Author: "a"}), "needs pass, fail or a comment"},
		{"no author", at(Label{Criterion: "judge", Value: LabelPass}), "needs an author"},
		{"unknown criterion", at(Label{Criterion: "nope", Value: LabelPass, Author: "a"}), `no scorer "nope"`},
		{"unknown row", &Label{Variant: rec.Variant.ID, RowID: "zzz", Criterion: "judge", Value: LabelPass, Author: "a"}, "no such answer"},
	} {
		if err := s.AddLabels(ctx, run, []*Label{tc.l}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// A cell without an answer cannot be labelled.
	bad, _ := s.Cell(ctx, run, 3)
	if err := s.AddLabels(ctx, run, []*Label{{Variant: bad.Variant.ID, RowID: bad.RowID, Criterion: "judge", Value: LabelFail, Author: "a"}}); !errors.Is(err, ErrNoCell) {
		t.Errorf("label on a failed cell: %v", err)
	}
	// A comment alone is a label entry without a verdict.
	if err := s.AddLabels(ctx, run, []*Label{at(Label{Criterion: "words", Comment: "unsure", Author: "cy"})}); err != nil {
		t.Fatal(err)
	}
	latest, _ = s.Labels(ctx, run.ID)
	if _, ok := latest[1].Pass(); ok || latest[1].Comment != "unsure" {
		t.Errorf("comment-only label: %+v", latest[1])
	}
	// Labels go with their run.
	if err := s.DeleteRun(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	s.r.QueryRow(`SELECT count(*) FROM labels`).Scan(&n)
	if n != 0 {
		t.Errorf("%d labels outlive their run", n)
	}
}

func TestCellQueries(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	run := pageRun(t, s, 30, 1) // 60 cells
	var all []eval.Record
	if err := s.EachRecord(ctx, run, true, func(r eval.Record) error { all = append(all, r); return nil }); err != nil {
		t.Fatal(err)
	}
	verdict := func(r eval.Record, scorer string) *scorers.Feedback {
		for i := range r.Feedback {
			if r.Feedback[i].Scorer == scorer {
				return &r.Feedback[i]
			}
		}
		return nil
	}
	// Label some answers of the judge: pass on the judge's fails of row 0
	// (disagree), fail on row 1 (disagree), pass on row 2 (agree).
	var labels []*Label
	labelled := map[int]string{}
	for _, r := range all {
		var v string
		switch {
		case r.Err != nil:
			continue
		case r.RowID == "q000", r.RowID == "q002":
			v = LabelPass
		case r.RowID == "q001":
			v = LabelFail
		default:
			continue
		}
		labels = append(labels, &Label{Variant: r.Variant.ID, RowID: r.RowID, Repeat: r.Repeat, Criterion: "judge", Value: v, Author: "t"})
		labelled[r.Index] = v
	}
	if err := s.AddLabels(ctx, run, labels); err != nil {
		t.Fatal(err)
	}
	// Each label beside its judge's verdict (none where the judge skipped).
	lvs, err := s.LabelVerdicts(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if len(lvs) != len(labels) {
		t.Fatalf("%d label verdicts for %d labels", len(lvs), len(labels))
	}
	for _, lv := range lvs {
		fb := verdict(all[lv.Index], "judge")
		switch {
		case lv.Value != labelled[lv.Index] || lv.Prompt != "basic" || lv.Model == "":
			t.Errorf("label verdict %+v", lv)
		case fb.Skipped && lv.Pass != nil, !fb.Skipped && (lv.Pass == nil || *lv.Pass != *fb.Pass || lv.Rationale != "judged"):
			t.Errorf("label verdict of cell %d: %v, the judge said %+v", lv.Index, lv.Pass, fb)
		}
	}
	want := func(keep func(r eval.Record) bool) []int {
		var out []int
		for _, r := range all {
			if keep(r) {
				out = append(out, r.Index)
			}
		}
		return out
	}
	outcome := func(scorer, o string) func(r eval.Record) bool {
		return func(r eval.Record) bool {
			fb := verdict(r, scorer)
			if r.Err != nil || fb == nil {
				return false
			}
			switch o {
			case OutcomeSkip:
				return fb.Skipped
			case OutcomePass:
				return !fb.Skipped && fb.Pass != nil && *fb.Pass
			case OutcomeFail:
				return !fb.Skipped && fb.Pass != nil && !*fb.Pass
			}
			return false
		}
	}
	variantB := run.Spec.Layout.Variants[1].ID
	for _, tc := range []struct {
		name string
		q    CellQuery
		want []int
	}{
		{"all", CellQuery{Limit: 100}, want(func(eval.Record) bool { return true })},
		{"judge fails", CellQuery{Scorer: "judge", Outcome: OutcomeFail, Limit: 100}, want(outcome("judge", OutcomeFail))},
		{"judge passes", CellQuery{Scorer: "judge", Outcome: OutcomePass, Limit: 100}, want(outcome("judge", OutcomePass))},
		{"judge skips", CellQuery{Scorer: "judge", Outcome: OutcomeSkip, Limit: 100}, want(outcome("judge", OutcomeSkip))},
		{"any fail", CellQuery{Outcome: OutcomeFail, Limit: 100}, want(outcome("judge", OutcomeFail))},
		{"generation errors", CellQuery{Outcome: OutcomeGenError, Limit: 100}, want(func(r eval.Record) bool { return r.Err != nil })},
		{"variant b", CellQuery{Variant: variantB, Limit: 100}, want(func(r eval.Record) bool { return r.Variant.ID == variantB })},
		{"row", CellQuery{RowID: "q007", Limit: 100}, want(func(r eval.Record) bool { return r.RowID == "q007" })},
		{"text", CellQuery{Text: "ANSWER 12 of", Limit: 100}, want(func(r eval.Record) bool { return strings.Contains(r.Answer, "answer 12 of") })},
		{"text is not a pattern", CellQuery{Text: "answer 1_ of", Limit: 100}, nil},
		{"labelled", CellQuery{Criterion: "judge", Label: LabelAny, Limit: 100}, want(func(r eval.Record) bool { return labelled[r.Index] != "" })},
		{"labelled fail", CellQuery{Criterion: "judge", Label: LabelFail, Limit: 100}, want(func(r eval.Record) bool { return labelled[r.Index] == LabelFail })},
		{"disagree", CellQuery{Criterion: "judge", Label: LabelDisagree, Limit: 100}, want(func(r eval.Record) bool {
			fb := verdict(r, "judge")
			return labelled[r.Index] != "" && fb != nil && !fb.Skipped && (labelled[r.Index] == LabelPass) != *fb.Pass
		})},
		{"page 2", CellQuery{Offset: 10, Limit: 10}, want(func(r eval.Record) bool { return r.Index >= 10 && r.Index < 20 })},
	} {
		page, err := s.Cells(ctx, run, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []int
		for _, r := range page.Records {
			got = append(got, r.Index)
		}
		total := len(tc.want)
		if tc.name == "page 2" {
			total = len(all)
		}
		if !slices.Equal(got, tc.want) || page.Total != total {
			t.Errorf("%s: %v (total %d), want %v (total %d)", tc.name, got, page.Total, tc.want, total)
		}
	}
	// Records on a page are whole: their verdicts and messages.
	page, _ := s.Cells(ctx, run, CellQuery{Offset: 1, Limit: 1})
	if len(page.Records) != 1 || page.Records[0].Input == "" || len(page.Records[0].Feedback) != 2 {
		t.Errorf("page record: %+v", page.Records)
	}

	// The review queue: unlabelled answers whose judges disagree, then
	// those without a judge verdict... then the labelled, the skipped, and
	// the cells without an answer.
	page, err = s.Cells(ctx, run, CellQuery{Criterion: "judge", Review: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	rank := func(r eval.Record) int {
		fb := verdict(r, "judge")
		switch {
		case r.Err != nil:
			return 5
		case labelled[r.Index] != "":
			return 3
		case fb.Skipped:
			return 4
		case fb.Agreement != nil && *fb.Agreement < 1:
			return 0
		}
		return 2
	}
	last := -1
	for i, r := range page.Records {
		if k := rank(r); k < last || (k == last && r.Index < page.Records[i-1].Index) {
			t.Errorf("queue out of order at %d (rank %d after %d)", r.Index, k, last)
		} else {
			last = k
		}
	}
	if page.Total != len(all) {
		t.Errorf("queue of %d", page.Total)
	}
	for _, q := range []CellQuery{{Outcome: "meh"}, {Label: LabelAny}, {Criterion: "judge", Label: "meh"}, {Review: true}} {
		if _, err := s.Cells(ctx, run, q); err == nil {
			t.Errorf("%+v accepted", q)
		}
	}
	if _, err := s.Cell(ctx, run, 999); !errors.Is(err, ErrNoCell) {
		t.Errorf("missing cell: %v", err)
	}
	if _, err := s.RunByID(ctx, "nope"); !errors.Is(err, ErrNoRun) {
		t.Errorf("missing run: %v", err)
	}
}

func TestEachOutcome(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	run := pageRun(t, s, 12, 2)
	full, err := s.Records(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	byIndex := map[int]eval.Record{}
	for _, r := range full {
		byIndex[r.Index] = r
	}
	n := 0
	err = s.EachOutcome(ctx, run, func(r eval.Record) error {
		n++
		want := byIndex[r.Index]
		if r.Answer != "" || r.Input != "" || r.RowID != want.RowID || r.Vars["question"] != want.Vars["question"] || (r.Err == nil) != (want.Err == nil) ||
			len(r.Feedback) != len(want.Feedback) {
			t.Errorf("cell %d: %+v, want the outcomes of %+v", r.Index, r, want)
			return nil
		}
		for i, fb := range r.Feedback {
			w := want.Feedback[i]
			if fb.Scorer != w.Scorer || fb.Skipped != w.Skipped || fb.Err != w.Err || (fb.Pass == nil) != (w.Pass == nil) || (fb.Pass != nil && *fb.Pass != *w.Pass) ||
				(fb.Score == nil) != (w.Score == nil) || fb.Rationale != "" {
				t.Errorf("cell %d, %s: %+v, want %+v", r.Index, fb.Scorer, fb, w)
			}
		}
		return nil
	})
	if err != nil || n != len(full) {
		t.Errorf("%d outcomes of %d cells: %v", n, len(full), err)
	}
}
