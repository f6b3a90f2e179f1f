package reports

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/trace"
)

// OTLPCell is one trace of an OTLP/JSON file, read as a cell.
type OTLPCell struct {
	// TraceID is the trace's id (32 hex digits).
	TraceID string
	// Place locates the trace's root span in the file, for messages.
	Place string
	// Record is the cell as the trace tells it: its row (RowID and Vars,
	// when the trace holds evalctl's attributes), its variant (ID, Label,
	// Prompt and Model.Ref, as far as known), its system prompt and
	// question, answer, usage, error and steps. Index and Repeat are left
	// for the caller.
	Record eval.Record
}

// OTLPTraces is what ReadOTLPTraces read.
type OTLPTraces struct {
	Cells []OTLPCell
	// SkippedSpans counts the spans that are not GenAI spans (an HTTP
	// server's, a database's): neither steps nor a cell's root.
	SkippedSpans int
	// SkippedTraces counts the traces that held no GenAI span, and made no
	// cell.
	SkippedTraces int
}

// ReadOTLP reads the cells of an OTLP/JSON file (see ReadOTLPTraces).
func ReadOTLP(name string, r io.Reader) ([]OTLPCell, error) {
	t, err := ReadOTLPTraces(name, r)
	return t.Cells, err
}

// ReadOTLPTraces reads the traces of an OTLP/JSON file (TracesData, or an
// ExportTraceServiceRequest: the same shape), each as a cell: what evalctl
// export otel wrote, or a trace of another application that follows the
// OpenTelemetry GenAI conventions. The question is the last user message
// of the root's, else the first chat span's, gen_ai.input.messages (or the
// older gen_ai.prompt attributes); the answer is the last chat span's
// output, unless it asked for tools or failed; chat spans become
// generation steps and execute_tool spans tool steps. Evaluate spans and
// the judge calls under them are left out: an imported run has no verdicts.
// Spans that are not GenAI spans (by name or operation, or gen_ai.* or
// evalctl.* attributes) are skipped and counted, and so are traces of
// nothing else. Span kinds and status codes may be numbers or enum names.
// Errors name the file and the span (resourceSpans[i].scopeSpans[j].spans[k]);
// a span id used twice in a trace is an error.
func ReadOTLPTraces(name string, r io.Reader) (OTLPTraces, error) {
	var out OTLPTraces
	data, err := io.ReadAll(r)
	if err != nil {
		return out, fmt.Errorf("%s: %w", name, err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return out, jsonError(name, data, err)
	}
	if _, ok := probe["resourceSpans"]; !ok {
		return out, fmt.Errorf("%s: not OTLP/JSON traces: no resourceSpans at the top level", name)
	}
	var doc otlpTraces
	if err := json.Unmarshal(data, &doc); err != nil {
		return out, jsonError(name, data, err)
	}

	// Spans by trace, traces in order of first appearance.
	var order []string
	byTrace := map[string][]*readSpan{}
	where := map[[2]string]string{} // trace and span id: the span's position
	n := 0
	for i, rs := range doc.ResourceSpans {
		for j, ss := range rs.ScopeSpans {
			for k := range ss.Spans {
				s := &ss.Spans[k]
				pos := fmt.Sprintf("resourceSpans[%d].scopeSpans[%d].spans[%d]", i, j, k)
				rsp := &readSpan{s: s, place: name + ": " + pos}
				if err := rsp.check(); err != nil {
					return out, err
				}
				rsp.a = map[string]otlpAnyValue{}
				for _, kv := range s.Attributes {
					rsp.a[kv.Key] = kv.Value
				}
				rsp.classify()
				id := strings.ToLower(s.TraceID)
				key := [2]string{id, strings.ToLower(s.SpanID)}
				if other, dup := where[key]; dup {
					return out, fmt.Errorf("%s: spanId %s is used twice in trace %s (also %s)", rsp.place, key[1], id, other)
				}
				where[key] = pos
				if _, ok := byTrace[id]; !ok {
					order = append(order, id)
				}
				byTrace[id] = append(byTrace[id], rsp)
				n++
			}
		}
	}
	if len(order) == 0 {
		return out, fmt.Errorf("%s: no spans", name)
	}
	for _, id := range order {
		spans := byTrace[id]
		genAI := 0
		for _, s := range spans {
			if s.genAI {
				genAI++
			}
		}
		out.SkippedSpans += len(spans) - genAI
		if genAI == 0 {
			out.SkippedTraces++
			continue
		}
		out.Cells = append(out.Cells, readTrace(id, spans))
	}
	if len(out.Cells) == 0 {
		what := "1 span"
		if n != 1 {
			what = fmt.Sprintf("%d spans", n)
		}
		return out, fmt.Errorf("%s: no GenAI spans (%s, none a chat, execute_tool, invoke_agent or evaluate span, nor with gen_ai.* or evalctl.* attributes)", name, what)
	}
	return out, nil
}

// jsonError locates a JSON error in data by line and column.
func jsonError(name string, data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
		if te.Field != "" {
			err = fmt.Errorf("field %s: want %s, got %s", te.Field, te.Type, te.Value)
		}
	}
	if off < 0 || off > int64(len(data)) {
		return fmt.Errorf("%s: not OTLP/JSON: %v", name, err)
	}
	// The error is at the last byte read: the Offset-th.
	off = max(0, off-1)
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Errorf("%s:%d:%d: not OTLP/JSON: %v", name, line, col, err)
}

