// Package scorers defines how an answer is scored and provides the built-in
// code scorers.
//
// A Scorer turns a Sample (the row, the rendered prompt and the model's answer)
// into Feedback: a value, pass/fail and a numeric score where they apply, and a
// rationale. A scorer that cannot decide returns Feedback with Err set: an
// error is counted apart from a failure and never as one. A scorer that does
// not apply to a row (its column is empty) returns Skipped.
//
// The trajectory scorers (tool_called, tool_args, trajectory, steps,
// cites_sources) read the cell's trace, Sample.Steps, rather than only its
// answer. Those whose configuration names tools implement ToolNamer, so that
// a run can check the names against the tools its servers offer before any
// model call.
//
// Scorers are built from configuration by type through a Registry; teams add
// their own Go scorers with Register or Func.
package scorers
