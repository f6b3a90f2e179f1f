package reports

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/trace"
)

// This file writes a run's traces as OTLP/JSON: the JSON encoding of the
// OpenTelemetry protocol's TracesData (the body of an OTLP/HTTP export and
// of the OTLP file exporter). It is hand-written over typed structs rather
// than protojson, because OTLP/JSON differs from protobuf's canonical JSON:
// trace and span ids are hex strings, not base64.
//
// A run becomes one resource (service.name=evalctl) with one scope; each
// cell with steps becomes one trace, laid out after the OpenTelemetry GenAI
// semantic conventions:
//
//	invoke_agent {name}           the cell of an agent (or any cell whose steps
//	│                             are more than one generation call)
//	├── chat {model}              each generation call
//	├── execute_tool {tool}       each tool call
//	└── evaluate {scorer}         each verdict that called an LLM judge
//	    └── chat {judge model}    each judge call of the verdict
//
// A plain cell (one generation call) has no agent span: its root is the
// generation's own chat span, and its evaluate spans hang under it. Judge
// calls are grouped under an evaluate span per verdict (named after the
// scorer, with gen_ai.evaluation.* attributes) so that a trace viewer folds
// them apart from the answer's own calls; the judge chat spans carry
// evalctl.scorer too. A verdict without judge calls (a Go scorer) has no span:
// the root's evalctl.score.<scorer> attribute holds every verdict.
//
// Cells recorded before evalctl kept traces have no steps, hence no times;
// they are left out and counted (OTLPStats.Untraced).

// OTLP enums, as integers (OTLP/JSON writes enums as their numbers).
const (
	otlpKindInternal = 1
	otlpKindClient   = 3
	otlpStatusError  = 2
)

// Attribute names written and read. The gen_ai.* and error.type names are
// the OpenTelemetry semantic conventions'; evalctl.* carry what they have no
// name for, so that evalctl import reads back exactly what was exported.
const (
	attrOperation        = "gen_ai.operation.name"
	attrProvider         = "gen_ai.provider.name"
	attrSystem           = "gen_ai.system" // before gen_ai.provider.name (read only)
	attrRequestModel     = "gen_ai.request.model"
	attrResponseModel    = "gen_ai.response.model"
	attrAgentName        = "gen_ai.agent.name"
	attrInputTokens      = "gen_ai.usage.input_tokens"
	attrOutputTokens     = "gen_ai.usage.output_tokens"
	attrFinishReasons    = "gen_ai.response.finish_reasons"
	attrInputMessages    = "gen_ai.input.messages"
	attrOutputMessages   = "gen_ai.output.messages"
	attrSystemInstr      = "gen_ai.system_instructions"
	attrToolName         = "gen_ai.tool.name"
	attrToolCallID       = "gen_ai.tool.call.id"
	attrToolArgs         = "gen_ai.tool.call.arguments"
	attrToolResult       = "gen_ai.tool.call.result"
	attrEvalName         = "gen_ai.evaluation.name"
	attrEvalScore        = "gen_ai.evaluation.score.value"
	attrEvalLabel        = "gen_ai.evaluation.score.label"
	attrEvalExplanation  = "gen_ai.evaluation.explanation"
	attrErrorType        = "error.type"
	attrRunID            = "evalctl.run.id"
	attrCellIndex        = "evalctl.cell.index"
	attrRowID            = "evalctl.row.id"
	attrRowVars          = "evalctl.row.vars." // + column
	attrRepeat           = "evalctl.repeat"
	attrVariantID        = "evalctl.variant.id"
	attrVariantLabel     = "evalctl.variant.label"
	attrPromptName       = "evalctl.prompt.name"
	attrPromptVersion    = "evalctl.prompt.version"
	attrModel            = "evalctl.model"  // the full model ref, provider:model
	attrScore            = "evalctl.score." // + scorer
	attrScorer           = "evalctl.scorer"
	attrStep             = "evalctl.step"
	attrSpanInput        = "evalctl.input" // trace.Span.Input
	attrToolOutput       = "evalctl.tool.output"
	attrToolServer       = "evalctl.tool.server"
	attrToolCalls        = "evalctl.tool_calls"
	attrAttempts         = "evalctl.attempts"
	attrCached           = "evalctl.cached"
	attrTruncated        = "evalctl.truncated"
	attrCellErrorMessage = "evalctl.error.message"
	attrCellErrorStatus  = "evalctl.error.status"
)

