package store

import (
	"context"
	"testing"

	"github.com/evalctl/evalctl/llm"
)

func TestToolCache(t *testing.T) {
	ctx := context.Background()
	path := location(t)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// An LLM response under some key is never read as a tool result.
	req := llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}}
	llmKey := CacheKey("openai https://x/v1", req)
	s.Cached(&echo{}, "openai https://x/v1", true, nil).Complete(ctx, req)
	s.Flush()

	tests := []struct {
		name     string
		put      [][3]string // key, tool, result
		get      string
		want     string
		wantFind bool
	}{
		{name: "miss", get: "k0"},
		{name: "hit", put: [][3]string{{"k1", "web_search", `{"output":"1. [A](https://a)"}`}}, get: "k1",
			want: `{"output":"1. [A](https://a)"}`, wantFind: true},
		{name: "replaced", put: [][3]string{{"k2", "t", "old"}, {"k2", "t", "new"}}, get: "k2", want: "new", wantFind: true},
		{name: "an LLM response is not a tool result", get: llmKey},
		{name: "empty result", put: [][3]string{{"k3", "t", ""}}, get: "k3", want: "", wantFind: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range tc.put {
				s.PutTool(ctx, p[0], p[1], p[2]) // committed when it returns
			}
			got, ok := s.GetTool(ctx, tc.get)
			if ok != tc.wantFind || got != tc.want {
				t.Errorf("GetTool(%s) = %q, %v; want %q, %v", tc.get, got, ok, tc.want, tc.wantFind)
			}
		})
	}

	// Entries outlive the process: a resume finds them.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, ok := s.GetTool(ctx, "k2"); !ok || got != "new" {
		t.Errorf("after reopening: %q, %v", got, ok)
	}
	var model string
	if err := s.r.QueryRow(`SELECT model FROM response_cache WHERE key = 'k1'`).Scan(&model); err != nil || model != "tool:web_search" {
		t.Errorf("model column = %q, %v", model, err)
	}
}
