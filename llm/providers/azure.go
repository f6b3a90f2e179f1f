package providers

import (
	"fmt"
	"net/http"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/openai"
	"github.com/evalctl/evalctl/llm/transport"
)

// defaultAzureAPIVersion is a generally available Azure OpenAI API version
// with structured outputs.
const defaultAzureAPIVersion = "2024-10-21"

// newAzure is Azure OpenAI: azure:DEPLOYMENT, the resource endpoint and its
// key (AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY), and an api-version.
func newAzure(e Env) (Endpoint, error) {
	base, key := e.baseURL("AZURE_OPENAI_ENDPOINT"), e.apiKey("AZURE_OPENAI_API_KEY")
	if base == "" {
		return Endpoint{}, &SetupError{fmt.Errorf("model %s: no Azure endpoint: AZURE_OPENAI_ENDPOINT is not set", e.Ref),
			"set AZURE_OPENAI_ENDPOINT (https://NAME.openai.azure.com) or providers.azure.base_url"}
	}
	if key == "" && !e.Dry {
		return Endpoint{}, &SetupError{fmt.Errorf("model %s: no API key: AZURE_OPENAI_API_KEY is not set", e.Ref),
			"set AZURE_OPENAI_API_KEY, or providers.azure.api_key_env"}
	}
	apiVersion := e.Config.APIVersion
	if apiVersion == "" {
		apiVersion = e.Getenv("AZURE_OPENAI_API_VERSION")
	}
	if apiVersion == "" {
		apiVersion = defaultAzureAPIVersion
	}
	return Endpoint{BaseURL: base, APIKey: key, Cache: e.Ref.Provider + " " + base + " api-version=" + apiVersion,
		NewClient: func(hc *http.Client, r *transport.Redactor) llm.Client {
			return openai.New(openai.Config{Provider: e.Ref.Provider, BaseURL: base, APIKey: key, Azure: true, APIVersion: apiVersion,
				HTTPClient: hc, Redactor: r})
		}}, nil
}
