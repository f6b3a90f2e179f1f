package cli

import (
	"context"
	"errors"
	"iter"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/store"
)

// storedCells streams a run's stored cells in cell order, for a resume (to
// walk beside the plan) or a scoring pass. A read error is kept in err and
// stops the run through abort (when set) instead of letting it redo, and pay
// for, every cell it could not read.
type storedCells struct {
	next    func() (eval.Record, bool)
	stop    func()
	pending *eval.Record
	err     error
	abort   func(error)
	// vpos orders the variants as the plan does; variants are the plan's.
	vpos     map[string]int
	variants map[string]*eval.Variant
}

var errStopped = errors.New("stopped")

// newStoredCells streams run's records beside plan, whose variants they
// are matched to; with clearFeedback their verdicts are left out (a new
// assessment scores them afresh).
func newStoredCells(st *store.Store, run *store.Run, plan *eval.Plan, clearFeedback bool) *storedCells {
	sc := &storedCells{vpos: map[string]int{}, variants: map[string]*eval.Variant{}}
	for i, v := range plan.Variants {
		sc.vpos[v.ID], sc.variants[v.ID] = i, v
	}
	sc.next, sc.stop = iter.Pull(sc.each(st, run, clearFeedback))
	return sc
}

func (sc *storedCells) each(st *store.Store, run *store.Run, clearFeedback bool) iter.Seq[eval.Record] {
	return func(yield func(eval.Record) bool) {
		err := st.EachRecord(context.Background(), run, true, func(r eval.Record) error {
			if clearFeedback {
				r.Feedback = nil
			}
			if !yield(r) {
				return errStopped
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopped) {
			sc.err = err
			if sc.abort != nil {
				sc.abort(err)
			}
		}
	}
}

// all yields every stored cell as a result of the plan's variant (a
// scoring pass).
func (sc *storedCells) all() iter.Seq[eval.Result] {
	return func(yield func(eval.Result) bool) {
		for {
			rec, ok := sc.next()
			if !ok {
				return
			}
			c := eval.Cell{Index: rec.Index, Row: &datasets.Row{ID: rec.RowID, Line: rec.Line, Vars: rec.Vars},
				Variant: sc.variants[rec.Variant.ID], Repeat: rec.Repeat}
			if !yield(rec.Result(c)) {
				return
			}
		}
	}
}

// prior returns what is stored for cell c, or nil (a resume). Both streams
// are in the evaluation's order: by dataset line, variant and repeat. They
// are compared by that order, not by cell number, which a merge of shards
// numbers apart.
func (sc *storedCells) prior(c eval.Cell) *eval.Result {
	for {
		if sc.pending == nil {
			r, ok := sc.next()
			if !ok {
				return nil
			}
			sc.pending = &r
		}
		switch cmp := sc.compare(sc.pending, c); {
		case cmp < 0:
			sc.pending = nil // not in the plan any more
		case cmp == 0 && sc.pending.RowID == c.Row.ID && sc.pending.Variant.ID == c.Variant.ID:
			r := sc.pending.Result(c)
			sc.pending = nil
			return &r
		default:
			return nil
		}
	}
}

// compare orders a record and a cell by dataset line, variant and repeat.
func (sc *storedCells) compare(x *eval.Record, y eval.Cell) int {
	if d := x.Line - y.Row.Line; d != 0 {
		return d
	}
	if d := sc.vpos[x.Variant.ID] - sc.vpos[y.Variant.ID]; d != 0 {
		return d
	}
	return x.Repeat - y.Repeat
}
