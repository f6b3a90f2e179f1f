package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlTypeError matches one of yaml.v3's type errors:
// "line 3: cannot unmarshal !!str `hot` into float64".
var yamlTypeError = regexp.MustCompile("^(?:yaml: )?line (\\d+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")

// typeError rewrites a yaml.v3 type error in user words: the field (found
// in the document under root, decoded into t, by its line, value and
// type), what it wants and
// what it got. "line 1: cannot unmarshal !!str `lots` into int" becomes
// "line 1: concurrency: want a whole number, got "lots"". Other errors are
// returned as they are (cleaned of yaml's prefix).
func typeError(root *yaml.Node, t reflect.Type, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return cleanYAMLError(err)
	}
	m := yamlTypeError.FindStringSubmatch(te.Errors[0])
	if m == nil {
		return cleanYAMLError(err)
	}
	line, _ := strconv.Atoi(m[1])
	tag, value, goType := m[2], m[3], m[4]
	msg := fmt.Sprintf("want %s, got %s", wantWords(goType), gotWords(tag, value))
	if path := fieldAt(root, t, line, tag, value, goType); len(path) > 0 {
		msg = strings.Join(path, ": ") + ": " + msg
	}
	return &lineError{line, msg}
}

// wantWords says what a Go type takes, in YAML words.
func wantWords(goType string) string {
	goType = strings.TrimLeft(goType, "*")
	switch goType {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "a whole number"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "text"
	case "time.Duration":
		return "a duration (30s, 2m)"
	}
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list ([a, b])"
	default: // a map or a struct
		return "a mapping (key: value)"
	}
}

// gotWords says what a YAML value is.
func gotWords(tag, value string) string {
	switch tag {
	case "!!str":
		return strconv.Quote(value)
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	case "!!null":
		return "nothing"
	}
	if value != "" {
		return value
	}
	return strings.TrimPrefix(tag, "!!")
}

// fieldAt returns the keys leading to the value on line whose tag and
// text are these (value may end with yaml's "..." when cut) and whose
// field, as t's fields say, has the type yaml named; failing that, the
// first value on the line with that tag and text; or nil. Indexes of lists
// are left out: "agents: tools".
func fieldAt(root *yaml.Node, t reflect.Type, line int, tag, value, goType string) []string {
	prefix := strings.TrimSuffix(value, "...")
	match := func(n *yaml.Node, ft reflect.Type, strict bool) bool {
		if n.Line != line || n.ShortTag() != tag || (value != "" && !strings.HasPrefix(n.Value, prefix)) {
			return false
		}
		return !strict || (ft != nil && sameType(ft, goType))
	}
	var walk func(n *yaml.Node, t reflect.Type, path []string, strict bool) []string
	walk = func(n *yaml.Node, t reflect.Type, path []string, strict bool) []string {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if p := walk(c, t, path, strict); p != nil {
					return p
				}
			}
		case yaml.MappingNode:
			var fields map[string]reflect.Type
			if t != nil && t.Kind() == reflect.Struct {
				fields = yamlFields(t)
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				var ft reflect.Type
				switch {
				case fields != nil:
					ft = fields[k.Value]
				case t != nil && t.Kind() == reflect.Map:
					ft = t.Elem()
				}
				p := append(path[:len(path):len(path)], k.Value)
				if match(v, ft, strict) {
					return p
				}
				if found := walk(v, ft, p, strict); found != nil {
					return found
				}
			}
		case yaml.SequenceNode:
			var et reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				et = t.Elem()
			}
			for _, c := range n.Content {
				if len(path) > 0 && match(c, et, strict) {
					return path
				}
				if found := walk(c, et, path, strict); found != nil {
					return found
				}
			}
		}
		return nil
	}
	if p := walk(root, t, nil, true); p != nil {
		return p
	}
	return walk(root, t, nil, false)
}

// sameType reports whether t is the Go type yaml named in an error
// (pointers aside; "config.plain" is any of the structs that decode
// through a plain copy of themselves).
func sameType(t reflect.Type, goType string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	goType = strings.TrimLeft(goType, "*")
	return t.String() == goType || (strings.HasSuffix(goType, ".plain") && t.Kind() == reflect.Struct)
}
