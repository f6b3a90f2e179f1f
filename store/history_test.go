package store

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/trace"
)

// agentCell is a cell of v that made steps generation calls and a tool
// call of a result of size bytes after each but the last.
func agentCell(v *eval.Variant, i, steps, size int) eval.Result {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	r := eval.Result{Cell: eval.Cell{Index: i, Row: &datasets.Row{ID: "r" + string(rune('a'+i)), Line: i + 2}, Variant: v},
		Input: "Q", Answer: "A", FinishReason: "stop", Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 5}, Attempts: 1}
	for s := 1; s <= steps; s++ {
		r.Steps = append(r.Steps, trace.Span{Kind: trace.KindGeneration, Step: s, Start: t0, End: t0})
		if s < steps {
			r.Steps = append(r.Steps, trace.Span{Kind: trace.KindTool, Step: s, Tool: "search", Start: t0, End: t0, Output: strings.Repeat("x", size)})
		}
	}
	return r
}

// AgentHistory averages the stored cells of agents, by variant and by
// model; plain variants and cells recorded without a trace are left out.
func TestAgentHistory(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	model := &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: "a"}}
	tpl := &prompts.Template{Name: "basic", Version: "aaaa1111"}
	agentA := eval.NewAgentVariant("a", tpl, nil, model, &eval.Agent{Spec: eval.AgentSpec{Tools: []eval.ToolServerSpec{{Name: "web", URL: "http://127.0.0.1:1/mcp"}}, MaxSteps: 5}})
	agentB := eval.NewAgentVariant("b", tpl, nil, model, &eval.Agent{Spec: eval.AgentSpec{Tools: []eval.ToolServerSpec{{Name: "calc", Command: []string{"calc"}}}, MaxSteps: 5}})
	store := func(rs ...eval.Result) {
		t.Helper()
		lay := eval.Layout{Scorers: []string{}, Rows: len(rs), Repeat: 1}
		seen := map[string]bool{}
		for _, r := range rs {
			if !seen[r.Variant.ID] {
				seen[r.Variant.ID] = true
				lay.Variants = append(lay.Variants, r.Variant.Spec())
			}
		}
		run := &Run{ID: NewRunID(time.Now()), StartedAt: time.Now(), Spec: Spec{Layout: lay}, Planned: len(rs)}
		if err := s.CreateRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		sink := s.Sink(run.ID)
		for _, r := range rs {
			sink.Put(r)
		}
		if err := sink.End(eval.StatusComplete); err != nil {
			t.Fatal(err)
		}
	}
	plain := agentCell(variant, 2, 4, 1000) // a plain variant's: left out however it looks
	untraced := agentCell(agentA, 3, 1, 0)
	untraced.Steps = nil // recorded before traces
	store(agentCell(agentA, 0, 3, 100), agentCell(agentA, 1, 2, 400), plain, untraced)
	store(agentCell(agentB, 0, 1, 0))

	h, err := s.AgentHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	// Variant a: 3 and 2 steps, 2 and 1 tool calls of 100 and 400 bytes.
	a := h.Variant[agentA.ID]
	if a.Cells != 2 || !near(a.Steps, 2.5) || !near(a.ToolCalls, 1.5) || a.Results != 3 || !near(a.ResultBytes, 200) {
		t.Errorf("variant a: %+v", a)
	}
	if b := h.Variant[agentB.ID]; b.Cells != 1 || b.Steps != 1 || b.ToolCalls != 0 || b.Results != 0 {
		t.Errorf("variant b: %+v", b)
	}
	if _, ok := h.Variant[variant.ID]; ok {
		t.Error("a plain variant counts as an agent")
	}
	m := h.Model["sim:a"]
	if m.Cells != 3 || !near(m.Steps, 2) || !near(m.ToolCalls, 1) || m.Results != 3 || !near(m.ResultBytes, 200) {
		t.Errorf("model: %+v", m)
	}
}
