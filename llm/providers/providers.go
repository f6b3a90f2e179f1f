package providers

import (
	"net/http"
	"strings"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/openai"
	"github.com/evalctl/evalctl/llm/transport"
)

// Factory finds a provider's endpoint from its settings and the environment.
type Factory func(Env) (Endpoint, error)

// registry lists the native providers by the prefix of their model refs.
var registry = []struct {
	name    string
	factory Factory
}{
	{"openai", newOpenAI},
	{"azure", newAzure},
	{"ollama", newOllama},
	{"sim", newSim},
}

// Lookup returns the factory of a registered provider.
func Lookup(name string) (Factory, bool) {
	for _, r := range registry {
		if r.name == name {
			return r.factory, true
		}
	}
	return nil, false
}

// Names lists the registered providers, in registration order.
func Names() []string {
	var names []string
	for _, r := range registry {
		names = append(names, r.name)
	}
	return names
}

// Env is what a factory is given.
type Env struct {
	// Ref is the model that needs the provider, for messages.
	Ref llm.ModelRef
	// Config is the provider's entry under providers: in evalctl.yaml (zero
	// when there is none).
	Config config.ProviderConfig
	// Getenv reads an environment variable ("" when unset).
	Getenv func(string) string
	// Dry is a dry run: nothing is sent, so no key is needed and nothing is
	// started.
	Dry bool
}

// apiKey is the key from the variable the config names (api_key_env), else
// from the provider's own variable def ("" for none).
func (e Env) apiKey(def string) string {
	switch {
	case e.Config.APIKeyEnv != "":
		return e.Getenv(e.Config.APIKeyEnv)
	case def != "":
		return e.Getenv(def)
	}
	return ""
}

// baseURL is the config's base_url, else the provider's own variable def.
func (e Env) baseURL(def string) string {
	if e.Config.BaseURL == "" && def != "" {
		return e.Getenv(def)
	}
	return e.Config.BaseURL
}

// Endpoint is a provider's API as a factory found it.
type Endpoint struct {
	// BaseURL is where the API is, including /v1 ("" in a dry run of the
	// simulator).
	BaseURL string
	// APIKey authenticates to it ("" for none); the caller redacts it.
	APIKey string
	// Cache names the endpoint in the response cache: an answer is reused
	// only for the endpoint it came from.
	Cache string
	// NewClient builds the provider's client over the shared HTTP client
	// (retries, limits, pacing).
	NewClient func(hc *http.Client, r *transport.Redactor) llm.Client
	// Close stops what the factory started (nil when nothing).
	Close func() error
}

// SetupError is a provider that cannot be used as it is set up: a key or an
// endpoint is missing. Hint names the remedy.
type SetupError struct {
	Err  error
	Hint string
}

func (e *SetupError) Error() string { return e.Err.Error() }

// Unwrap returns the error itself.
func (e *SetupError) Unwrap() error { return e.Err }

// Compatible is the factory of a provider that is not registered but has a
// base_url in the config: an OpenAI-compatible API there, with the key named
// by api_key_env, if any.
func Compatible(e Env) (Endpoint, error) {
	return openAICompatible(e, e.baseURL(""), e.apiKey("")), nil
}

// openAICompatible is an OpenAI-compatible endpoint at base, served by the
// llm/openai adapter.
func openAICompatible(e Env, base, key string) Endpoint {
	// "…/v1" and "…/v1/" are one endpoint: its cache entries and batches
	// are found under either.
	return Endpoint{BaseURL: base, APIKey: key, Cache: e.Ref.Provider + " " + strings.TrimRight(base, "/"),
		NewClient: func(hc *http.Client, r *transport.Redactor) llm.Client {
			return openai.New(openai.Config{Provider: e.Ref.Provider, BaseURL: base, APIKey: key, HTTPClient: hc, Redactor: r})
		}}
}