// readSpan is a span read from a file, with its attributes by key.
type readSpan struct {
	s     *otlpSpan
	place string
	a     map[string]otlpAnyValue
	op    string // generation, tool, agent, evaluate, or ""
	step  int
	has   bool // it has evalctl.step
	genAI bool // a GenAI span (or evalctl's), not an HTTP server's or a database's
}

// check validates the span's ids and times.
func (r *readSpan) check() error {
	s := r.s
	if err := checkID(s.TraceID, 16); err != nil {
		return fmt.Errorf("%s: traceId: %v", r.place, err)
	}
	if err := checkID(s.SpanID, 8); err != nil {
		return fmt.Errorf("%s: spanId: %v", r.place, err)
	}
	if s.ParentSpanID != "" {
		if err := checkID(s.ParentSpanID, 8); err != nil {
			return fmt.Errorf("%s: parentSpanId: %v", r.place, err)
		}
	}
	if s.End < s.Start {
		return fmt.Errorf("%s: endTimeUnixNano is before startTimeUnixNano", r.place)
	}
	return nil
}

// checkID checks an OTLP/JSON id: n bytes as hex, not all zero.
func checkID(id string, n int) error {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != n {
		return fmt.Errorf("%q is not %d hex digits (OTLP/JSON writes ids in hex)", id, 2*n)
	}
	if bytes.Equal(b, make([]byte, n)) {
		return fmt.Errorf("%q is all zeros", id)
	}
	return nil
}

func (r *readSpan) str(k string) string {
	v, ok := r.a[k]
	if !ok {
		return ""
	}
	return anyText(v)
}

func (r *readSpan) int(k string) int {
	v, ok := r.a[k]
	switch {
	case !ok:
		return 0
	case v.IntValue != nil:
		return int(*v.IntValue)
	case v.DoubleValue != nil:
		return int(*v.DoubleValue)
	case v.StringValue != nil:
		n, _ := strconv.Atoi(*v.StringValue)
		return n
	}
	return 0
}

func (r *readSpan) boolean(k string) bool {
	v, ok := r.a[k]
	return ok && v.BoolValue != nil && *v.BoolValue
}

func (r *readSpan) start() time.Time { return time.Unix(0, int64(r.s.Start)) }
func (r *readSpan) end() time.Time   { return time.Unix(0, int64(r.s.End)) }

// failed reports whether the span ended in error, and how.
func (r *readSpan) failed() (failed bool, kind, msg string) {
	kind = r.str(attrErrorType)
	if kind == otlpOther {
		kind = ""
	}
	if r.s.Status != nil && r.s.Status.Code == otlpStatusError {
		return true, kind, r.s.Status.Message
	}
	_, typed := r.a[attrErrorType]
	return typed, kind, ""
}

// classify sets the span's operation.
func (r *readSpan) classify() {
	op := r.str(attrOperation)
	if op == "" {
		op, _, _ = strings.Cut(r.s.Name, " ")
		if _, ok := r.a[attrRequestModel]; ok && op != "execute_tool" && op != "invoke_agent" {
			op = "chat"
		}
	}
	switch {
	case r.str(attrEvalName) != "" || r.str(attrScorer) != "" || strings.HasPrefix(r.s.Name, "evaluate "):
		r.op = "evaluate"
	case op == "chat" || op == "text_completion" || op == "generate_content":
		r.op = trace.KindGeneration
	case op == "execute_tool":
		r.op = trace.KindTool
	case op == "invoke_agent":
		r.op = "agent"
	}
	_, r.has = r.a[attrStep]
	r.step = r.int(attrStep)
	r.genAI = r.op != ""
	for k := range r.a {
		if strings.HasPrefix(k, "gen_ai.") || strings.HasPrefix(k, "evalctl.") {
			r.genAI = true
			break
		}
	}
}

