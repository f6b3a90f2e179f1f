package eval

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/tokens"
)

// Estimator is the client of a dry run: it calls no one. It answers each
// request with a text as long as such a call is expected to produce (a JSON
// object following the request's schema, for judges), and reports usage
// counted with the offline tokenizer. Running a plan through it builds
// every request a real run would send (rendered prompts, judge prompts
// around answers of the expected length, per-row criteria that skip), so
// the call counts are exact and the prompt tokens close.
//
// An agent's tool loop is estimated, not run: the estimator asks for no
// tool call, so the runner's loop ends after one call, and that call's
// usage stands for the whole loop (AgentEstimate.Usage); the Tally counts
// it as the loop's steps.
type Estimator struct {
	// Completion returns the completion tokens to expect from req, a call
	// to model ("provider:model"). For an agent it is the cell's, all
	// steps together (as the store records an agent's cells).
	Completion func(model string, c Call, req llm.Request) int
	// Agent, when set, returns what a cell of an agent variant is expected
	// to do; ok is false for a variant without tools.
	Agent func(model string, c Call) (est AgentEstimate, ok bool)
	// Provider names the provider of the models this estimator stands for.
	Provider string
}

// Complete implements llm.Client.
func (e *Estimator) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	call, _ := CallOf(ctx)
	model := e.Provider + ":" + req.Model
	n := e.Completion(model, call, req)
	text := filler(n)
	if req.Schema != nil {
		text = instance(req.Schema.Schema, text)
	}
	contents := make([]string, len(req.Messages))
	for i, m := range req.Messages {
		contents[i] = m.Content
	}
	usage := llm.Usage{PromptTokens: tokens.Chat(contents...), CompletionTokens: tokens.Count(text)}
	if a, ok := agentOf(e.Agent, model, call, req); ok {
		usage.PromptTokens = a.PromptTokens(usage.PromptTokens + toolTokens(req.Tools))
	}
	return llm.Response{Text: text, FinishReason: "stop", Usage: usage}, nil
}

// AgentEstimate is what one cell of an agent is expected to do, from the
// store's history of the variant (or of its model with tools), or assumed.
type AgentEstimate struct {
	// Steps is the mean number of generation calls a cell makes (at least 1).
	Steps float64
	// ToolCalls is the mean number of tool calls a cell makes.
	ToolCalls float64
	// ResultTokens is the mean size of a tool result, in tokens.
	ResultTokens float64
}

// ToolCallTokens is what a tool call adds to the conversation besides its
// result: the assistant's call (its id, the tool's name and the arguments)
// and the framing of the tool's message. An assumption.
const ToolCallTokens = 30

// PromptTokens returns the prompt tokens of a cell's steps together, when
// its first call sends first: every step resends the conversation, which
// grows by the tool calls of the steps before it and their results. The
// tool calls are spread evenly over the steps that make them (all but the
// last), so step k sends first + (k−1)·g, and the steps together
// Steps·first + g·Steps·(Steps−1)/2.
func (a AgentEstimate) PromptTokens(first int) int {
	s := max(1, a.Steps)
	g := 0.0
	if s > 1 {
		g = a.ToolCalls / (s - 1) * (a.ResultTokens + ToolCallTokens)
	}
	return int(s*float64(first) + g*s*(s-1)/2 + 0.5)
}

// agentOf returns the estimate for a generation call that offers tools.
func agentOf(f func(string, Call) (AgentEstimate, bool), model string, c Call, req llm.Request) (AgentEstimate, bool) {
	if f == nil || len(req.Tools) == 0 || (c.Kind != "" && c.Kind != "generation") {
		return AgentEstimate{}, false
	}
	a, ok := f(model, c)
	a.Steps = max(1, a.Steps)
	return a, ok
}

// toolTokens counts the tool definitions a request sends (with every step).
func toolTokens(tools []llm.Tool) int {
	if len(tools) == 0 {
		return 0
	}
	b, _ := json.Marshal(tools)
	return tokens.Count(string(b))
}

// filler returns a text of about n tokens (" word" is one token).
func filler(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.TrimPrefix(strings.Repeat(" word", n), " ")
}

