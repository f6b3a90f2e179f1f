// Package trace holds the steps of a cell as spans: each generation call,
// each tool call and each judge call, with start and end times. A cell's
// spans are its trace; scorers that judge what an agent did (tools called,
// their order and arguments, the sources it cited) read them, and the
// trace and OTLP exports print them.
//
// It is a leaf: it imports only llm's usage type, so scorers, eval, store
// and reports can all share one representation.
package trace
