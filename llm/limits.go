package llm

import (
	"context"

	"golang.org/x/time/rate"
)

// Limits are a model's own limits (vendors such as OpenAI set rate limits
// per model): calls in flight, requests per minute and tokens per minute.
// Zero means none.
type Limits struct {
	MaxConcurrency int `yaml:"max_concurrency"`
	RPM            int `yaml:"rpm"`
	TPM            int `yaml:"tpm"`
}

// Limit wraps c so that its calls respect l. One wrapped client must be
// shared by every use of the model (generation and judging) for the limits
// to hold. Requests are counted per call; the provider's own rpm counts
// attempts, retries included.
func Limit(c Client, l Limits) Client {
	if l == (Limits{}) {
		return c
	}
	x := limited{c: c}
	if l.MaxConcurrency > 0 {
		x.sem = make(chan struct{}, l.MaxConcurrency)
	}
	if l.RPM > 0 {
		perSec := float64(l.RPM) / 60
		x.rpm = rate.NewLimiter(rate.Limit(perSec), max(1, int(perSec)))
	}
	if l.TPM > 0 {
		x.c = NewTokenLimiter(l.TPM).Wrap(c)
	}
	return x
}

type limited struct {
	c   Client
	sem chan struct{}
	rpm *rate.Limiter
}

func (x limited) Complete(ctx context.Context, req Request) (Response, error) {
	canceled := &Error{Kind: KindCanceled, Model: req.Model, Msg: "canceled while waiting for the model's limits"}
	if x.sem != nil {
		select {
		case x.sem <- struct{}{}:
			defer func() { <-x.sem }()
		case <-ctx.Done():
			return Response{}, canceled
		}
	}
	if x.rpm != nil {
		if err := x.rpm.Wait(ctx); err != nil {
			return Response{}, canceled
		}
	}
	return x.c.Complete(ctx, req)
}
