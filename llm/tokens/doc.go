// Package tokens counts tokens offline, the way OpenAI's models do: the
// o200k_base byte-pair encoding (GPT-4o, GPT-4.1, GPT-5, o-series) embedded in
// the binary, loaded on first use. Other models' tokenizers differ by a few
// percent on English text; the count is then an estimate, which is all that
// rate limits and cost estimates need.
package tokens
