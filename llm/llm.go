package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ModelRef names a model as "provider:model", e.g. "openai:gpt-4.1-mini".
type ModelRef struct {
	Provider string
	Model    string
}

func (r ModelRef) String() string { return r.Provider + ":" + r.Model }

var providerRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// ParseModelRef parses "provider:model". The model part may itself contain
// colons ("ollama:llama3.2:3b").
func ParseModelRef(s string) (ModelRef, error) {
	s = strings.TrimSpace(s)
	p, m, ok := strings.Cut(s, ":")
	if !ok || p == "" || m == "" {
		return ModelRef{}, fmt.Errorf("model %q: want provider:model, e.g. openai:gpt-4.1-mini", s)
	}
	if !providerRE.MatchString(p) {
		return ModelRef{}, fmt.Errorf("model %q: provider %q must be lower-case letters, digits, '-' or '_'", s, p)
	}
	return ModelRef{Provider: p, Model: m}, nil
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"` // "system", "user", "assistant" or "tool"
	Content string `json:"content"`
	// ToolCalls are the tool calls an assistant message asked for.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID answers a tool call (role "tool").
	ToolCallID string `json:"tool_call_id,omitempty"`
}

// Tool is a function the model may call (OpenAI tool calling).
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is the JSON Schema of the arguments object.
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// ToolCall is a model's request to call a tool. Arguments is the JSON the
// model wrote, which may be invalid.
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Params are the sampling parameters of a request. Nil means "provider default".
type Params struct {
	Temperature *float64 `yaml:"temperature" json:"temperature,omitempty"`
	TopP        *float64 `yaml:"top_p" json:"top_p,omitempty"`
	MaxTokens   int      `yaml:"max_tokens" json:"max_tokens,omitempty"`
	Seed        *int     `yaml:"seed" json:"seed,omitempty"`
}

// ParamError is a sampling parameter outside its range.
type ParamError struct {
	Param string // "temperature", "top_p", "max_tokens"
	Msg   string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Msg }

// Validate checks the parameters' ranges, as OpenAI documents them:
// temperature from 0 to 2, top_p from 0 to 1 (0 is sent as 0), max_tokens at
// least 1 when set (0 means the provider's default); any seed. NaN and
// infinities are refused: no provider takes them, and a run could not be
// recorded with them. The error is a *ParamError.
func (p Params) Validate() error {
	between := func(name string, v *float64, lo, hi float64) error {
		if v != nil && !(*v >= lo && *v <= hi) { // NaN fails both
			return &ParamError{name, fmt.Sprintf("%v is not between %v and %v", *v, lo, hi)}
		}
		return nil
	}
	if err := between("temperature", p.Temperature, 0, 2); err != nil {
		return err
	}
	if err := between("top_p", p.TopP, 0, 1); err != nil {
		return err
	}
	if p.MaxTokens < 0 {
		return &ParamError{"max_tokens", fmt.Sprintf("%d is negative: set at least 1, or leave it out for the provider's default", p.MaxTokens)}
	}
	return nil
}

// Request is one chat completion request.
type Request struct {
	Model    string
	Messages []Message
	Params   Params
	// JSON asks the provider for a JSON object reply where it supports that.
	JSON bool
	// Schema, when set, asks for a JSON reply following it (structured
	// outputs); providers without that feature get JSON mode instead, and
	// the caller still validates the reply.
	Schema *Schema
	// Sample distinguishes repeats of an otherwise identical request: providers
	// ignore it, caches key on it.
	Sample int
	// Tools are offered to the model; ParallelToolCalls, when set, allows
	// or forbids several calls in one reply.
	Tools             []Tool
	ParallelToolCalls *bool
}

// Schema is a named JSON Schema for structured replies.
type Schema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
}

// Usage counts tokens as the provider reported them.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// Total returns prompt plus completion tokens.
func (u Usage) Total() int { return u.PromptTokens + u.CompletionTokens }

// Add returns the sum of two usages.
func (u Usage) Add(o Usage) Usage {
	return Usage{u.PromptTokens + o.PromptTokens, u.CompletionTokens + o.CompletionTokens}
}

// Response is a completed call.
type Response struct {
	Text         string
	FinishReason string
	// ToolCalls are the calls the model asked for (finish reason
	// "tool_calls"); Text may be empty then.
	ToolCalls []ToolCall
	Usage     Usage
	Latency   time.Duration // wall time of the call, retries and backoff included, local rate-limit queueing excluded
	Attempts  int
	// Cached is set when the response came from a cache, not the provider.
	Cached bool
}

// Client is a chat model endpoint.
type Client interface {
	Complete(ctx context.Context, req Request) (Response, error)
}

// Kind classifies a failed call.
type Kind int

// The kinds of failure. Fatal kinds (Auth, NotFound) stop a run: every later
// call would fail the same way.
const (
	KindUnknown Kind = iota
	KindRateLimited
	KindServer
	KindClient
	KindTimeout
	KindMalformed
	KindAuth
	KindNotFound
	KindNetwork
	KindCanceled
	// KindUnreachable is a host that does not exist (DNS): no later call
	// can reach it.
	KindUnreachable
	// KindMaxSteps is an agent that reached its max_steps without a final
	// answer: an error, never an answer.
	KindMaxSteps
	// KindTool is a cell whose tool server is down for good (it would not
	// start again after a crash).
	KindTool
	// KindLast is the last kind, for loops over them.
	KindLast = KindTool
)

var kindNames = [...]string{"unknown", "rate_limited", "server", "client", "timeout", "malformed", "auth", "not_found", "network", "canceled", "unreachable", "max_steps", "tool"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Fatal reports whether every later call to the same endpoint would fail the
// same way (bad credentials, unknown model, unknown host).
func (k Kind) Fatal() bool { return k == KindAuth || k == KindNotFound || k == KindUnreachable }

// Error is a failed call.
type Error struct {
	Kind     Kind
	Status   int // HTTP status, 0 when none
	Model    string
	Msg      string
	Attempts int
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Model != "" {
		b.WriteString(e.Model + ": ")
	}
	b.WriteString(e.Kind.String())
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Msg != "" {
		b.WriteString(": " + e.Msg)
	}
	if e.Attempts > 1 && e.Kind != KindMaxSteps && e.Kind != KindTool { // steps, not retries
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	return b.String()
}

// AsError returns err as an *Error, wrapping a foreign error as KindUnknown.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Kind: KindCanceled, Msg: err.Error()}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: KindTimeout, Msg: err.Error()}
	}
	return &Error{Kind: KindUnknown, Msg: err.Error()}
}
