package eval

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/tokens"
)

func TestAgentPromptTokens(t *testing.T) {
	tests := []struct {
		name  string
		a     AgentEstimate
		first int
		want  int
	}{
		{"one step sends once", AgentEstimate{Steps: 1, ToolCalls: 0, ResultTokens: 500}, 100, 100},
		{"below one step counts as one", AgentEstimate{Steps: 0.5}, 100, 100},
		// Step 2 resends step 1 with one call and its result: 250 + 30.
		{"two steps", AgentEstimate{Steps: 2, ToolCalls: 1, ResultTokens: 250}, 100, 2*100 + 280},
		// Steps 2 and 3 carry one and two calls of 100 + 30 more.
		{"three steps", AgentEstimate{Steps: 3, ToolCalls: 2, ResultTokens: 100}, 100, 3*100 + 130 + 260},
		// Two calls a step: each later step adds 2 × 130.
		{"parallel calls", AgentEstimate{Steps: 3, ToolCalls: 4, ResultTokens: 100}, 100, 3*100 + 260 + 520},
		{"a fractional mean", AgentEstimate{Steps: 2.5, ToolCalls: 1.5, ResultTokens: 100}, 100, int(math.Round(250 + 130*2.5*1.5/2))},
	}
	for _, tc := range tests {
		if got := tc.a.PromptTokens(tc.first); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// cachedToolCall stands for the response cache holding an agent's first
// step: a reply that asks for a tool call.
type cachedToolCall struct{}

func (cachedToolCall) Complete(context.Context, llm.Request) (llm.Response, error) {
	return llm.Response{Cached: true, FinishReason: "tool_calls", ToolCalls: []llm.ToolCall{{ID: "c1", Name: "search", Arguments: "{}"}}}, nil
}

// The estimator and the tally count an agent's cell as its estimated loop:
// the prompt of every step, the steps as calls and their tool calls, and no
// reply that asks for a tool goes back to the runner, even from the cache.
func TestEstimatorAndTallyOfAnAgent(t *testing.T) {
	est := AgentEstimate{Steps: 3, ToolCalls: 2, ResultTokens: 100}
	agent := func(model string, c Call) (AgentEstimate, bool) { return est, c.Variant == "agent" }
	tools := []llm.Tool{{Name: "search", Parameters: json.RawMessage(`{"type":"object"}`)}}
	msgs := []llm.Message{{Role: "user", Content: "Who wrote Dune?"}}
	tally := &Tally{Agent: agent}
	e := tally.Wrap("sim", &Estimator{Provider: "sim", Agent: agent, Completion: func(string, Call, llm.Request) int { return 10 }})
	cached := tally.Wrap("cache", cachedToolCall{})
	gen := func(variant string) context.Context {
		return withCall(context.Background(), Call{Kind: "generation", Prompt: "basic", Variant: variant})
	}

	resp, _ := e.Complete(gen("agent"), llm.Request{Model: "a", Messages: msgs, Tools: tools})
	b, _ := json.Marshal(tools)
	first := tokens.Chat(msgs[0].Content) + tokens.Count(string(b))
	if len(resp.ToolCalls) != 0 || resp.Usage.PromptTokens != est.PromptTokens(first) {
		t.Errorf("agent: %d tool calls, %d prompt tokens, want none and %d", len(resp.ToolCalls), resp.Usage.PromptTokens, est.PromptTokens(first))
	}
	plain, _ := e.Complete(gen("plain"), llm.Request{Model: "a", Messages: msgs})
	if plain.Usage.PromptTokens != tokens.Chat(msgs[0].Content) {
		t.Errorf("plain: %d prompt tokens", plain.Usage.PromptTokens)
	}
	judge, _ := e.Complete(withCall(context.Background(), Call{Kind: "judge", Variant: "agent"}), llm.Request{Model: "j", Messages: msgs})
	if judge.Usage.PromptTokens != tokens.Chat(msgs[0].Content) {
		t.Errorf("judge: %d prompt tokens", judge.Usage.PromptTokens)
	}
	resp, _ = cached.Complete(gen("agent"), llm.Request{Model: "a", Messages: msgs, Tools: tools})
	if len(resp.ToolCalls) != 0 {
		t.Error("a cached reply's tool calls reach the runner in a dry run")
	}

	lines := map[TallyKey]TallyLine{}
	for _, k := range tally.Keys() {
		lines[k] = *tally.Lines[k]
	}
	want := map[TallyKey]TallyLine{
		{"generation", "sim:a"}: {Calls: 1, Usage: plain.Usage},
		{"agent", "sim:a"}:      {Calls: 3, Cells: 1, ToolCalls: 2, Usage: llm.Usage{PromptTokens: est.PromptTokens(first), CompletionTokens: 10}},
		{"agent", "cache:a"}:    {Calls: 3, Cached: 3, Cells: 1, ToolCalls: 2},
		{"judge", "sim:j"}:      {Calls: 1, Usage: judge.Usage},
	}
	for k, w := range want {
		if lines[k] != w {
			t.Errorf("%v: %+v, want %+v", k, lines[k], w)
		}
	}
	if keys := tally.Keys(); len(keys) != 4 || keys[0].Kind != "generation" || keys[1].Kind != "agent" || keys[3].Kind != "judge" {
		t.Errorf("keys %v", keys)
	}
}
