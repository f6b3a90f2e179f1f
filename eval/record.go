package eval

import (
	"time"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/trace"
)

// Record is a finished cell as the store yields it: flat and
// self-describing, the one contract between a run and everything that
// reads it (reports, compare, gates, calibrate, resume, merge). It names
// its variant by its stored definition and carries its verdicts by scorer
// name; readers match by name, never by position, and never rebuild
// templates, models or clients from it.
type Record struct {
	// Index orders the records of a run (the cell number).
	Index int
	// The dataset row: its stable id, source line and values.
	RowID string
	Line  int
	Vars  map[string]string
	// Variant is what produced the answer.
	Variant VariantSpec
	Repeat  int

	System, Input, Answer, FinishReason string
	Usage                               llm.Usage
	Latency                             time.Duration
	Attempts                            int
	Cached                              bool
	// Steps are the cell's trace (generation and tool calls).
	Steps []trace.Span
	// Err is the generation error; then Answer is empty and Feedback nil.
	Err *llm.Error
	// Feedback holds the verdicts, each naming its scorer, in the run's
	// scorer order; a scorer without a verdict is left out.
	Feedback []scorers.Feedback
	// Human holds what people said of the answer (evalctl view, or
	// `judge labels import`): the latest label of each criterion, in the
	// run's scorer order. Only stored records carry them.
	Human []HumanLabel
}

// HumanLabel is a person's verdict on an answer for one criterion (a
// scorer's name): Value "pass" or "fail", or "" for a comment alone.
type HumanLabel struct {
	Criterion, Value, Comment, Author string
	At                                time.Time
}

// HumanOf returns the answer's human label of a criterion, if any.
func (r Record) HumanOf(criterion string) (HumanLabel, bool) {
	for _, h := range r.Human {
		if h.Criterion == criterion {
			return h, true
		}
	}
	return HumanLabel{}, false
}

// Record returns the result as a record.
func (r Result) Record() Record {
	rec := Record{Index: r.Index, Repeat: r.Repeat, System: r.System, Input: r.Input, Answer: r.Answer,
		FinishReason: r.FinishReason, Usage: r.Usage, Latency: r.Latency, Attempts: r.Attempts, Cached: r.Cached,
		Err: r.Err, Feedback: r.Feedback, Steps: r.Steps}
	if r.Row != nil {
		rec.RowID, rec.Line, rec.Vars = r.Row.ID, r.Row.Line, r.Row.Vars
	}
	if r.Variant != nil {
		rec.Variant = r.Variant.Spec()
	}
	return rec
}

// Result returns the record as the result of cell c: the plan's own row
// and variant, with what the record stored (a resume's prior).
func (rec Record) Result(c Cell) Result {
	return Result{Cell: c, System: rec.System, Input: rec.Input, Answer: rec.Answer, FinishReason: rec.FinishReason,
		Usage: rec.Usage, Latency: rec.Latency, Attempts: rec.Attempts, Cached: rec.Cached, Err: rec.Err, Feedback: rec.Feedback, Steps: rec.Steps}
}
