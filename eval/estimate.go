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
type Estimator struct {
	// Completion returns the completion tokens to expect from req, a call
	// to model ("provider:model").
	Completion func(model string, c Call, req llm.Request) int
	// Provider names the provider of the models this estimator stands for.
	Provider string
}

// Complete implements llm.Client.
func (e *Estimator) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	call, _ := CallOf(ctx)
	n := e.Completion(e.Provider+":"+req.Model, call, req)
	text := filler(n)
	if req.Schema != nil {
		text = instance(req.Schema.Schema, text)
	}
	contents := make([]string, len(req.Messages))
	for i, m := range req.Messages {
		contents[i] = m.Content
	}
	return llm.Response{Text: text, FinishReason: "stop",
		Usage: llm.Usage{PromptTokens: tokens.Chat(contents...), CompletionTokens: tokens.Count(text)}}, nil
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

// TallyKey groups calls by kind and model.
type TallyKey struct{ Kind, Model string }

// TallyLine counts calls of one kind to one model.
type TallyLine struct {
	Calls, Cached int
	// Usage of the calls that were not served from the cache.
	Usage llm.Usage
}

// Tally counts the calls that pass through its clients.
type Tally struct {
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
	k := TallyKey{kind, x.provider + ":" + req.Model}
	x.t.mu.Lock()
	if x.t.Lines == nil {
		x.t.Lines = map[TallyKey]*TallyLine{}
	}
	l := x.t.Lines[k]
	if l == nil {
		l = &TallyLine{}
		x.t.Lines[k] = l
	}
	l.Calls++
	if resp.Cached {
		l.Cached++
	} else {
		l.Usage = l.Usage.Add(resp.Usage)
	}
	x.t.mu.Unlock()
	return resp, err
}

// Keys returns the tally's keys, generation first, then by model.
func (t *Tally) Keys() []TallyKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]TallyKey, 0, len(t.Lines))
	for k := range t.Lines {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Kind != keys[j].Kind {
			return keys[i].Kind == "generation"
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