// readTrace turns the spans of one trace into a cell.
func readTrace(id string, spans []*readSpan) OTLPCell {
	ids := map[string]*readSpan{}
	for _, s := range spans {
		ids[strings.ToLower(s.s.SpanID)] = s
	}
	parent := func(s *readSpan) *readSpan { return ids[strings.ToLower(s.s.ParentSpanID)] }
	// The root: the earliest GenAI span without a GenAI parent in the
	// trace (or, when parents loop, the earliest GenAI span). Other spans
	// (an HTTP request's around the chat) are not the cell's.
	var root, first *readSpan
	for _, s := range spans {
		if !s.genAI {
			continue
		}
		if p := parent(s); (p == nil || !p.genAI) && (root == nil || s.s.Start < root.s.Start) {
			root = s
		}
		if first == nil || s.s.Start < first.s.Start {
			first = s
		}
	}
	if root == nil {
		root = first
	}
	// A span under an evaluate span is a judge call: not the cell's.
	judged := func(s *readSpan) bool {
		for x, n := s, 0; x != nil && n <= len(spans); x, n = parent(x), n+1 {
			if x.op == "evaluate" {
				return true
			}
		}
		return false
	}
	var steps []*readSpan
	numbered := true
	for _, s := range spans {
		if (s.op == trace.KindGeneration || s.op == trace.KindTool) && !judged(s) {
			steps = append(steps, s)
			numbered = numbered && s.has
		}
	}
	rank := func(s *readSpan) int {
		if s.op == trace.KindGeneration {
			return 0
		}
		return 1
	}
	sort.SliceStable(steps, func(i, j int) bool {
		x, y := steps[i], steps[j]
		if numbered {
			if x.step != y.step {
				return x.step < y.step
			}
			return rank(x) < rank(y)
		}
		if x.s.Start != y.s.Start {
			return x.s.Start < y.s.Start
		}
		return rank(x) < rank(y)
	})
	if !numbered {
		n := 0
		for _, s := range steps {
			if s.op == trace.KindGeneration {
				n++
			}
			s.step = n
		}
	}

	cell := OTLPCell{TraceID: id, Place: root.place}
	rec := &cell.Record
	rec.RowID = root.str(attrRowID)
	for k, v := range root.a {
		if col, ok := strings.CutPrefix(k, attrRowVars); ok && col != "" {
			if rec.Vars == nil {
				rec.Vars = map[string]string{}
			}
			rec.Vars[col] = anyText(v)
		}
	}
	rec.Variant.ID = root.str(attrVariantID)
	rec.Variant.Label = root.str(attrVariantLabel)
	rec.Variant.Prompt = eval.PromptRef{Name: root.str(attrPromptName), Version: root.str(attrPromptVersion)}
	rec.Variant.Model.Ref = root.str(attrModel)

	var firstGen, lastGen *readSpan
	lastText := ""
	for _, s := range steps {
		if s.op != trace.KindGeneration {
			rec.Steps = append(rec.Steps, toolStep(s))
			continue
		}
		sp, text := generationStep(s)
		if firstGen == nil {
			firstGen = s
		}
		lastGen, lastText = s, text
		rec.Usage = rec.Usage.Add(sp.Usage)
		rec.Latency += sp.Duration()
		rec.Attempts += sp.Attempts
		rec.Steps = append(rec.Steps, sp)
	}
	if rec.Variant.Model.Ref == "" && firstGen != nil {
		rec.Variant.Model.Ref = modelRef(firstGen)
	}

	// The question and system prompt: the root's input, else the first
	// chat span's.
	for _, s := range []*readSpan{root, firstGen} {
		if s == nil {
			continue
		}
		sys, q, ok := inputText(s)
		if ok {
			rec.System, rec.Input = sys, q
			break
		}
	}

	// The answer: the last generation's text, unless it asked for tools or
	// failed (then its text is the step's output).
	if lastGen != nil {
		last := &rec.Steps[lastIndex(rec.Steps)]
		if last.ToolCalls == 0 && !last.Failed() {
			rec.Answer, last.Output = lastText, ""
			rec.FinishReason = last.FinishReason
		}
	} else if text, _, ok := outputText(root); ok {
		rec.Answer = text
	}

	// The cell's error.
	// evalctl's root holds the cell's error; another application's root
	// holds one when it is not a chat span (whose error is its own).
	ours := root.str(attrRunID) != ""
	if failed, kind, msg := root.failed(); failed && (ours || root.op != trace.KindGeneration) {
		if ours {
			msg = root.str(attrCellErrorMessage)
		}
		rec.Err = &llm.Error{Kind: kindNamed(kind), Msg: msg, Status: root.int(attrCellErrorStatus)}
	} else if lastGen != nil {
		if last := rec.Steps[lastIndex(rec.Steps)]; last.Failed() {
			rec.Err = &llm.Error{Kind: kindNamed(last.ErrorKind), Msg: last.Error}
		}
	}
	if rec.Err != nil {
		rec.Err.Model, rec.Err.Attempts = rec.Variant.Model.Ref, rec.Attempts
		rec.Answer = ""
	}
	return cell
}

