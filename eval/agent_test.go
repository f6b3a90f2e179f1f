package eval_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/openai"
	"github.com/evalctl/evalctl/llm/sim"
	"github.com/evalctl/evalctl/llm/transport"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/trace"
)

// shelf is a tool server's answers, by what the test wants of it: the tool
// side is the boundary here (the tools package runs real MCP servers).
type shelf struct {
	mu    sync.Mutex
	calls []llm.ToolCall
	fail  string // the ErrKind of every call, when set
}

func (s *shelf) Tools() []llm.Tool {
	return []llm.Tool{{Name: "web_search", Parameters: []byte(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`)}}
}

func (s *shelf) Call(ctx context.Context, c llm.ToolCall) eval.ToolResult {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if s.fail != "" {
		return eval.ToolResult{Server: "search", ErrKind: s.fail, Err: "the server went away"}
	}
	return eval.ToolResult{Server: "search", Output: "1. [Algorithm - Wikipedia](https://en.wikipedia.org/wiki/Algorithm)\n   A finite sequence of steps."}
}

func agentPlan(t *testing.T, model string, box eval.Toolbox, maxSteps int) (*eval.Plan, *eval.CallLimit) {
	t.Helper()
	srv, err := sim.Start("127.0.0.1:0", sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ds, err := datasets.ParseCSV("q.csv", []byte("question\nWhat is an algorithm?\nWhat is a compiler?\nWhat is a stack?\nWhat is a queue?\n"), ',')
	if err != nil {
		t.Fatal(err)
	}
	basic, _ := prompts.Parse("basic", "", "Question: {question}")
	addendum, _ := prompts.Parse("tools", "", "Always use the provided web search tool.")
	gate := eval.NewCallLimit(4)
	c := gate.Wrap(openai.New(openai.Config{Provider: "sim", BaseURL: srv.URL, HTTPClient: &http.Client{Transport: transport.New(nil, fast)}}))
	m := &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: model}, Client: c}
	agent := &eval.Agent{Tools: box, Addendum: addendum, Spec: eval.AgentSpec{MaxSteps: maxSteps, Parallel: true,
		Tools: []eval.ToolServerSpec{{Name: "search", Command: []string{"evalctl", "sim", "mcp"}}}}}
	plan := &eval.Plan{Dataset: ds, Rows: ds.Rows, Variants: []*eval.Variant{eval.NewAgentVariant("agent", basic, nil, m, agent)}}
	if err := plan.Validate(); err != nil {
		t.Fatal(err)
	}
	return plan, gate
}

func TestToolLoop(t *testing.T) {
	tests := []struct {
		name     string
		model    string
		fail     string
		maxSteps int
		check    func(t *testing.T, r eval.Result)
	}{
		{"answers after its tool calls", "gpt-5-mini", "", 6, func(t *testing.T, r eval.Result) {
			if r.Err != nil || r.Answer == "" {
				t.Fatalf("err %v answer %q", r.Err, r.Answer)
			}
			if !strings.HasSuffix(r.System, "Always use the provided web search tool.") {
				t.Errorf("system prompt without the addendum: %q", r.System)
			}
			last := r.Steps[len(r.Steps)-1]
			if last.Kind != trace.KindGeneration || last.Output != "" {
				t.Errorf("the last step is not the final generation (its output is the answer): %+v", last)
			}
			for i, sp := range r.Steps {
				if sp.Kind == trace.KindTool && (sp.Server != "search" || sp.Args == "" || !strings.Contains(sp.Output, "wikipedia") || sp.Step == 0) {
					t.Errorf("step %d: %+v", i, sp)
				}
			}
		}},
		{"max_steps is an error, not an answer", "loop", "", 3, func(t *testing.T, r eval.Result) {
			if r.Err == nil || r.Err.Kind != llm.KindMaxSteps || r.Answer != "" || r.Feedback != nil {
				t.Fatalf("err %v answer %q", r.Err, r.Answer)
			}
			if st := trace.StatsOf(r.Steps); st.Steps != 3 || st.ToolCalls != 2 {
				t.Errorf("stats %+v, want 3 steps and 2 tool calls (none at the last step)", st)
			}
		}},
		{"a server down for good fails the cell", "loop", trace.ToolUnavailable, 5, func(t *testing.T, r eval.Result) {
			if r.Err == nil || r.Err.Kind != llm.KindTool || !strings.Contains(r.Err.Msg, "tool server search is down") {
				t.Fatalf("err %v", r.Err)
			}
			if tools := trace.ToolSpans(r.Steps); len(tools) != 1 || tools[0].ErrorKind != trace.ToolUnavailable {
				t.Errorf("tool spans %+v", tools)
			}
		}},
		{"a tool error goes back to the model", "loop", trace.ToolError, 2, func(t *testing.T, r eval.Result) {
			if r.Err == nil || r.Err.Kind != llm.KindMaxSteps {
				t.Fatalf("err %v", r.Err)
			}
			for _, sp := range trace.ToolSpans(r.Steps) {
				if sp.ErrorKind != trace.ToolError || sp.Error == "" {
					t.Errorf("tool span %+v", sp)
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			box := &shelf{fail: tc.fail}
			plan, gate := agentPlan(t, tc.model, box, tc.maxSteps)
			sink := &memSink{}
			if _, err := (&eval.Runner{Limit: gate}).Run(context.Background(), plan, sink); err != nil {
				t.Fatal(err)
			}
			if len(sink.results) != 4 {
				t.Fatalf("%d results", len(sink.results))
			}
			for _, r := range sink.results {
				tc.check(t, r)
			}
		})
	}
}
