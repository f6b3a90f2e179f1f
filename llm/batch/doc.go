// Package batch sends chat completion requests through OpenAI's Batch API:
// a JSONL input file is uploaded (POST /v1/files, purpose batch), a batch is
// created from it (POST /v1/batches, completion window 24h), polled until it
// has ended, and its output and error files are read back, at half the list
// price (llm.Price.Batch).
//
// The request of each line is, byte for byte, what the interactive client of
// llm/openai sends for the same llm.Request (openai.RequestBody, explicit
// zero temperatures included), so a batched request and an interactive one
// get the same answer from the same model. Answers are mapped to
// llm.Response and failures to *llm.Error as the interactive client maps
// them (see Outcome for the kinds; a request the batch did not run before
// its window ended is KindTimeout with Code batch_expired, so the caller can
// send it again or record it as an error).
//
// Submit splits a large submission into several batches: one model per
// batch, as OpenAI requires, and at most 50,000 requests and 200 MB per input
// file (Limits). It returns the batch ids, which a caller stores: Status,
// Wait, Results and Cancel need nothing else, so a new process re-attaches to
// the batches of one that was killed instead of paying for them again.
// Creating a batch is never retried blindly (transport.Once); after a lost
// answer Submit finds the batch created from its file.
//
// All calls go through the provider's *http.Client, so llm/transport's
// retries, limits and secret redaction apply. Azure OpenAI's batch
// deployments are not supported.
package batch