// otlpOther is error.type's value for an error without a kind.
const otlpOther = "_OTHER"

// The OTLP/JSON shapes evalctl writes and reads (a subset of TracesData:
// no events, links or trace state).
type (
	otlpTraces struct {
		ResourceSpans []otlpResourceSpans `json:"resourceSpans"`
	}
	otlpResourceSpans struct {
		Resource   otlpResource     `json:"resource"`
		ScopeSpans []otlpScopeSpans `json:"scopeSpans"`
	}
	otlpResource struct {
		Attributes []otlpKeyValue `json:"attributes,omitempty"`
	}
	otlpScopeSpans struct {
		Scope otlpScope  `json:"scope"`
		Spans []otlpSpan `json:"spans"`
	}
	otlpScope struct {
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
	}
	otlpSpan struct {
		TraceID      string         `json:"traceId"`
		SpanID       string         `json:"spanId"`
		ParentSpanID string         `json:"parentSpanId,omitempty"`
		Name         string         `json:"name"`
		Kind         otlpSpanKind   `json:"kind"`
		Start        otlpUint64     `json:"startTimeUnixNano"`
		End          otlpUint64     `json:"endTimeUnixNano"`
		Attributes   []otlpKeyValue `json:"attributes,omitempty"`
		Status       *otlpStatus    `json:"status,omitempty"`
	}
	otlpStatus struct {
		Message string         `json:"message,omitempty"`
		Code    otlpStatusCode `json:"code,omitempty"`
	}
	otlpKeyValue struct {
		Key   string       `json:"key"`
		Value otlpAnyValue `json:"value"`
	}
	// otlpAnyValue holds one of its fields.
	otlpAnyValue struct {
		StringValue *string     `json:"stringValue,omitempty"`
		BoolValue   *bool       `json:"boolValue,omitempty"`
		IntValue    *otlpInt64  `json:"intValue,omitempty"`
		DoubleValue *float64    `json:"doubleValue,omitempty"`
		ArrayValue  *otlpArray  `json:"arrayValue,omitempty"`
		KvlistValue *otlpKvlist `json:"kvlistValue,omitempty"`
		BytesValue  *string     `json:"bytesValue,omitempty"`
	}
	otlpArray struct {
		Values []otlpAnyValue `json:"values"`
	}
	otlpKvlist struct {
		Values []otlpKeyValue `json:"values"`
	}
)

// otlpSpanKind is a span's kind. evalctl writes its number; it reads the
// number or the enum's name ("SPAN_KIND_CLIENT"), as the protobuf JSON
// mapping allows both.
type otlpSpanKind int

func (k *otlpSpanKind) UnmarshalJSON(b []byte) error {
	n, err := readEnum(b, "kind", "a span kind", []string{"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
		"SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"})
	*k = otlpSpanKind(n)
	return err
}

// otlpStatusCode is a span status's code, read like otlpSpanKind.
type otlpStatusCode int

func (c *otlpStatusCode) UnmarshalJSON(b []byte) error {
	n, err := readEnum(b, "status code", "a status code", []string{"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"})
	*c = otlpStatusCode(n)
	return err
}

// readEnum reads a protobuf enum from JSON: its number (or the number as a
// string), or its name, names[number].
func readEnum(b []byte, field, what string, names []string) (int, error) {
	if string(b) == "null" {
		return 0, nil
	}
	var name string
	if json.Unmarshal(b, &name) != nil {
		name = string(b)
	}
	if i := slices.Index(names, name); i >= 0 {
		return i, nil
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < len(names) {
		return n, nil
	}
	return 0, fmt.Errorf("%s: %s is not %s (%s, or 0 to %d)", field, b, what, strings.Join(names, ", "), len(names)-1)
}

// otlpInt64 is an int64 written as a decimal string, as OTLP/JSON writes
// 64-bit integers; it reads a string or a number.
type otlpInt64 int64

func (n otlpInt64) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(n), 10) + `"`), nil
}

