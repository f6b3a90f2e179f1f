package batch

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/openai"
)

// Item is one request of a batch.
type Item struct {
	// CustomID names the request in the results; it must be unique among
	// the items submitted together.
	CustomID string
	Req      llm.Request
	// Model, when set, is the model name sent in place of Req.Model.
	Model string
}

func (it Item) request() llm.Request {
	r := it.Req
	if it.Model != "" {
		r.Model = it.Model
	}
	return r
}

// Limits bound one batch: OpenAI takes at most 50,000 requests and 200 MB
// per input file. Larger submissions are split into several batches.
type Limits struct {
	MaxRequests int
	MaxBytes    int64
}

// DefaultLimits are OpenAI's.
var DefaultLimits = Limits{MaxRequests: 50_000, MaxBytes: 200 << 20}

func (l Limits) orDefault() Limits {
	if l.MaxRequests <= 0 {
		l.MaxRequests = DefaultLimits.MaxRequests
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	return l
}

// Build returns the JSONL input file of items, one line per item in order:
// {"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"},
// where body is, byte for byte, the request the interactive client
// (llm/openai) sends for the same llm.Request, explicit zeros of
// temperature and top_p included. Items must have unique, non-empty custom
// ids and a model; one batch serves one model, which Build does not check
// (Split groups by model).
func Build(items []Item) ([]byte, error) {
	lines, err := encode(items, true)
	if err != nil {
		return nil, err
	}
	return join(lines), nil
}

// encode returns the lines of items, checked.
func encode(items []Item, schema bool) ([][]byte, error) {
	seen := make(map[string]int, len(items))
	lines := make([][]byte, len(items))
	for i, it := range items {
		if it.CustomID == "" {
			return nil, fmt.Errorf("batch item %d: no custom id", i+1)
		}
		if j, dup := seen[it.CustomID]; dup {
			return nil, fmt.Errorf("batch item %d: custom id %q is also item %d's", i+1, it.CustomID, j+1)
		}
		seen[it.CustomID] = i
		req := it.request()
		if req.Model == "" {
			return nil, fmt.Errorf("batch item %q: no model", it.CustomID)
		}
		body, err := openai.RequestBody(req, schema)
		if err != nil {
			return nil, fmt.Errorf("batch item %q: %w", it.CustomID, err)
		}
		id, _ := json.Marshal(it.CustomID)
		var b bytes.Buffer
		b.Grow(len(body) + len(id) + 80)
		b.WriteString(`{"custom_id":`)
		b.Write(id)
		b.WriteString(`,"method":"POST","url":"/v1/chat/completions","body":`)
		b.Write(body) // as it is: json.RawMessage would be re-encoded
		b.WriteByte('}')
		lines[i] = b.Bytes()
	}
	return lines, nil
}

func join(lines [][]byte) []byte {
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	out := make([]byte, 0, n)
	for _, l := range lines {
		out = append(append(out, l...), '\n')
	}
	return out
}

// part is one batch's share of a submission.
type part struct {
	model string
	items []Item
	lines [][]byte
	size  int64
}

// Split divides items into batches within lim (zero fields: OpenAI's
// limits): one model per batch, as OpenAI requires, models in the order
// they first appear, items in their order. A single request larger than
// MaxBytes is an error.
func Split(items []Item, lim Limits) ([][]Item, error) {
	parts, err := split(items, lim, true)
	if err != nil {
		return nil, err
	}
	out := make([][]Item, len(parts))
	for i, p := range parts {
		out[i] = p.items
	}
	return out, nil
}

func split(items []Item, lim Limits, schema bool) ([]part, error) {
	lim = lim.orDefault()
	lines, err := encode(items, schema)
	if err != nil {
		return nil, err
	}
	var parts []part
	open := map[string]int{} // model → index of its last part
	for i, it := range items {
		model := it.request().Model
		size := int64(len(lines[i]) + 1)
		if size > lim.MaxBytes {
			return nil, fmt.Errorf("batch item %q: its request takes %d bytes, more than a batch file's %d", it.CustomID, size, lim.MaxBytes)
		}
		j, ok := open[model]
		if !ok || len(parts[j].items) >= lim.MaxRequests || parts[j].size+size > lim.MaxBytes {
			parts = append(parts, part{model: model})
			j = len(parts) - 1
			open[model] = j
		}
		p := &parts[j]
		p.items = append(p.items, it)
		p.lines = append(p.lines, lines[i])
		p.size += size
	}
	return parts, nil
}
