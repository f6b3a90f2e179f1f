// Package eval plans and runs an evaluation: every dataset row × prompt
// template × model (× repeat) is a cell; each cell is one generation call and
// then every scorer on the answer.
//
// Calls run concurrently, bounded by a CallLimit that caps the LLM calls in flight
// (generation and judge calls alike). A failed generation call becomes
// Result.Err: never an answer and never a failing score. Results stream to a
// Sink as they complete; cancellation stops scheduling, abandons the cells in
// flight (they are not reported, so a resume redoes them) and ends the run as
// interrupted. A fatal provider error (bad credentials, unknown model) stops
// the run at once.
package eval