func (n *otlpInt64) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseInt(strings.Trim(string(b), `"`), 10, 64)
	if err != nil {
		return fmt.Errorf("want an integer, got %s", b)
	}
	*n = otlpInt64(v)
	return nil
}

// otlpUint64 is a fixed64 (a time in unix nanoseconds), written as a
// decimal string; it reads a string or a number.
type otlpUint64 uint64

func (n otlpUint64) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatUint(uint64(n), 10) + `"`), nil
}

func (n *otlpUint64) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseUint(strings.Trim(string(b), `"`), 10, 64)
	if err != nil {
		return fmt.Errorf("want unix nanoseconds, got %s", b)
	}
	*n = otlpUint64(v)
	return nil
}

func otlpTime(t time.Time) otlpUint64 {
	if t.IsZero() || t.UnixNano() < 0 {
		return 0
	}
	return otlpUint64(t.UnixNano())
}

// attrs builds a span's attributes.
type attrs []otlpKeyValue

// str adds a string attribute unless v is empty.
func (a *attrs) str(k, v string) {
	if v != "" {
		*a = append(*a, otlpKeyValue{k, otlpAnyValue{StringValue: &v}})
	}
}

func (a *attrs) int(k string, v int) {
	n := otlpInt64(v)
	*a = append(*a, otlpKeyValue{k, otlpAnyValue{IntValue: &n}})
}

// flag adds a boolean attribute when v is true.
func (a *attrs) flag(k string, v bool) {
	if v {
		a.boolean(k, v)
	}
}

func (a *attrs) boolean(k string, v bool) {
	*a = append(*a, otlpKeyValue{k, otlpAnyValue{BoolValue: &v}})
}

func (a *attrs) double(k string, v float64) {
	*a = append(*a, otlpKeyValue{k, otlpAnyValue{DoubleValue: &v}})
}

func (a *attrs) strs(k string, vs ...string) {
	arr := &otlpArray{Values: []otlpAnyValue{}}
	for _, v := range vs {
		arr.Values = append(arr.Values, otlpAnyValue{StringValue: &v})
	}
	*a = append(*a, otlpKeyValue{k, otlpAnyValue{ArrayValue: arr}})
}

// jsonStr adds a structured value as a JSON string (the conventions allow it
// on spans, where structured attributes are not yet supported everywhere).
func (a *attrs) jsonStr(k string, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		a.str(k, string(b))
	}
}

// otelMessage is a message of gen_ai.input.messages and
// gen_ai.output.messages; otelPart one of its parts.
type otelMessage struct {
	Role         string     `json:"role"`
	Parts        []otelPart `json:"parts"`
	FinishReason string     `json:"finish_reason,omitempty"`
}