// lastIndex is the index of the last generation step.
func lastIndex(steps []trace.Span) int {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].Kind == trace.KindGeneration {
			return i
		}
	}
	return -1
}

// generationStep reads a chat span as a generation step, with the text it
// wrote.
func generationStep(s *readSpan) (trace.Span, string) {
	sp := trace.Span{Kind: trace.KindGeneration, Step: s.step, Start: s.start(), End: s.end(), Model: modelRef(s),
		Input: s.str(attrSpanInput), Attempts: s.int(attrAttempts), Cached: s.boolean(attrCached), Truncated: s.boolean(attrTruncated)}
	sp.Usage = llm.Usage{PromptTokens: s.int(attrInputTokens), CompletionTokens: s.int(attrOutputTokens)}
	if v, ok := s.a[attrFinishReasons]; ok {
		if v.ArrayValue != nil && len(v.ArrayValue.Values) > 0 {
			sp.FinishReason = anyText(v.ArrayValue.Values[0])
		} else {
			sp.FinishReason = anyText(v)
		}
	}
	text, calls, _ := outputText(s)
	sp.Output = text
	sp.ToolCalls = calls
	if _, ok := s.a[attrToolCalls]; ok {
		sp.ToolCalls = s.int(attrToolCalls)
	}
	if failed, kind, msg := s.failed(); failed {
		sp.ErrorKind, sp.Error = kind, msg
	}
	return sp, text
}

// toolStep reads an execute_tool span as a tool step.
func toolStep(s *readSpan) trace.Span {
	sp := trace.Span{Kind: trace.KindTool, Step: s.step, Start: s.start(), End: s.end(), Server: s.str(attrToolServer),
		Tool: s.str(attrToolName), CallID: s.str(attrToolCallID), Args: s.str(attrToolArgs),
		Cached: s.boolean(attrCached), Truncated: s.boolean(attrTruncated)}
	if sp.Tool == "" {
		sp.Tool = strings.TrimPrefix(s.s.Name, "execute_tool ")
	}
	sp.Output = s.str(attrToolResult)
	if _, ok := s.a[attrToolResult]; !ok {
		sp.Output = s.str(attrToolOutput)
	}
	if failed, kind, msg := s.failed(); failed {
		sp.ErrorKind, sp.Error = kind, msg
	}
	return sp
}

// modelRef is a chat span's model as an evalctl model ref (provider:model).
func modelRef(s *readSpan) string {
	if ref := s.str(attrModel); ref != "" {
		return ref
	}
	model := s.str(attrRequestModel)
	if model == "" {
		model = s.str(attrResponseModel)
	}
	if model == "" {
		return ""
	}
	provider := s.str(attrProvider)
	if provider == "" {
		provider = s.str(attrSystem)
	}
	for ours, theirs := range genAIProviders {
		if provider == theirs {
			provider = ours
		}
	}
	// A model ref's provider is lower-case letters, digits, '-' and '_'.
	provider = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, provider)
	if provider == "" {
		provider = "imported"
	}
	return provider + ":" + model
}

// readMessage is a message of gen_ai.input.messages or
// gen_ai.output.messages, or of the older {role, content} form.
type readMessage struct {
	Role  string `json:"role"`
	Parts []struct {
		Type    string `json:"type"`
		Content any    `json:"content"`
	} `json:"parts"`
	Content any `json:"content"`
}

