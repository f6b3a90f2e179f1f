package llm_test

import (
	"context"
	"testing"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/tokens"
)

type fixed struct{ usage llm.Usage }

func (f fixed) Complete(context.Context, llm.Request) (llm.Response, error) {
	return llm.Response{Text: "ok", Usage: f.usage}, nil
}

func TestTokenLimiterEstimates(t *testing.T) {
	l := llm.NewTokenLimiter(600_000)
	req := llm.Request{Messages: []llm.Message{{Role: "user", Content: "hello world"}}}
	prompt := tokens.Chat("hello world")
	if got := l.Estimate(req); got != prompt+llm.DefaultCompletionTokens {
		t.Errorf("estimate before any call %d, want %d", got, prompt+llm.DefaultCompletionTokens)
	}
	req.Params.MaxTokens = 50
	if got := l.Estimate(req); got != prompt+50 {
		t.Errorf("estimate with max_tokens %d, want %d", got, prompt+50)
	}
	req.Params.MaxTokens = 0
	// Completions of 100 tokens teach the limiter what to expect.
	c := l.Wrap(fixed{llm.Usage{PromptTokens: prompt, CompletionTokens: 100}})
	for range 20 {
		if _, err := c.Complete(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Estimate(req); got != prompt+100 {
		t.Errorf("estimate after 20 calls of 100 completion tokens: %d, want %d", got, prompt+100)
	}
}
