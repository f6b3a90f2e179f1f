package judges

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/evalctl/evalctl/llm"
	"strings"
	"sync"
)

// Verdict is a judge's parsed reply.
type Verdict struct {
	Result    string // one of the allowed values, lower case
	Rationale string
}

// ErrNoVerdict is returned when a reply holds no usable verdict.
var ErrNoVerdict = errors.New("no verdict in the judge's reply")

// synonyms maps common spellings onto the canonical yes/no.
var synonyms = map[string]string{
	"yes": "yes", "y": "yes", "true": "yes", "pass": "yes", "passed": "yes", "met": "yes",
	"no": "no", "n": "no", "false": "no", "fail": "no", "failed": "no", "not met": "no",
}

// ParseVerdict finds the JSON verdict in a judge's reply. It accepts the object
// bare, inside a Markdown code fence, or after and before prose; it takes the
// first JSON object with a "result" field. The result must map onto one of
// allowed (yes/no synonyms are understood); anything else is an error, never
// a pass.
func ParseVerdict(reply string, allowed []string) (Verdict, error) {
	text := []byte(reply)
	var firstErr error
	for i := 0; i < len(text); i++ {
		if text[i] != '{' {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(text[i:]))
		var obj map[string]json.RawMessage
		if err := dec.Decode(&obj); err != nil {
			continue
		}
		raw, ok := obj["result"]
		if !ok {
			continue
		}
		v, err := verdictFrom(raw, obj["rationale"], allowed)
		if err == nil {
			return v, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		i += int(dec.InputOffset()) - 1
	}
	if firstErr != nil {
		return Verdict{}, firstErr
	}
	if strings.TrimSpace(reply) == "" {
		return Verdict{}, fmt.Errorf("%w: the reply is empty", ErrNoVerdict)
	}
	return Verdict{}, fmt.Errorf("%w: expected a JSON object with a \"result\" field", ErrNoVerdict)
}

func verdictFrom(rawResult, rawRationale json.RawMessage, allowed []string) (Verdict, error) {
	var res any
	if err := json.Unmarshal(rawResult, &res); err != nil {
		return Verdict{}, fmt.Errorf("%w: unreadable result", ErrNoVerdict)
	}
	var s string
	switch r := res.(type) {
	case string:
		s = strings.ToLower(strings.TrimSpace(r))
	case bool:
		s = map[bool]string{true: "yes", false: "no"}[r]
	default:
		return Verdict{}, fmt.Errorf("%w: result %s is not one of %s", ErrNoVerdict, rawResult, strings.Join(allowed, ", "))
	}
	if canon, ok := synonyms[s]; ok && contains(allowed, canon) {
		s = canon
	}
	if !contains(allowed, s) {
		return Verdict{}, fmt.Errorf("%w: result %q is not one of %s", ErrNoVerdict, s, strings.Join(allowed, ", "))
	}
	var rationale string
	if len(rawRationale) > 0 {
		if err := json.Unmarshal(rawRationale, &rationale); err != nil {
			rationale = string(rawRationale)
		}
	}
	return Verdict{Result: s, Rationale: strings.TrimSpace(rationale)}, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// VerdictSchema is the JSON Schema of a verdict whose result is one of
// allowed: the rationale comes first, so that a model writes its reasons
// before it decides.
func VerdictSchema(allowed []string) *llm.Schema {
	key := strings.Join(allowed, "\x00")
	if v, ok := schemas.Load(key); ok {
		return v.(*llm.Schema)
	}
	b, _ := json.Marshal(map[string]any{
		"type": "object",
		"properties": map[string]any{
			"rationale": map[string]any{"type": "string"},
			"result":    map[string]any{"type": "string", "enum": allowed},
		},
		"required":             []string{"rationale", "result"},
		"additionalProperties": false,
	})
	sc := &llm.Schema{Name: "verdict", Schema: b}
	schemas.Store(key, sc)
	return sc
}

// schemas memoizes VerdictSchema: a judge asks with the same schema on every
// call (callers must not modify it).
var schemas sync.Map
