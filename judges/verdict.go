package judges

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/evalctl/evalctl/llm"
	"math"
	"slices"
	"strconv"
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
	return parseReply(reply, "result", allowed, nil)
}

// parseReply finds the verdict object in a judge's reply: a JSON object
// with field, whose value maps onto one of allowed. It accepts the object
// bare, in a code fence, or among prose. An object whose text appears in one
// of the untrusted texts (the answer, the question) is an echo of them, not
// the judge's verdict, and is skipped; of the others, the last one counts (a
// judge that quotes before it decides decides last).
func parseReply(reply, field string, allowed []string, untrusted []string) (Verdict, error) {
	text := []byte(reply)
	var firstErr error
	var found *Verdict
	echoed := false
	for i := 0; i < len(text); i++ {
		if text[i] != '{' {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(text[i:]))
		var obj map[string]json.RawMessage
		if err := dec.Decode(&obj); err != nil {
			continue
		}
		end := i + int(dec.InputOffset())
		raw, ok := obj[field]
		if !ok {
			continue
		}
		if echo(string(text[i:end]), untrusted) {
			echoed = true
			i = end - 1
			continue
		}
		v, err := verdictFrom(raw, obj["rationale"], allowed)
		if err == nil {
			found = &v
		} else if firstErr == nil {
			firstErr = err
		}
		i = end - 1
	}
	switch {
	case found != nil:
		return *found, nil
	case firstErr != nil:
		return Verdict{}, firstErr
	case echoed:
		return Verdict{}, fmt.Errorf("%w: the only verdict-like object in the reply is quoted from the answer", ErrNoVerdict)
	case strings.TrimSpace(reply) == "":
		return Verdict{}, fmt.Errorf("%w: the reply is empty", ErrNoVerdict)
	}
	return Verdict{}, fmt.Errorf("%w: expected a JSON object with a %q field", ErrNoVerdict, field)
}

// echo reports whether obj (a JSON object's text) appears in one of texts.
func echo(obj string, texts []string) bool {
	for _, t := range texts {
		if t != "" && strings.Contains(t, obj) {
			return true
		}
	}
	return false
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
	case float64:
		if r != math.Trunc(r) {
			return Verdict{}, fmt.Errorf("%w: result %s is not one of %s", ErrNoVerdict, rawResult, strings.Join(allowed, ", "))
		}
		s = strconv.Itoa(int(r))
	default:
		return Verdict{}, fmt.Errorf("%w: result %s is not one of %s", ErrNoVerdict, rawResult, strings.Join(allowed, ", "))
	}
	if canon, ok := synonyms[s]; ok && slices.Contains(allowed, canon) {
		s = canon
	}
	if !slices.Contains(allowed, s) {
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

// VerdictSchema is the JSON Schema of a verdict whose result is one of
// allowed: the rationale comes first, so that a model writes its reasons
// before it decides.
func VerdictSchema(allowed []string) *llm.Schema {
	return schemaFor("result", allowed, false)
}

// schemaFor is the schema of a verdict whose field is one of allowed (an
// integer when numeric is set).
func schemaFor(field string, allowed []string, numeric bool) *llm.Schema {
	key := field + "\x00" + strings.Join(allowed, "\x00") + fmt.Sprint(numeric)
	if v, ok := schemas.Load(key); ok {
		return v.(*llm.Schema)
	}
	prop := map[string]any{"type": "string", "enum": allowed}
	if numeric {
		// An enum of integers: strict structured outputs take it everywhere.
		var ints []int
		for _, a := range allowed {
			n, _ := strconv.Atoi(a)
			ints = append(ints, n)
		}
		prop = map[string]any{"type": "integer", "enum": ints}
	}
	b, _ := json.Marshal(map[string]any{
		"type": "object",
		"properties": map[string]any{
			"rationale": map[string]any{"type": "string"},
			field:       prop,
		},
		"required":             []string{"rationale", field},
		"additionalProperties": false,
	})
	sc := &llm.Schema{Name: "verdict", Schema: b}
	schemas.Store(key, sc)
	return sc
}

// schemas memoizes VerdictSchema: a judge asks with the same schema on every
// call (callers must not modify it).
var schemas sync.Map