// instance returns a JSON value valid for a simple object schema: enums
// take their first value, numbers their minimum (or 1), booleans true, and
// the first string property carries text.
func instance(schema json.RawMessage, text string) string {
	var s struct {
		Properties map[string]struct {
			Type    string   `json:"type"`
			Enum    []any    `json:"enum"`
			Minimum *float64 `json:"minimum"`
		} `json:"properties"`
	}
	if json.Unmarshal(schema, &s) != nil {
		return text
	}
	names := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		names = append(names, k)
	}
	sort.Strings(names)
	out := map[string]any{}
	used := false
	for _, k := range names {
		p := s.Properties[k]
		switch {
		case len(p.Enum) > 0:
			out[k] = p.Enum[0]
		case p.Type == "integer" || p.Type == "number":
			out[k] = 1.0
			if p.Minimum != nil {
				out[k] = *p.Minimum
			}
		case p.Type == "boolean":
			out[k] = true
		case !used:
			out[k], used = text, true
		default:
			out[k] = ""
		}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// TallyKey groups calls by kind and model. The kinds are "generation",
// "agent" (the steps of agents' tool loops) and "judge".
type TallyKey struct{ Kind, Model string }

// TallyLine counts calls of one kind to one model.
type TallyLine struct {
	// Calls counts the calls, Cached those the response cache holds. An
	// agent's cell counts as its estimated steps, so for agents they are
	// estimates, not whole numbers; for the other kinds they are exact.
	Calls, Cached float64
	// Usage of the calls that were not served from the cache.
	Usage llm.Usage
	// For agents, Cells counts the cells and ToolCalls their estimated
	// tool calls (Calls holds their steps).
	Cells     int
	ToolCalls float64
}

// StepsPerCell returns the mean estimated steps of an agent line's cells.
func (l *TallyLine) StepsPerCell() float64 {
	if l.Cells == 0 {
		return 0
	}
	return l.Calls / float64(l.Cells)
}

// Tally counts the calls that pass through its clients.
type Tally struct {
	// Agent, when set, says what a cell of an agent is expected to do (the
	// Estimator's): a generation call that offers tools then counts as the
	// steps and tool calls of the cell's loop.
	Agent func(model string, c Call) (est AgentEstimate, ok bool)

	mu    sync.Mutex
	Lines map[TallyKey]*TallyLine
}

// Wrap returns a client that counts calls to provider's models.
func (t *Tally) Wrap(provider string, c llm.Client) llm.Client {
	return tallied{t, provider, c}
}

type tallied struct {
	t        *Tally
	provider string
	c        llm.Client
}

func (x tallied) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	resp, err := x.c.Complete(ctx, req)
	call, _ := CallOf(ctx)
	kind := call.Kind
	if kind == "" {
		kind = "generation"
	}
	model := x.provider + ":" + req.Model
	agent, isAgent := agentOf(x.t.Agent, model, call, req)
	calls := 1.0
	if isAgent {
		kind, calls = "agent", agent.Steps
		// A dry run calls no tool: a reply from the response cache that asks
		// for tool calls ends the loop too, and the estimate stands for it
		// (its later steps are taken to be cached as well).
		resp.ToolCalls = nil
	}
	k := TallyKey{kind, model}
	x.t.mu.Lock()
	if x.t.Lines == nil {
		x.t.Lines = map[TallyKey]*TallyLine{}
	}
	l := x.t.Lines[k]
	if l == nil {
		l = &TallyLine{}
		x.t.Lines[k] = l
	}
	l.Calls += calls
	if isAgent {
		l.Cells++
		l.ToolCalls += agent.ToolCalls
	}
	if resp.Cached {
		l.Cached += calls
	} else {
		l.Usage = l.Usage.Add(resp.Usage)
	}
	x.t.mu.Unlock()
	return resp, err
}

// Keys returns the tally's keys: generation, agent, then judge calls, each
// by model.
func (t *Tally) Keys() []TallyKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]TallyKey, 0, len(t.Lines))
	for k := range t.Lines {
		keys = append(keys, k)
	}
	rank := map[string]int{"generation": 0, "agent": 1, "judge": 2}
	sort.Slice(keys, func(i, j int) bool {
		ri, okI := rank[keys[i].Kind]
		rj, okJ := rank[keys[j].Kind]
		if !okI {
			ri = len(rank)
		}
		if !okJ {
			rj = len(rank)
		}
		if ri != rj {
			return ri < rj
		}
		if keys[i].Kind != keys[j].Kind {
			return keys[i].Kind < keys[j].Kind
		}
		return keys[i].Model < keys[j].Model
	})
	return keys
}

// Discard is a sink that keeps nothing.
type Discard struct{}

func (Discard) Begin(*Plan) error { return nil }
func (Discard) Put(Result) error  { return nil }
func (Discard) End(Status) error  { return nil }
