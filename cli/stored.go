package cli

import (
	"context"
	"errors"
	"iter"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/store"
)

// storedCells streams a run's stored cells in cell order, for a resume (to
// walk beside the plan) or a scoring pass. A read error is kept in err and
// stops the run through abort (when set) instead of letting it redo, and pay
// for, every cell it could not read.
type storedCells struct {
	next    func() (eval.Result, bool)
	stop    func()
	pending *eval.Result
	err     error
	abort   func(error)
	// vpos orders the variants as the plan does (a resume sets it).
	vpos map[string]int
}

var errStopped = errors.New("stopped")

// newStoredCells streams run's cells; with clearFeedback their verdicts are
// left out (a new assessment scores them afresh).
func newStoredCells(st *store.Store, run *store.Run, clearFeedback bool) *storedCells {
	sc := &storedCells{}
	sc.next, sc.stop = iter.Pull(sc.each(st, run, clearFeedback))
	return sc
}

func (sc *storedCells) each(st *store.Store, run *store.Run, clearFeedback bool) iter.Seq[eval.Result] {
	return func(yield func(eval.Result) bool) {
		err := st.EachResult(context.Background(), run, true, func(r eval.Result) error {
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

// all yields every stored cell (a scoring pass).
func (sc *storedCells) all() iter.Seq[eval.Result] {
	return func(yield func(eval.Result) bool) {
		for {
			r, ok := sc.next()
			if !ok || !yield(r) {
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
		switch cmp := sc.compare(sc.pending.Cell, c); {
		case cmp < 0:
			sc.pending = nil // not in the plan any more
		case cmp == 0 && keyOf(sc.pending.Cell) == keyOf(c):
			r := sc.pending
			sc.pending = nil
			return r
		default:
			return nil
		}
	}
}

// compare orders two cells by dataset line, variant and repeat.
func (sc *storedCells) compare(x, y eval.Cell) int {
	if d := x.Row.Line - y.Row.Line; d != 0 {
		return d
	}
	if d := sc.vpos[x.Variant.ID] - sc.vpos[y.Variant.ID]; d != 0 {
		return d
	}
	return x.Repeat - y.Repeat
}
