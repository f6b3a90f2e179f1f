package providers

import "fmt"

// newOpenAI is OpenAI's API (OPENAI_API_KEY), or any OpenAI-compatible
// server at OPENAI_BASE_URL.
func newOpenAI(e Env) (Endpoint, error) {
	base, key := e.baseURL("OPENAI_BASE_URL"), e.apiKey("OPENAI_API_KEY")
	if base == "" {
		base = "https://api.openai.com/v1"
		if key == "" && !e.Dry {
			return Endpoint{}, &SetupError{fmt.Errorf("model %s: no API key: OPENAI_API_KEY is not set", e.Ref),
				"set OPENAI_API_KEY, or OPENAI_BASE_URL for a local OpenAI-compatible server"}
		}
	}
	return openAICompatible(e, base, key), nil
}
