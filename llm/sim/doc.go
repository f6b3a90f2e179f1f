// Package sim is a deterministic OpenAI-compatible chat-completions server
// (an http.Handler) that stands in for an LLM vendor in offline runs, tests and
// benchmarks.
//
// It writes plausible exam answers whose length and wording depend on the
// model name and the prompt, and answers judge prompts with a JSON verdict
// computed from the criterion and the answer. Like a real vendor it reports
// token usage, takes time (latency with jitter), enforces a requests-per-minute
// limit with 429 and Retry-After, and can be told to fail: a share of attempts
// answered 500, 429, a hang, or a malformed body. Every choice is a function of
// the request body, the attempt number and the seed, so runs are reproducible
// whatever the concurrency.
//
// It also serves OpenAI's Batch API (files and batches, see batch.go): a
// batch answers each of its requests exactly as the chat endpoint would,
// once, over a configurable delay, with optional per-request failures and
// expiry; Stats tells batch answers from interactive ones.
package sim
