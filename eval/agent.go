package eval

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/trace"
)

// Toolbox is the tool side of an agent: the tools its servers offer, and
// a way to call them. The tools package implements it over MCP servers.
// Call must be safe for concurrent use, must return when ctx ends, and must
// cut a call that runs longer than ToolTimeoutOf(ctx) once it is sent (not
// counting time queued for the server), as trace.ToolTimeout.
type Toolbox interface {
	Tools() []llm.Tool
	Call(ctx context.Context, call llm.ToolCall) ToolResult
}

// ToolResult is the outcome of one tool call. Output is what the model is
// shown: the tool's result, or the error text when ErrKind is set.
type ToolResult struct {
	Server string
	// Tool is the server's own name for the tool, when the model was
	// offered it under another (a name OpenAI would refuse); the trace
	// records the server's.
	Tool   string
	Output string
	// ErrKind is one of trace's tool failure kinds (trace.ToolError, ...),
	// "" on success; Err says what happened, for the trace.
	ErrKind string
	Err     string
	// Cached is set when the result came from the tool-result cache;
	// Truncated when Output was cut at the server's result limit.
	Cached    bool
	Truncated bool
}

// Agent settings: a variant with an Agent answers through a tool loop.
type Agent struct {
	Tools Toolbox
	// Addendum, when set, is appended to the system prompt (tools.txt).
	Addendum *prompts.Template
	Spec     AgentSpec
}

// AgentSpec is an agent's stored definition, part of its variant's.
type AgentSpec struct {
	// Tools name the tool servers and how they are reached (their env is
	// left out: it may hold secrets).
	Tools    []ToolServerSpec `json:"tools"`
	Addendum *PromptRef       `json:"system_addendum,omitempty"`
	// MaxSteps bounds the model's turns; reaching it is an error
	// (llm.KindMaxSteps), never an answer.
	MaxSteps int `json:"max_steps"`
	// ToolTimeout cuts a tool call that takes longer.
	ToolTimeout time.Duration `json:"tool_timeout"`
	// Parallel lets the model ask for several tool calls in one turn
	// (they run concurrently).
	Parallel bool `json:"parallel_tool_calls"`
}

// ToolServerSpec names a tool server: a command (stdio) or a URL
// (streamable HTTP).
type ToolServerSpec struct {
	Name    string   `json:"name"`
	Command []string `json:"command,omitempty"`
	URL     string   `json:"url,omitempty"`
}

// Defaults for agent settings left out of the config.
const (
	DefaultMaxSteps    = 10
	DefaultToolTimeout = 30 * time.Second
)

