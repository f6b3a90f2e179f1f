package prompts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/evalctl/evalctl/datasets"
)

// Placeholder is one {name} in a template.
type Placeholder struct {
	// Name is the placeholder as written; Key is its normalised form, matched
	// against dataset columns.
	Name, Key string
	Line, Col int // 1-based position of the opening brace
}

// Template is a parsed prompt template.
type Template struct {
	Name    string
	Path    string // file it was read from, for error messages; may be empty
	Text    string
	Version string // first 8 hex digits of the SHA-256 of Text

	Placeholders []Placeholder
	parts        []part
}

type part struct {
	lit string
	key string // non-empty for a placeholder
}

// SyntaxError reports a malformed template.
type SyntaxError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Parse parses text as a template named name. file names the source in errors
// (the name is used when file is empty).
func Parse(name, file, text string) (*Template, error) {
	if file == "" {
		file = name
	}
	t := &Template{Name: name, Path: file, Text: text, Version: Version(text)}
	var lit strings.Builder
	line, col := 1, 1
	errAt := func(l, c int, format string, args ...any) error {
		return &SyntaxError{File: file, Line: l, Col: c, Msg: fmt.Sprintf(format, args...)}
	}
	advance := func(s string) {
		for _, r := range s {
			if r == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
	}
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '{' && i+1 < len(text) && text[i+1] == '{':
			lit.WriteByte('{')
			advance("{{")
			i += 2
		case c == '}' && i+1 < len(text) && text[i+1] == '}':
			lit.WriteByte('}')
			advance("}}")
			i += 2
		case c == '}':
			return nil, errAt(line, col, "single '}' (write '}}' for a literal brace)")
		case c == '{':
			end := strings.IndexByte(text[i+1:], '}')
			if end < 0 {
				return nil, errAt(line, col, "'{' is never closed (write '{{' for a literal brace)")
			}
			field := text[i+1 : i+1+end]
			if err := checkField(field); err != "" {
				return nil, errAt(line, col, "placeholder {%s}: %s", field, err)
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, part{lit: lit.String()})
				lit.Reset()
			}
			key := datasets.NormalizeName(field)
			t.parts = append(t.parts, part{key: key})
			t.Placeholders = append(t.Placeholders, Placeholder{Name: field, Key: key, Line: line, Col: col})
			advance(text[i : i+2+end])
			i += 2 + end
		default:
			lit.WriteByte(c)
			if c == '\n' {
				line, col = line+1, 1
			} else if c < 0x80 || c >= 0xC0 { // count runes, not continuation bytes
				col++
			}
			i++
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, part{lit: lit.String()})
	}
	return t, nil
}

func checkField(f string) string {
	switch {
	case strings.TrimSpace(f) == "":
		return "positional fields are not supported; name the column, e.g. {question}"
	case strings.ContainsAny(f, "{"):
		return "nested braces are not supported"
	case strings.ContainsAny(f, ":!"):
		return "format specs and conversions are not supported"
	case strings.ContainsAny(f, ".["):
		return "attribute and index access are not supported"
	}
	if f[0] >= '0' && f[0] <= '9' {
		return "positional fields are not supported; name the column, e.g. {question}"
	}
	return ""
}

// Version returns the content version of a template text.
func Version(text string) string {
	s := sha256.Sum256([]byte(text))
	return hex.EncodeToString(s[:])[:8]
}

// Ref returns "name@version".
func (t *Template) Ref() string { return t.Name + "@" + t.Version }

// Keys returns the distinct placeholder keys, sorted.
func (t *Template) Keys() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range t.Placeholders {
		if !seen[p.Key] {
			seen[p.Key] = true
			out = append(out, p.Key)
		}
	}
	sort.Strings(out)
	return out
}

// MissingVarError reports placeholders that the dataset cannot fill.
type MissingVarError struct {
	Template  *Template
	Missing   []Placeholder
	Available []string
}

func (e *MissingVarError) Error() string {
	p := e.Missing[0]
	var names []string
	for _, m := range e.Missing {
		names = append(names, "{"+m.Name+"}")
	}
	return fmt.Sprintf("%s:%d:%d: template %q uses %s but the dataset has no such column (columns: %s)",
		e.Template.Path, p.Line, p.Col, e.Template.Name, strings.Join(names, ", "), strings.Join(e.Available, ", "))
}

// Check verifies that every placeholder names one of columns (normalised names).
func (t *Template) Check(columns []string) error {
	have := make(map[string]bool, len(columns))
	for _, c := range columns {
		have[c] = true
	}
	var missing []Placeholder
	seen := map[string]bool{}
	for _, p := range t.Placeholders {
		if !have[p.Key] && !seen[p.Key] {
			seen[p.Key] = true
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return &MissingVarError{Template: t, Missing: missing, Available: columns}
	}
	return nil
}

// Render fills the template from vars. A missing variable is an error; call
// Check first to reject a whole dataset before any work.
func (t *Template) Render(vars map[string]string) (string, error) {
	var b strings.Builder
	b.Grow(len(t.Text) + 256)
	for _, p := range t.parts {
		if p.key == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := vars[p.key]
		if !ok {
			return "", fmt.Errorf("template %q: no value for {%s}", t.Name, p.key)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
