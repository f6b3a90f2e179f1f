package tools

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// render turns a tool's result into the text the model is shown: text
// contents joined by newlines, other contents described in brackets, and
// the structured content as JSON when there is no text.
func render(res *mcp.CallToolResult) string {
	var parts []string
	text := false
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts, text = append(parts, c.Text), true
		case *mcp.ImageContent:
			parts = append(parts, fmt.Sprintf("[%s, %d bytes]", orUnknown(c.MIMEType), len(c.Data)))
		case *mcp.AudioContent:
			parts = append(parts, fmt.Sprintf("[%s, %d bytes]", orUnknown(c.MIMEType), len(c.Data)))
		case *mcp.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource %s: %s]", c.Name, c.URI))
		case *mcp.EmbeddedResource:
			switch r := c.Resource; {
			case r == nil:
				parts = append(parts, "[resource]")
			case r.Text != "":
				parts, text = append(parts, r.Text), true
			default:
				parts = append(parts, fmt.Sprintf("[resource %s, %s, %d bytes]", r.URI, orUnknown(r.MIMEType), len(r.Blob)))
			}
		default:
			parts = append(parts, fmt.Sprintf("[%T content]", c))
		}
	}
	if !text && res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			parts = append(parts, string(b))
		}
	}
	return strings.Join(parts, "\n")
}

func orUnknown(mime string) string {
	if mime == "" {
		return "unknown type"
	}
	return mime
}

// CanonicalArgs checks that a tool call's arguments, as the model wrote
// them, are one JSON object, and returns it compact with its keys sorted
// (numbers are kept as written). Blank arguments are the empty object:
// models write them for tools without parameters.
func CanonicalArgs(args string) (json.RawMessage, error) {
	if strings.TrimSpace(args) == "" {
		return json.RawMessage("{}"), nil
	}
	dec := json.NewDecoder(strings.NewReader(args))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not valid JSON: more follows the first value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("got %s", kindOf(v))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.TrimRight(b.Bytes(), "\n")), nil
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// CacheKey is the hex SHA-256 of the canonical form of a call: the server
// (name, and command or URL; not its env, which may hold secrets), the tool
// and the canonical arguments (CanonicalArgs).
func CacheKey(s Server, tool string, args json.RawMessage, maxResult int) string {
	// The env and headers change what a server answers (a mode, an
	// account): their digest is part of the key, the values are not.
	env, _ := json.Marshal([]map[string]string{s.Env, s.Headers})
	envSum := sha256.Sum256(env)
	b, _ := json.Marshal(struct {
		Server  string          `json:"server"`
		Command []string        `json:"command,omitempty"`
		URL     string          `json:"url,omitempty"`
		Env     string          `json:"env"`
		Tool    string          `json:"tool"`
		Args    json.RawMessage `json:"args"`
		Max     int             `json:"max_result_bytes"`
	}{s.Name, s.Command, s.URL, hex.EncodeToString(envSum[:8]), tool, args, maxResult})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
