// Package store is evalctl's run store: an embedded SQLite database (the
// pure-Go modernc.org/sqlite driver, WAL mode) with versioned migrations
// embedded in the binary.
//
// It records runs, the prompt versions they used, every cell (rendered
// prompts, answer, tokens, latency, error), every scorer's feedback, every LLM
// call, and a response cache. Results are written through as they complete by
// one writer goroutine in batched transactions, so a killed process loses at
// most the calls in flight and the database stays readable; readers never wait
// for the writer (WAL). A run's reports are rebuilt from here alone.
package store
