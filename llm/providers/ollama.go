package providers

import "strings"

// newOllama is Ollama's OpenAI-compatible endpoint at OLLAMA_HOST. Ollama
// ignores authentication: no key, unless api_key_env names one (a proxy in
// front of it).
func newOllama(e Env) (Endpoint, error) {
	base := e.Config.BaseURL
	if base == "" {
		base = ollamaURL(e.Getenv("OLLAMA_HOST"))
	}
	return openAICompatible(e, base, e.apiKey("")), nil
}

// ollamaURL turns OLLAMA_HOST ("0.0.0.0:11434", "http://host:port") into the
// OpenAI-compatible base URL.
func ollamaURL(host string) string {
	host = strings.TrimSpace(host)
	if host == "" {
		return "http://localhost:11434/v1"
	}
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	host = strings.Replace(host, "://0.0.0.0", "://localhost", 1)
	return strings.TrimRight(host, "/") + "/v1"
}
