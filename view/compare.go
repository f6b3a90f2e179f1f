package view

import (
	"context"
	"math"
	"net/http"
	"sync"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
)

// compareData is the compare page.
type compareData struct {
	A, B        *store.Run
	Differences []reports.Difference
	Names       map[string]string // B's variant names by ID
	// When nothing pairs: each run's variants and scorers, to say why.
	VariantsA, VariantsB []string
	ScorersA, ScorersB   []string
}

// Flipped reports whether any question changed outcome.
func (d compareData) Flipped() bool {
	for _, x := range d.Differences {
		if len(x.Regressed)+len(x.Improved) > 0 {
			return true
		}
	}
	return false
}

// twoRuns reads the runs to compare: a and b, or two run parameters (the
// runs page's selection), the older as A.
func (s *Server) twoRuns(r *http.Request) (a, b *store.Run, err error) {
	q := r.URL.Query()
	ids := []string{q.Get("a"), q.Get("b")}
	if ids[0] == "" && ids[1] == "" {
		ids = q["run"]
	}
	if len(ids) != 2 || ids[0] == "" || ids[1] == "" {
		return nil, nil, badRequestf("select two runs to compare (a=RUN&b=RUN)")
	}
	if a, err = s.st.RunByID(r.Context(), ids[0]); err != nil {
		return nil, nil, err
	}
	if b, err = s.st.RunByID(r.Context(), ids[1]); err != nil {
		return nil, nil, err
	}
	if q.Get("a") == "" && b.StartedAt.Before(a.StartedAt) {
		a, b = b, a
	}
	return a, b, nil
}

func (s *Server) comparePage(w http.ResponseWriter, r *http.Request) {
	a, b, err := s.twoRuns(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rc, err := s.compare(r.Context(), a, b)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	vb := b.Spec.Layout.AllVariants()
	labels := eval.Labels(vb)
	d := compareData{A: a, B: b, Differences: rc.Differences, Names: map[string]string{}}
	for _, v := range vb {
		d.Names[v.ID] = variantName(v, labels[v.ID])
	}
	if len(d.Differences) == 0 {
		va := a.Spec.Layout.AllVariants()
		la := eval.Labels(va)
		for _, v := range va {
			d.VariantsA = append(d.VariantsA, variantName(v, la[v.ID]))
		}
		for _, v := range vb {
			d.VariantsB = append(d.VariantsB, d.Names[v.ID])
		}
		d.ScorersA, d.ScorersB = a.Spec.Layout.Scorers, b.Spec.Layout.Scorers
	}
	s.render(w, r, "compare", "evalctl view: compare "+a.ID+" and "+b.ID, "runs", d)
}

// compare pairs two runs question by question (reports.CompareRuns), kept
// for as long as neither run changes: it reads both runs' outcomes.
func (s *Server) compare(ctx context.Context, a, b *store.Run) (*reports.RunComparison, error) {
	ka, err := stateKey(ctx, s.st, a)
	if err != nil {
		return nil, err
	}
	kb, err := stateKey(ctx, s.st, b)
	if err != nil {
		return nil, err
	}
	key := ka + "\x00" + kb
	s.cmpMu.Lock()
	c := s.compares[key]
	if c == nil {
		c = &comparison{}
		if len(s.compares) >= 8 {
			clear(s.compares) // a handful of pairs is what a person looks at
		}
		s.compares[key] = c
	}
	s.cmpMu.Unlock()
	c.once.Do(func() {
		// Whoever computes it computes it for every request waiting on it:
		// the first asker leaving must not fail the others.
		ctx := context.WithoutCancel(ctx)
		each := func(run *store.Run) reports.Each {
			return func(fn func(eval.Record) error) error { return s.st.EachOutcome(ctx, run, fn) }
		}
		c.rc, c.err = reports.CompareRuns(runMeta(a), a.Spec.Layout, each(a), runMeta(b), b.Spec.Layout, each(b))
	})
	if c.err != nil {
		s.cmpMu.Lock()
		delete(s.compares, key)
		s.cmpMu.Unlock()
	}
	return c.rc, c.err
}

type comparison struct {
	once sync.Once
	rc   *reports.RunComparison
	err  error
}

func runMeta(r *store.Run) reports.RunMeta {
	return reports.RunMeta{ID: r.ID, Name: r.Name, Status: string(r.Status), StartedAt: r.StartedAt, Tags: r.Tags, DatasetPath: r.DatasetPath}
}

// questionSide is one run's answers to a question.
type questionSide struct {
	Run     *store.Run
	Variant string
	Cells   []questionCell
}

type questionCell struct {
	Rec     eval.Record
	Verdict *verdictView
}

// questionData is a question that flipped between two runs, answers side
// by side.
type questionData struct {
	A, B           questionSide
	Scorer, RowID  string
	Question       string
	Vars           [][2]string
	Difference     *reports.Difference
	Regressed      bool
	CompareAddress string
}

func (s *Server) questionPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a, b, err := s.twoRuns(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	variantB, scorer, row := q.Get("variant"), q.Get("scorer"), q.Get("row")
	if variantB == "" || scorer == "" || row == "" {
		s.fail(w, r, badRequestf("a question needs variant, scorer and row"))
		return
	}
	va, vb := a.Spec.Layout.AllVariants(), b.Spec.Layout.AllVariants()
	variantA, ok := reports.PairVariants(va, vb)[variantB]
	if !ok {
		s.fail(w, r, badRequestf("variant %q of run %s has no counterpart in run %s", variantB, b.ID, a.ID))
		return
	}
	la, lb := eval.Labels(va), eval.Labels(vb)
	d := questionData{Scorer: scorer, RowID: row, CompareAddress: link("/compare", "a", a.ID, "b", b.ID)}
	for _, side := range []struct {
		out     *questionSide
		run     *store.Run
		variant string
		name    func(eval.VariantSpec) string
		specs   []eval.VariantSpec
	}{
		{&d.A, a, variantA, func(v eval.VariantSpec) string { return variantName(v, la[v.ID]) }, va},
		{&d.B, b, variantB, func(v eval.VariantSpec) string { return variantName(v, lb[v.ID]) }, vb},
	} {
		side.out.Run = side.run
		for _, v := range side.specs {
			if v.ID == side.variant {
				side.out.Variant = side.name(v)
			}
		}
		page, err := s.st.Cells(ctx, side.run, store.CellQuery{Variant: side.variant, RowID: row, Limit: 100})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, rec := range page.Records {
			c := questionCell{Rec: rec}
			for _, v := range verdictsOf(rec) {
				if v.Scorer == scorer {
					c.Verdict = &v
				}
			}
			side.out.Cells = append(side.out.Cells, c)
			if d.Vars == nil {
				d.Question = questionOf(rec.Vars)
				for k, v := range rec.Vars {
					d.Vars = append(d.Vars, [2]string{k, v})
				}
			}
		}
	}
	if len(d.A.Cells)+len(d.B.Cells) == 0 {
		s.fail(w, r, store.ErrNoCell)
		return
	}
	if rc, err := s.compare(ctx, a, b); err == nil {
		for i, x := range rc.Differences {
			if x.Variant == variantB && x.Scorer == scorer {
				d.Difference = &rc.Differences[i]
				for _, qq := range x.Regressed {
					d.Regressed = d.Regressed || qq.ID == row
				}
			}
		}
	}
	s.render(w, r, "question", "evalctl view: question "+row, "runs", d)
}

// pValue shows a p-value, or a dash when there is none.
func pValue(p float64) string {
	if math.IsNaN(p) {
		return "–"
	}
	return formatP(p)
}
