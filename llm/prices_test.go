package llm

import (
	"math"
	"testing"
)

func TestBatchPrice(t *testing.T) {
	u := Usage{PromptTokens: 1_000_000, CompletionTokens: 500_000}
	tests := []struct {
		name  string
		price Price
		want  float64 // batch cost of u
	}{
		{"gpt-4.1-mini list price", DefaultPrices["openai:gpt-4.1-mini"], (0.40 + 0.80) / 2},
		{"a price from evalctl.yaml", Price{Input: 3, Output: 15}, (3 + 7.5) / 2},
		{"free", Price{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.price.Batch()
			if got := b.Cost(u); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("batch cost %v, want %v", got, tc.want)
			}
			if got, full := b.Cost(u), tc.price.Cost(u); math.Abs(got-full*BatchDiscount) > 1e-12 {
				t.Errorf("batch cost %v is not %v of the list cost %v", got, BatchDiscount, full)
			}
		})
	}
}
