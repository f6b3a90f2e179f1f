package store

import (
	"context"
	"testing"

	"github.com/evalctl/evalctl/llm"
)

// The ledger keeps a batch open until it is collected, then its answers
// are in the response cache, for this endpoint only.
func TestBatchLedger(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	a, b := s.Batches("openai https://api.example/v1"), s.Batches("sim other")
	req := func(i int) llm.Request {
		return llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: string(rune('a' + i))}}}
	}
	keys := make([]string, 1200) // more than one INSERT's rows
	for i := range keys {
		keys[i] = CacheKey("openai https://api.example/v1", req(i))
	}
	if err := a.Submitted(ctx, "batch_1", "m", keys); err != nil {
		t.Fatal(err)
	}
	if err := b.Submitted(ctx, "batch_1", "m", keys[:3]); err != nil { // same id, another endpoint
		t.Fatal(err)
	}
	open, err := a.Open(ctx)
	if err != nil || len(open) != len(keys) || open[keys[7]] != "batch_1" {
		t.Fatalf("open: %d keys, %v", len(open), err)
	}
	// Collected: the answers go to the cache, the batch closes.
	answers := map[string]llm.Response{keys[0]: {Text: "first", Usage: llm.Usage{PromptTokens: 3, CompletionTokens: 1}}, keys[1]: {Text: "second"}}
	if err := a.Collected(ctx, "batch_1", answers); err != nil {
		t.Fatal(err)
	}
	if open, _ := a.Open(ctx); len(open) != 0 {
		t.Errorf("%d keys still open after collection", len(open))
	}
	if open, _ := b.Open(ctx); len(open) != 3 {
		t.Errorf("the other endpoint's batch: %d keys open, want 3", len(open))
	}
	got, err := s.Cached(nil, "openai https://api.example/v1", true, nil).Complete(ctx, req(0))
	if err != nil || got.Text != "first" || !got.Cached || got.Usage.PromptTokens != 3 {
		t.Errorf("cache after collection: %+v %v", got, err)
	}
	list, err := s.BatchList(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("%d batches listed, %v", len(list), err)
	}
	for _, bi := range list {
		if bi.Requests == 0 || bi.Created.IsZero() || bi.Endpoint == "" {
			t.Errorf("%+v", bi)
		}
	}
	if err := a.Collected(ctx, "batch_unknown", nil); err == nil {
		t.Error("collecting a batch never submitted is not an error")
	}
}