// answer asks the variant's model for the cell's answer: one call, or for
// an agent a tool loop. It fills res (answer, usage, steps, or the error);
// ok is false when the cell was abandoned because the run was canceled.
func (r *Runner) answer(ctx context.Context, p *Plan, c Cell, msgs []llm.Message, res *Result) (ok bool) {
	v := c.Variant
	model := v.Model.Ref.String()
	var tools []llm.Tool
	maxSteps := 1
	var parallel *bool
	if v.Agent != nil {
		tools = v.Agent.Tools.Tools()
		maxSteps = max(1, v.Agent.Spec.MaxSteps)
		par := v.Agent.Spec.Parallel
		parallel = &par
	}
	body := p.traceBody()
	res.Cached = true
	for step := 1; ; step++ {
		if step > maxSteps {
			res.Err = &llm.Error{Kind: llm.KindMaxSteps, Model: model,
				Msg: fmt.Sprintf("no final answer after %d steps: the model kept calling tools (agent max_steps)", maxSteps)}
			return true
		}
		span := trace.Span{Kind: trace.KindGeneration, Step: step, Model: model, Start: time.Now()}
		resp, err := v.Model.Client.Complete(withCall(ctx, Call{Kind: "generation", Prompt: v.Prompt.Name, Variant: v.ID}),
			llm.Request{Model: v.Model.Ref.Model, Messages: msgs, Params: v.Model.Params, Sample: c.Repeat,
				Tools: tools, ParallelToolCalls: parallel})
		span.End = time.Now()
		span.Usage, span.Attempts, span.Cached, span.FinishReason = resp.Usage, resp.Attempts, resp.Cached, resp.FinishReason
		res.Usage = res.Usage.Add(resp.Usage)
		res.Latency += resp.Latency
		res.Attempts += resp.Attempts
		res.Cached = res.Cached && resp.Cached
		if err != nil {
			e := llm.AsError(err)
			if e.Kind == llm.KindCanceled || (ctx.Err() != nil && !e.Kind.Fatal()) {
				// Interrupted, or stopped by another cell's fatal error: not this
				// cell's outcome, so it is left for a resume to redo.
				return false
			}
			if e.Model == "" {
				e.Model = model
			}
			span.Error, span.ErrorKind = e.Error(), e.Kind.String()
			res.Steps = append(res.Steps, span)
			res.Err = e
			return true
		}
		if len(resp.ToolCalls) == 0 || v.Agent == nil {
			// The final answer: the span's output is the cell's Answer.
			res.Answer, res.FinishReason = resp.Text, resp.FinishReason
			res.Steps = append(res.Steps, span)
			return true
		}
		span.Output, span.Truncated = trace.Bound(resp.Text, body)
		span.ToolCalls = len(resp.ToolCalls)
		res.Steps = append(res.Steps, span)
		msgs = append(msgs, llm.Message{Role: "assistant", Content: resp.Text, ToolCalls: resp.ToolCalls})

		if step == maxSteps {
			// No turn is left to read the results: calling the tools would
			// only spend them.
			res.Err = &llm.Error{Kind: llm.KindMaxSteps, Model: model,
				Msg: fmt.Sprintf("no final answer after %d steps: the model kept calling tools (agent max_steps)", maxSteps)}
			return true
		}
		results, spans := r.callTools(ctx, v.Agent, step, resp.ToolCalls)
		if ctx.Err() != nil {
			return false
		}
		res.Steps = append(res.Steps, spans...)
		for i, tc := range resp.ToolCalls {
			if results[i].ErrKind == trace.ToolUnavailable {
				res.Err = &llm.Error{Kind: llm.KindTool, Model: model,
					Msg: fmt.Sprintf("tool server %s is down: %s", results[i].Server, results[i].Err)}
				return true
			}
			msgs = append(msgs, llm.Message{Role: "tool", ToolCallID: tc.ID, Content: toolMessage(results[i])})
		}
	}
}

// toolMessage is what the model is told of a tool call's outcome.
func toolMessage(tr ToolResult) string {
	switch {
	case tr.ErrKind != "" && tr.Output != "":
		return "Error: " + tr.Output
	case tr.ErrKind != "":
		return "Error: " + tr.Err
	case tr.Output == "":
		return "(the tool returned nothing)"
	}
	return tr.Output
}

// callTools runs one step's tool calls, concurrently when the agent allows
// parallel calls, each cut at the agent's tool timeout. It returns their
// results in call order and their spans.
func (r *Runner) callTools(ctx context.Context, a *Agent, step int, calls []llm.ToolCall) ([]ToolResult, []trace.Span) {
	results := make([]ToolResult, len(calls))
	spans := make([]trace.Span, len(calls))
	timeout := a.Spec.ToolTimeout
	if timeout <= 0 {
		timeout = DefaultToolTimeout
	}
	one := func(i int) {
		tc := calls[i]
		// Arguments and results are kept whole: scorers read them, and what
		// the model saw must not depend on the trace's bound (a result is
		// already cut at the tool server's max_result_bytes).
		sp := trace.Span{Kind: trace.KindTool, Step: step, Tool: tc.Name, CallID: tc.ID, Start: time.Now(), Args: tc.Arguments}
		tr := a.Tools.Call(WithToolTimeout(ctx, timeout), tc)
		sp.End = time.Now()
		sp.Server, sp.Cached = tr.Server, tr.Cached
		if tr.Tool != "" {
			sp.Tool = tr.Tool
		}
		sp.ErrorKind, sp.Error = tr.ErrKind, tr.Err
		sp.Output, sp.Truncated = tr.Output, tr.Truncated
		results[i], spans[i] = tr, sp
	}
	if !a.Spec.Parallel || len(calls) == 1 {
		for i := range calls {
			one(i)
		}
		return results, spans
	}
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() { one(i) })
	}
	wg.Wait()
	return results, spans
}

type toolTimeoutKey struct{}

// WithToolTimeout returns ctx carrying the agent's tool timeout for a
// Toolbox to apply once a call is sent.
func WithToolTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, toolTimeoutKey{}, d)
}

// ToolTimeoutOf returns the tool timeout ctx carries.
func ToolTimeoutOf(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Value(toolTimeoutKey{}).(time.Duration)
	return d, ok
}
