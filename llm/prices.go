package llm

// Price is a model's list price in US dollars per million tokens.
type Price struct {
	Input  float64 `yaml:"input" json:"input"`
	Output float64 `yaml:"output" json:"output"`
}

// Cost returns the price of a usage.
func (p Price) Cost(u Usage) float64 {
	return (float64(u.PromptTokens)*p.Input + float64(u.CompletionTokens)*p.Output) / 1e6
}

// BatchDiscount is the share of the list price that OpenAI's Batch API
// charges: half, for input and output tokens alike.
const BatchDiscount = 0.5

// Batch returns the price of the same tokens sent through the Batch API:
// the list price times BatchDiscount. It applies to prices set in
// evalctl.yaml too, which are list (interactive) prices.
func (p Price) Batch() Price {
	return Price{Input: p.Input * BatchDiscount, Output: p.Output * BatchDiscount}
}

// DefaultPrices are OpenAI list prices (USD per million tokens, standard
// tier, as published in 2025) for models people commonly evaluate. Prices
// change: set current ones, and those of other providers, under prices: in
// evalctl.yaml. Simulated models cost nothing.
var DefaultPrices = map[string]Price{
	"openai:gpt-4.1":      {2.00, 8.00},
	"openai:gpt-4.1-mini": {0.40, 1.60},
	"openai:gpt-4.1-nano": {0.10, 0.40},
	"openai:gpt-4o":       {2.50, 10.00},
	"openai:gpt-4o-mini":  {0.15, 0.60},
	"openai:gpt-5":        {1.25, 10.00},
	"openai:gpt-5-mini":   {0.25, 2.00},
	"openai:gpt-5-nano":   {0.05, 0.40},
	"openai:o3":           {2.00, 8.00},
	"openai:o3-mini":      {1.10, 4.40},
	"openai:o4-mini":      {1.10, 4.40},
}

// Prices merges overrides over the defaults, for the given model refs only.
func Prices(overrides map[string]Price, refs ...string) map[string]Price {
	out := map[string]Price{}
	for _, r := range refs {
		if p, ok := overrides[r]; ok {
			out[r] = p
		} else if p, ok := DefaultPrices[r]; ok {
			out[r] = p
		}
	}
	return out
}