// text is the message's text parts, joined.
func (m readMessage) text() string {
	var parts []string
	if s, ok := m.Content.(string); ok && s != "" {
		parts = append(parts, s)
	}
	for _, p := range m.Parts {
		if s, ok := p.Content.(string); ok && (p.Type == "text" || p.Type == "") {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "\n")
}

func (m readMessage) toolCalls() int {
	n := 0
	for _, p := range m.Parts {
		if p.Type == "tool_call" {
			n++
		}
	}
	return n
}

// messages reads a messages attribute: a JSON string, or a structured value.
func (r *readSpan) messages(k string) ([]readMessage, bool) {
	v, ok := r.a[k]
	if !ok {
		return nil, false
	}
	var raw []byte
	if v.StringValue != nil {
		raw = []byte(*v.StringValue)
	} else {
		raw, _ = json.Marshal(anyGo(v))
	}
	var msgs []readMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return nil, false
	}
	return msgs, true
}

// inputText returns a span's system prompt and question (its last user
// message).
func inputText(s *readSpan) (system, question string, ok bool) {
	if msgs, found := s.messages(attrInputMessages); found {
		var sys []string
		for _, m := range msgs {
			switch m.Role {
			case "user":
				question, ok = m.text(), true
			case "system":
				sys = append(sys, m.text())
			}
		}
		system = strings.Join(sys, "\n\n")
	}
	if !ok {
		// The older indexed form: gen_ai.prompt.0.role, gen_ai.prompt.0.content, ...
		for i := 0; ; i++ {
			p := "gen_ai.prompt." + strconv.Itoa(i)
			content, has := s.a[p+".content"]
			if !has {
				break
			}
			switch s.str(p + ".role") {
			case "system":
				system = anyText(content)
			case "user", "":
				question, ok = anyText(content), true
			}
		}
	}
	if !ok {
		if v, has := s.a["gen_ai.prompt"]; has {
			question, ok = anyText(v), true
		}
	}
	if v, has := s.a[attrSystemInstr]; has {
		var ps []struct {
			Content string `json:"content"`
		}
		raw := []byte(anyText(v))
		if v.StringValue == nil {
			raw, _ = json.Marshal(anyGo(v))
		}
		if json.Unmarshal(raw, &ps) == nil {
			var texts []string
			for _, p := range ps {
				texts = append(texts, p.Content)
			}
			system = strings.Join(texts, "\n")
		} else {
			system = anyText(v)
		}
	}
	return system, question, ok
}

// outputText returns the text a span's output messages hold and the tool
// calls they ask for.
func outputText(s *readSpan) (text string, toolCalls int, ok bool) {
	if msgs, found := s.messages(attrOutputMessages); found {
		var texts []string
		for _, m := range msgs {
			if m.Role == "assistant" || m.Role == "" {
				if t := m.text(); t != "" {
					texts = append(texts, t)
				}
				toolCalls += m.toolCalls()
			}
		}
		return strings.Join(texts, "\n"), toolCalls, true
	}
	if v, has := s.a["gen_ai.completion.0.content"]; has {
		return anyText(v), 0, true
	}
	if v, has := s.a["gen_ai.completion"]; has {
		return anyText(v), 0, true
	}
	return "", 0, false
}

// anyText is a value as text: a string as it is, anything else as JSON.
func anyText(v otlpAnyValue) string {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.IntValue != nil:
		return strconv.FormatInt(int64(*v.IntValue), 10)
	case v.DoubleValue != nil:
		return strconv.FormatFloat(*v.DoubleValue, 'g', -1, 64)
	case v.BoolValue != nil:
		return strconv.FormatBool(*v.BoolValue)
	case v.BytesValue != nil:
		return *v.BytesValue
	}
	b, _ := json.Marshal(anyGo(v))
	return string(b)
}

// anyGo converts a value to plain Go values (for JSON).
func anyGo(v otlpAnyValue) any {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.IntValue != nil:
		return int64(*v.IntValue)
	case v.DoubleValue != nil:
		return *v.DoubleValue
	case v.BoolValue != nil:
		return *v.BoolValue
	case v.BytesValue != nil:
		return *v.BytesValue
	case v.ArrayValue != nil:
		out := make([]any, 0, len(v.ArrayValue.Values))
		for _, x := range v.ArrayValue.Values {
			out = append(out, anyGo(x))
		}
		return out
	case v.KvlistValue != nil:
		out := make(map[string]any, len(v.KvlistValue.Values))
		for _, kv := range v.KvlistValue.Values {
			out[kv.Key] = anyGo(kv.Value)
		}
		return out
	}
	return nil
}

// kindNamed is the llm.Kind named s (KindUnknown for a name evalctl does
// not know).
func kindNamed(s string) llm.Kind {
	for k := llm.KindUnknown; k <= llm.KindLast; k++ {
		if k.String() == s {
			return k
		}
	}
	return llm.KindUnknown
}
