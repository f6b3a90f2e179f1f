// Package providers turns a model ref's provider ("openai" in
// "openai:gpt-4.1-mini") into an endpoint: where its API is, its key, and how
// to build its client. Each provider is a Factory registered by name in one
// list; its specifics (the environment variables it reads, the remedy when
// one is missing, an in-process simulator) live in its own file here.
//
// What is the same for every provider stays with the caller (package cli):
// the HTTP transport with its retry policy, pacing and limits, the response
// cache, the run's gate, redaction of the key, and the check of the base URL.
//
// A new native provider is its client package (llm/NAME, an llm.Client) plus
// a factory file here and its line in the list.
package providers
