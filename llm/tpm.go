package llm

import (
	"context"
	"sync"
	"time"

	"github.com/evalctl/evalctl/llm/tokens"
	"golang.org/x/time/rate"
)

// TokenLimiter paces calls to a tokens-per-minute budget. Before a call it
// reserves the call's estimated tokens: the prompt counted offline, plus the
// completion (max_tokens when set, else the mean of the completions seen so
// far). After the call it corrects the estimate with the usage the provider
// reported: a shortfall is charged at once, and an excess is not given back.
// Giving it back (a credit for the next calls) was measured to be worse:
// pacing exactly at the vendor's limit leaves no headroom, and against a
// simulator enforcing the limit per second a third of the requests were
// answered 429, against 2% without the credit. One limiter is shared by
// every call to a provider, generation and judges alike.
type TokenLimiter struct {
	lim *rate.Limiter

	mu      sync.Mutex
	meanOut float64 // running mean of completion tokens
	seen    int
}

// DefaultCompletionTokens is the completion estimate before any call has
// completed.
const DefaultCompletionTokens = 256

// NewTokenLimiter returns a limiter of tpm tokens per minute. Vendors enforce
// such limits over short periods (OpenAI: "60,000 TPM may be enforced as
// 1,000 tokens per second"), so the burst is half a second's worth: a
// client bursting as far as the vendor allows, while the vendor still
// charges the completions of earlier calls, is refused. A call larger than
// the burst waits for a full bucket.
func NewTokenLimiter(tpm int) *TokenLimiter {
	tokens.Load()
	return &TokenLimiter{lim: rate.NewLimiter(rate.Limit(float64(tpm)/60), max(1, tpm/120)), meanOut: DefaultCompletionTokens}
}

// Estimate returns the tokens a request is expected to use.
func (t *TokenLimiter) Estimate(req Request) int {
	contents := make([]string, len(req.Messages))
	for i, m := range req.Messages {
		contents[i] = m.Content
	}
	out := req.Params.MaxTokens
	if out <= 0 {
		t.mu.Lock()
		out = int(t.meanOut + 0.5)
		t.mu.Unlock()
	}
	return tokens.Chat(contents...) + out
}

// Wait blocks until n tokens are available (a call larger than the burst
// waits for a full bucket).
func (t *TokenLimiter) Wait(ctx context.Context, n int) error {
	return t.lim.WaitN(ctx, max(1, min(n, t.lim.Burst())))
}

// Settle corrects a reservation of estimate tokens by the tokens used.
func (t *TokenLimiter) Settle(estimate int, used Usage) {
	actual := used.Total()
	if actual > 0 {
		t.mu.Lock()
		t.seen++
		t.meanOut += (float64(used.CompletionTokens) - t.meanOut) / float64(min(t.seen, 100))
		t.mu.Unlock()
	}
	if actual > estimate {
		// Charged now; the next callers wait for it.
		t.lim.ReserveN(time.Now(), min(actual-estimate, t.lim.Burst()))
	}
}

// Wrap returns a client whose calls wait for the limiter.
func (t *TokenLimiter) Wrap(c Client) Client { return tpmClient{t, c} }

type tpmClient struct {
	t *TokenLimiter
	c Client
}

func (x tpmClient) Complete(ctx context.Context, req Request) (Response, error) {
	est := x.t.Estimate(req)
	if err := x.t.Wait(ctx, est); err != nil {
		return Response{}, &Error{Kind: KindCanceled, Model: req.Model, Msg: "canceled while waiting for the tokens-per-minute limit"}
	}
	resp, err := x.c.Complete(ctx, req)
	x.t.Settle(est, resp.Usage)
	return resp, err
}
