package trace

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/evalctl/evalctl/llm"
)

// The kinds of span.
const (
	KindGeneration = "generation" // a call to the model under test
	KindTool       = "tool"       // a call to a tool server
	KindJudge      = "judge"      // a call made by an LLM judge
)

// The kinds of tool failure a span records (Span.ErrorKind for tool spans).
const (
	ToolError       = "tool_error"        // the tool answered with an error (MCP isError, or a protocol error)
	ToolBadArgs     = "invalid_arguments" // the model's arguments were not a JSON object
	ToolUnknown     = "unknown_tool"      // the model named a tool no server offers
	ToolTimeout     = "timeout"           // no result within tool_timeout
	ToolCrashed     = "crashed"           // the server died during the call (it is restarted once)
	ToolUnavailable = "unavailable"       // the server is down for good: the cell fails
)

// Span is one step of a cell, or one judge call of a verdict.
type Span struct {
	Kind string `json:"kind"`
	// Step numbers the agent's turns from 1: a generation span and the
	// tool spans of the calls it asked for share a step. 0 for judges.
	Step  int       `json:"step,omitempty"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`

	// Model is the model ref of a generation or judge call.
	Model string `json:"model,omitempty"`
	// Scorer names the judge's scorer.
	Scorer string `json:"scorer,omitempty"`
	// Server and Tool name a tool call; CallID is the model's id for it.
	Server string `json:"server,omitempty"`
	Tool   string `json:"tool,omitempty"`
	CallID string `json:"call_id,omitempty"`
	// Args are a tool call's arguments, as the model wrote them (JSON).
	Args string `json:"args,omitempty"`
	// Input is what a generation or judge call sent that the trace does not
	// already hold (the rendered messages of the first step, a judge's
	// prompt); Output is the reply text or the tool's result. Both are
	// bounded (Bound).
	Input  string `json:"input,omitempty"`
	Output string `json:"output,omitempty"`
	// ToolCalls counts the tool calls a generation asked for.
	ToolCalls int `json:"tool_calls,omitempty"`
	// FinishReason is the generation's.
	FinishReason string `json:"finish_reason,omitempty"`

	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`

	Usage    llm.Usage `json:"usage,omitzero"`
	Attempts int       `json:"attempts,omitempty"`
	Cached   bool      `json:"cached,omitempty"`
	// Truncated is set when Output was cut at the tool's result limit (the
	// model saw the marker too) or at the trace's body bound.
	Truncated bool `json:"truncated,omitempty"`
}

// Duration is the span's wall time.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Failed reports whether the span ended in error.
func (s Span) Failed() bool { return s.Error != "" || s.ErrorKind != "" }

// DefaultMaxBody bounds a span's Input and Output in bytes, unless
// configured otherwise (trace: {max_body_bytes}).
const DefaultMaxBody = 16 << 10

// Marker ends a text cut short.
const Marker = "\n[… truncated by evalctl]"

// Bound cuts s to at most n bytes (on a rune boundary), ending it with
// Marker; cut says whether it did. n <= 0 leaves s whole.
func Bound(s string, n int) (out string, cut bool) {
	if n <= 0 || len(s) <= n {
		return s, false
	}
	keep := max(0, n-len(Marker))
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return strings.ToValidUTF8(s[:keep], "") + Marker, true
}

// Stats sums a cell's steps: what reports show per variant.
type Stats struct {
	// Steps counts generation calls (agent turns).
	Steps int
	// ToolCalls counts tool spans; ToolErrors those that failed.
	ToolCalls  int
	ToolErrors int
	// ToolTime is the tool spans' summed wall time.
	ToolTime time.Duration
}

// StatsOf returns the stats of spans.
func StatsOf(spans []Span) Stats {
	var st Stats
	for _, s := range spans {
		switch s.Kind {
		case KindGeneration:
			st.Steps++
		case KindTool:
			st.ToolCalls++
			if s.Failed() {
				st.ToolErrors++
			}
			st.ToolTime += s.Duration()
		}
	}
	return st
}

// ToolSpans returns the tool spans of spans, in order.
func ToolSpans(spans []Span) []Span {
	var out []Span
	for _, s := range spans {
		if s.Kind == KindTool {
			out = append(out, s)
		}
	}
	return out
}
