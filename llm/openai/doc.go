// Package openai adapts github.com/sashabaranov/go-openai to the llm.Client
// contract, for OpenAI and every OpenAI-compatible endpoint (Azure, Ollama,
// vLLM, LM Studio, OpenRouter, the simulator) through the base URL.
//
// Two gaps of go-openai are closed here: it drops temperature and top_p of 0
// (omitempty on a float), so explicit zeros are patched into the JSON body on
// the wire; and it has no retries, which the llm/transport under the HTTP
// client provides. Errors are mapped to llm.Error kinds and scrubbed of
// secrets.
package openai