type otelPart struct {
	Type      string `json:"type"`
	Content   string `json:"content,omitempty"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments any    `json:"arguments,omitempty"`
}

func textParts(s string) []otelPart { return []otelPart{{Type: "text", Content: s}} }

// OTLPOptions say how WriteOTLP writes a run.
type OTLPOptions struct {
	// RunID is the run's id (trace ids derive from it).
	RunID string
	// Version is evalctl's (resource attribute evalctl.version).
	Version string
	// Redact, when set, scrubs every string written (attribute values and
	// status messages): secrets never reach spans, but a run's text passes
	// through the app's redactor all the same.
	Redact func(string) string
}

// OTLPStats count what WriteOTLP wrote.
type OTLPStats struct {
	// Cells counts the traces written; Spans their spans.
	Cells, Spans int
	// Untraced counts the cells left out: recorded before evalctl kept
	// traces, they have no steps.
	Untraced int
}

// OTLPTraceID returns the trace id of a cell: the first 16 bytes of the
// SHA-256 of the run id, "/" and the cell index, so that exporting a run
// twice gives the same ids.
func OTLPTraceID(runID string, cell int) [16]byte {
	h := sha256.Sum256([]byte(runID + "/" + strconv.Itoa(cell)))
	var id [16]byte
	copy(id[:], h[:16])
	return id
}

// WriteOTLP writes the traces of a run's records as one OTLP/JSON
// TracesData document, streaming: it holds one cell at a time.
func WriteOTLP(w io.Writer, records Each, o OTLPOptions) (OTLPStats, error) {
	var st OTLPStats
	var res attrs
	res.str("service.name", "evalctl")
	res.str("evalctl.version", o.Version)
	resJSON, _ := json.Marshal(otlpResource{Attributes: res})
	scopeJSON, _ := json.Marshal(otlpScope{Name: "evalctl", Version: o.Version})
	if _, err := fmt.Fprintf(w, `{"resourceSpans":[{"resource":%s,"scopeSpans":[{"scope":%s,"spans":[`, resJSON, scopeJSON); err != nil {
		return st, err
	}
	first := true
	err := records(func(rec eval.Record) error {
		spans := cellSpans(o.RunID, rec)
		if spans == nil {
			st.Untraced++
			return nil
		}
		st.Cells++
		for i := range spans {
			redactSpan(&spans[i], o.Redact)
			b, err := json.Marshal(&spans[i])
			if err != nil {
				return err
			}
			sep := ",\n"
			if first {
				sep, first = "\n", false
			}
			if _, err := io.WriteString(w, sep); err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
			st.Spans++
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	_, err = io.WriteString(w, "\n]}]}]}\n")
	return st, err
}

// redactSpan passes every string of a span through redact.
func redactSpan(s *otlpSpan, redact func(string) string) {
	if redact == nil {
		return
	}
	var value func(v *otlpAnyValue)
	value = func(v *otlpAnyValue) {
		switch {
		case v.StringValue != nil:
			r := redact(*v.StringValue)
			v.StringValue = &r
		case v.ArrayValue != nil:
			for i := range v.ArrayValue.Values {
				value(&v.ArrayValue.Values[i])
			}
		case v.KvlistValue != nil:
			for i := range v.KvlistValue.Values {
				value(&v.KvlistValue.Values[i].Value)
			}
		}
	}
	for i := range s.Attributes {
		value(&s.Attributes[i].Value)
	}
	if s.Status != nil {
		s.Status.Message = redact(s.Status.Message)
	}
}

// cellBuilder lays out the spans of one cell.
type cellBuilder struct {
	traceID [16]byte
	n       int
	spans   []otlpSpan
}

// spanID returns the next span id: 8 bytes of the SHA-256 of the trace id
// and the span's ordinal (deterministic, and never zero in practice).
func (b *cellBuilder) spanID() string {
	b.n++
	h := sha256.Sum256(append(b.traceID[:], strconv.Itoa(b.n)...))
	return hex.EncodeToString(h[:8])
}

// add appends a span and returns it, to be finished at once (a later add
// may move it).
func (b *cellBuilder) add(parent, name string, kind int, start, end time.Time, a attrs) *otlpSpan {
	b.spans = append(b.spans, otlpSpan{TraceID: hex.EncodeToString(b.traceID[:]), SpanID: b.spanID(), ParentSpanID: parent,
		Name: name, Kind: otlpSpanKind(kind), Start: otlpTime(start), End: otlpTime(end), Attributes: a})
	return &b.spans[len(b.spans)-1]
}

// cellSpans returns the spans of a cell, root first; nil when it has no steps.
func cellSpans(runID string, rec eval.Record) []otlpSpan {
	if len(rec.Steps) == 0 {
		return nil
	}
	b := &cellBuilder{traceID: OTLPTraceID(runID, rec.Index)}
	start, end := rec.Steps[0].Start, rec.Steps[0].End
	lastGen := -1
	for i, s := range rec.Steps {
		if s.Start.Before(start) {
			start = s.Start
		}
		if s.End.After(end) {
			end = s.End
		}
		if s.Kind == trace.KindGeneration {
			lastGen = i
		}
	}
	plain := rec.Variant.Agent == nil && len(rec.Steps) == 1 && lastGen == 0

	// The root: the cell, with what evalctl knows of it.
	var root attrs
	root.str(attrRunID, runID)
	root.int(attrCellIndex, rec.Index)
	root.str(attrRowID, rec.RowID)
	root.int(attrRepeat, rec.Repeat)
	root.str(attrVariantID, rec.Variant.ID)
	root.str(attrVariantLabel, rec.Variant.Label)
	root.str(attrPromptName, rec.Variant.Prompt.Name)
	root.str(attrPromptVersion, rec.Variant.Prompt.Version)
	cols := make([]string, 0, len(rec.Vars))
	for k := range rec.Vars {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	for _, k := range cols {
		v := rec.Vars[k] // written when empty too: the row has the column
		root = append(root, otlpKeyValue{attrRowVars + k, otlpAnyValue{StringValue: &v}})
	}
	if rec.Err != nil {
		root.str(attrErrorType, rec.Err.Kind.String())
		root.str(attrCellErrorMessage, rec.Err.Msg)
		if rec.Err.Status != 0 {
			root.int(attrCellErrorStatus, rec.Err.Status)
		}
	}
	scoreAttrs(&root, rec.Feedback)

	var rootSpan *otlpSpan
	if plain {
		s := rec.Steps[0]
		a := chatAttrs(s, messagesOf(rec), rec.System, outputOf(s, rec.Answer, true, nil))
		rootSpan = b.add("", "chat "+modelName(s.Model), otlpKindClient, s.Start, s.End, append(a, root...))
		setStatus(rootSpan, s)
	} else {
		name := rec.Variant.Label
		if name == "" {
			name = eval.VariantName(rec.Variant)
		}
		provider, model := genAIModel(rec.Variant.Model.Ref)
		var a attrs
		a.str(attrOperation, "invoke_agent")
		a.str(attrAgentName, name)
		a.str(attrProvider, provider)
		a.str(attrRequestModel, model)
		a.str(attrModel, rec.Variant.Model.Ref)
		if in := messagesOf(rec); in != nil {
			a.jsonStr(attrInputMessages, in)
		}
		if rec.System != "" {
			a.jsonStr(attrSystemInstr, textParts(rec.System))
		}
		if rec.Answer != "" {
			a.jsonStr(attrOutputMessages, []otelMessage{{Role: "assistant", Parts: textParts(rec.Answer), FinishReason: finishOr(rec.FinishReason, "stop")}})
		}
		rootSpan = b.add("", "invoke_agent "+name, otlpKindInternal, start, end, append(a, root...))
		if rec.Err != nil {
			rootSpan.Status = &otlpStatus{Code: otlpStatusError, Message: rec.Err.Msg}
		}
	}
	rootID := rootSpan.SpanID

	if !plain {
		firstGen := true
		for i, s := range rec.Steps {
			switch s.Kind {
			case trace.KindGeneration:
				var in []otelMessage
				system := ""
				if firstGen {
					in, system, firstGen = messagesOf(rec), rec.System, false
				}
				final := i == lastGen && s.ToolCalls == 0 && !s.Failed()
				sp := b.add(rootID, "chat "+modelName(s.Model), otlpKindClient, s.Start, s.End,
					chatAttrs(s, in, system, outputOf(s, rec.Answer, final, rec.Steps)))
				setStatus(sp, s)
			case trace.KindTool:
				sp := b.add(rootID, "execute_tool "+s.Tool, otlpKindInternal, s.Start, s.End, toolAttrs(s))
				setStatus(sp, s)
			}
		}
	}

	for _, fb := range rec.Feedback {
		if len(fb.Spans) == 0 {
			continue
		}
		es, ee := fb.Spans[0].Start, fb.Spans[0].End
		for _, s := range fb.Spans {
			if s.Start.Before(es) {
				es = s.Start
			}
			if s.End.After(ee) {
				ee = s.End
			}
		}
		var a attrs
		a.str(attrEvalName, fb.Scorer)
		a.str(attrScorer, fb.Scorer)
		if fb.Score != nil {
			a.double(attrEvalScore, *fb.Score)
		}
		a.str(attrEvalLabel, verdictLabel(fb))
		a.str(attrEvalExplanation, fb.Rationale)
		if fb.Err != "" {
			a.str(attrErrorType, otlpOther)
		}
		ev := b.add(rootID, "evaluate "+fb.Scorer, otlpKindInternal, es, ee, a)
		if fb.Err != "" {
			ev.Status = &otlpStatus{Code: otlpStatusError, Message: fb.Err}
		}
		evID := ev.SpanID
		for _, s := range fb.Spans {
			s.Model = judgeRef(s.Model, fb.JudgeModel)
			var out []otelMessage
			if s.Output != "" {
				out = []otelMessage{{Role: "assistant", Parts: textParts(s.Output), FinishReason: finishOr(s.FinishReason, "stop")}}
			}
			a := chatAttrs(s, nil, "", out)
			a.str(attrScorer, fb.Scorer)
			sp := b.add(evID, "chat "+modelName(s.Model), otlpKindClient, s.Start, s.End, a)
			setStatus(sp, s)
		}
	}
	return b.spans
}

// messagesOf returns the cell's first input messages (its rendered user
// prompt), or nil.
func messagesOf(rec eval.Record) []otelMessage {
	if rec.Input == "" {
		return nil
	}
	return []otelMessage{{Role: "user", Parts: textParts(rec.Input)}}
}

// outputOf returns a generation's output messages: the cell's answer for
// the final one, else the text it wrote with the tool calls it asked for
// (the tool spans of its step).
func outputOf(s trace.Span, answer string, final bool, steps []trace.Span) []otelMessage {
	text := s.Output
	if final && text == "" {
		text = answer
	}
	var parts []otelPart
	if text != "" {
		parts = textParts(text)
	}
	if s.ToolCalls > 0 && s.Step > 0 {
		for _, t := range steps {
			if t.Kind != trace.KindTool || t.Step != s.Step {
				continue
			}
			p := otelPart{Type: "tool_call", ID: t.CallID, Name: t.Tool}
			if json.Valid([]byte(t.Args)) {
				p.Arguments = json.RawMessage(t.Args)
			} else if t.Args != "" {
				p.Arguments = t.Args
			}
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	fallback := "stop"
	if s.ToolCalls > 0 {
		fallback = "tool_call"
	}
	return []otelMessage{{Role: "assistant", Parts: parts, FinishReason: finishOr(s.FinishReason, fallback)}}
}

func finishOr(reason, fallback string) string {
	if reason != "" {
		return reason
	}
	return fallback
}

// chatAttrs are a generation's or a judge call's attributes: in and system
// are the first generation's input messages and system prompt.
func chatAttrs(s trace.Span, in []otelMessage, system string, out []otelMessage) attrs {
	provider, model := genAIModel(s.Model)
	var a attrs
	a.str(attrOperation, "chat")
	a.str(attrProvider, provider)
	a.str(attrRequestModel, model)
	a.str(attrModel, s.Model)
	a.int(attrInputTokens, s.Usage.PromptTokens)
	a.int(attrOutputTokens, s.Usage.CompletionTokens)
	if s.FinishReason != "" {
		a.strs(attrFinishReasons, s.FinishReason)
	}
	if in != nil {
		a.jsonStr(attrInputMessages, in)
	}
	if system != "" {
		a.jsonStr(attrSystemInstr, textParts(system))
	}
	if out != nil {
		a.jsonStr(attrOutputMessages, out)
	}
	if s.Step > 0 {
		a.int(attrStep, s.Step)
	}
	a.str(attrSpanInput, s.Input)
	if s.ToolCalls > 0 {
		a.int(attrToolCalls, s.ToolCalls)
	}
	if s.Attempts > 0 {
		a.int(attrAttempts, s.Attempts)
	}
	a.flag(attrCached, s.Cached)
	a.flag(attrTruncated, s.Truncated)
	if s.Failed() {
		a.str(attrErrorType, finishOr(s.ErrorKind, otlpOther))
	}
	return a
}

// toolAttrs are a tool call's attributes. The result goes in
// gen_ai.tool.call.result when the call succeeded (as the conventions say),
// else in evalctl.tool.output.
func toolAttrs(s trace.Span) attrs {
	var a attrs
	a.str(attrOperation, "execute_tool")
	a.str(attrToolName, s.Tool)
	a.str(attrToolCallID, s.CallID)
	a.str(attrToolArgs, s.Args)
	if s.Failed() {
		a.str(attrToolOutput, s.Output)
		a.str(attrErrorType, finishOr(s.ErrorKind, otlpOther))
	} else {
		a.str(attrToolResult, s.Output)
	}
	a.str(attrToolServer, s.Server)
	if s.Step > 0 {
		a.int(attrStep, s.Step)
	}
	a.flag(attrCached, s.Cached)
	a.flag(attrTruncated, s.Truncated)
	return a
}

// setStatus marks a failed span: status ERROR with its error's text.
func setStatus(sp *otlpSpan, s trace.Span) {
	if s.Failed() {
		sp.Status = &otlpStatus{Code: otlpStatusError, Message: s.Error}
	}
}

// scoreAttrs adds a cell's verdicts: evalctl.score.<scorer> holds the value
// (bool, number or label), .pass the outcome when the value is not it, and
// .error why the scorer could not decide. Skipped verdicts are left out.
func scoreAttrs(a *attrs, fbs []scorers.Feedback) {
	for _, fb := range fbs {
		k := attrScore + fb.Scorer
		switch {
		case fb.Skipped:
			continue
		case fb.Err != "":
			a.str(k+".error", fb.Err)
			continue
		}
		switch v := fb.Value.(type) {
		case bool:
			a.boolean(k, v)
		case float64:
			a.double(k, v)
		case int:
			a.double(k, float64(v))
		case string:
			a.str(k, v)
		case nil:
		default:
			a.jsonStr(k, v)
		}
		if _, isBool := fb.Value.(bool); fb.Pass != nil && !isBool {
			a.boolean(k+".pass", *fb.Pass)
		}
	}
}

// verdictLabel names a verdict for gen_ai.evaluation.score.label: its
// label value, or pass/fail.
func verdictLabel(fb scorers.Feedback) string {
	if s, ok := fb.Value.(string); ok {
		return s
	}
	if fb.Pass != nil {
		if *fb.Pass {
			return "pass"
		}
		return "fail"
	}
	return ""
}

// genAIModel splits a model ref into gen_ai.provider.name and
// gen_ai.request.model.
func genAIModel(ref string) (provider, model string) {
	r, err := llm.ParseModelRef(ref)
	if err != nil {
		return "", ref
	}
	if p, ok := genAIProviders[r.Provider]; ok {
		return p, r.Model
	}
	return r.Provider, r.Model
}

// genAIProviders maps evalctl's provider names to the conventions' where
// they differ.
var genAIProviders = map[string]string{"azure": "azure.ai.openai"}

// judgeRef is a judge span's model as a model ref: spans recorded with the
// bare model name (no provider) take the verdict's judge ref when its
// model is that name.
func judgeRef(model, judge string) string {
	if _, err := llm.ParseModelRef(model); err == nil || judge == "" {
		return model
	}
	if r, err := llm.ParseModelRef(judge); err == nil && r.Model == model {
		return judge
	}
	return model
}

// modelName is the model of a ref, for span names.
func modelName(ref string) string {
	if _, m := genAIModel(ref); m != "" {
		return m
	}
	return "unknown"
}
