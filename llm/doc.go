// Package llm is the provider-neutral contract between evalctl and language
// models: model references ("provider:model"), requests, responses and a typed
// Error whose Kind tells a rate limit from a server fault, a timeout, a
// malformed reply or a rejected credential.
//
// Providers live in sub-packages (llm/openai), each built from its settings
// and environment by a factory registered by name in llm/providers; the HTTP
// behaviour shared by all of them (retries, Retry-After, timeouts, secret
// redaction) lives in llm/transport; llm/sim is an OpenAI-compatible simulator
// for offline runs; llm/batch sends requests through OpenAI's Batch API.
package llm
