package providers

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/llm"
)

func env(provider string, vars map[string]string, pc config.ProviderConfig) Env {
	return Env{Ref: llm.ModelRef{Provider: provider, Model: "m"}, Config: pc, Dry: true,
		Getenv: func(k string) string { return vars[k] }}
}

func TestNames(t *testing.T) {
	if got := Names(); !slices.Equal(got, []string{"openai", "azure", "ollama", "sim"}) {
		t.Errorf("Names() = %v", got)
	}
	if _, ok := Lookup("opnai"); ok {
		t.Error("Lookup(opnai) found a factory")
	}
}

// The cache name is the identity of cached answers: it must not change.
func TestCacheNames(t *testing.T) {
	tests := []struct {
		env  Env
		want string
	}{
		{env("openai", nil, config.ProviderConfig{}), "openai https://api.openai.com/v1"},
		{env("openai", map[string]string{"OPENAI_BASE_URL": "http://h/v1"}, config.ProviderConfig{}), "openai http://h/v1"},
		{env("azure", map[string]string{"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com"}, config.ProviderConfig{}), "azure https://r.openai.azure.com api-version=2024-10-21"},
		{env("azure", map[string]string{"AZURE_OPENAI_ENDPOINT": "https://r", "AZURE_OPENAI_API_VERSION": "v2"}, config.ProviderConfig{APIVersion: "v1"}), "azure https://r api-version=v1"},
		{env("ollama", map[string]string{"OLLAMA_HOST": "0.0.0.0:11434"}, config.ProviderConfig{}), "ollama http://localhost:11434/v1"},
		{env("sim", nil, config.ProviderConfig{}), "sim <nil>"},
		{env("vllm", nil, config.ProviderConfig{BaseURL: "http://gpu/v1"}), "vllm http://gpu/v1"},
	}
	for _, tc := range tests {
		f, ok := Lookup(tc.env.Ref.Provider)
		if !ok {
			f = Compatible
		}
		ep, err := f(tc.env)
		if err != nil || ep.Cache != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.env.Ref.Provider, ep.Cache, err, tc.want)
		}
	}
}

func TestSetupErrors(t *testing.T) {
	tests := []struct {
		env       Env
		err, hint string
	}{
		{env("openai", nil, config.ProviderConfig{}), "model openai:m: no API key: OPENAI_API_KEY is not set", "OPENAI_BASE_URL"},
		{env("azure", nil, config.ProviderConfig{}), "model azure:m: no Azure endpoint: AZURE_OPENAI_ENDPOINT is not set", "providers.azure.base_url"},
		{env("azure", map[string]string{"AZURE_OPENAI_ENDPOINT": "https://r"}, config.ProviderConfig{}), "model azure:m: no API key: AZURE_OPENAI_API_KEY is not set", "api_key_env"},
	}
	for _, tc := range tests {
		tc.env.Dry = false
		f, _ := Lookup(tc.env.Ref.Provider)
		_, err := f(tc.env)
		var se *SetupError
		if !errors.As(err, &se) || se.Error() != tc.err || !strings.Contains(se.Hint, tc.hint) {
			t.Errorf("%s: %v (%+v), want %q", tc.env.Ref.Provider, err, se, tc.err)
		}
	}
	// A dry run needs no key.
	if _, err := newOpenAI(env("openai", nil, config.ProviderConfig{})); err != nil {
		t.Errorf("dry openai: %v", err)
	}
}
