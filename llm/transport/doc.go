// Package transport is the http.RoundTripper under every provider client. It
// owns the behaviour that must be the same for all vendors: a timeout per
// attempt, retries with exponential backoff and jitter on 429, 408, 5xx,
// network errors and malformed JSON bodies, Retry-After honoured (seconds, an
// HTTP date, or OpenAI's retry-after-ms), optional per-endpoint concurrency and
// request-rate limits, and redaction of secrets from anything it reports.
//
// A call's attempts are reported through a Trace attached to the request's
// context with WithTrace.
package transport
