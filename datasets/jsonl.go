package datasets

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ParseJSONL parses one JSON object per line, which must be UTF-8, with the
// default Options. String values pass through as they are; numbers keep their
// literal text ("4", "0.50"); booleans become "true"/"false"; null becomes "";
// arrays and objects become their compact JSON. Blank lines are skipped.
func ParseJSONL(name string, data []byte) (*Dataset, error) {
	return ReadJSONL(name, bytes.NewReader(data), Options{})
}

// ReadJSONL parses JSONL as ParseJSONL does, streaming it from r a line at a
// time, decoded and capped as opts say.
func ReadJSONL(name string, r io.Reader, opts Options) (*Dataset, error) {
	src, err := newSource(name, r, opts)
	if err != nil {
		return nil, err
	}
	maxCell := opts.maxCell()
	ds := &Dataset{Path: name, Format: "jsonl"}
	br := bufio.NewReaderSize(src, 64<<10)
	known := map[string]bool{}
	type pos struct{ line, col int }
	var idPos []pos
	lineNo := 0
	for {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			var fe *FieldError
			if errors.As(err, &fe) {
				return nil, fe
			}
			return nil, &FieldError{File: name, Line: lineNo + 1, Err: err}
		}
		if len(line) == 0 && err == io.EOF {
			break
		}
		lineNo++
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		vars, perr := parseObject(line, func(v string) error { return src.checkCell(v, maxCell) })
		if perr != nil {
			var je *jsonErr
			if errors.As(perr, &je) {
				return nil, &FieldError{File: name, Line: lineNo, Col: je.col, Field: je.field, Err: je.err}
			}
			return nil, &FieldError{File: name, Line: lineNo, Err: perr}
		}
		for _, k := range vars.order {
			if !known[k] {
				known[k] = true
				ds.Columns = append(ds.Columns, k)
			}
		}
		ds.Rows = append(ds.Rows, Row{Line: lineNo, Vars: vars.m})
		idPos = append(idPos, pos{lineNo, 0})
		if err == io.EOF {
			break
		}
	}
	if len(ds.Rows) == 0 {
		return nil, &FieldError{File: name, Err: ErrEmpty}
	}
	if err := assignIDs(ds, opts.RepeatedIDs, func(i int) (int, int) { return idPos[i].line, idPos[i].col }); err != nil {
		return nil, err
	}
	ds.Hash = src.hash()
	return ds, nil
}

type jsonErr struct {
	col   int
	field string
	err   error
}

func (e *jsonErr) Error() string { return e.err.Error() }

type object struct {
	m     map[string]string
	order []string
}

func parseObject(line []byte, checkCell func(string) error) (object, error) {
	obj := object{m: map[string]string{}}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	// col is the 1-based byte column of the next token: the decoder's offset
	// moved past separators and white space.
	col := func() int {
		off := int(dec.InputOffset())
		for off < len(line) && strings.IndexByte(" \t\r,:", line[off]) >= 0 {
			off++
		}
		return off + 1
	}
	tok, err := dec.Token()
	if err != nil {
		return obj, &jsonErr{col: col(), err: syntaxMsg(err)}
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return obj, &jsonErr{col: 1, err: errors.New("each line must be a JSON object")}
	}
	for dec.More() {
		keyCol := col()
		tok, err := dec.Token()
		if err != nil {
			return obj, &jsonErr{col: col(), err: syntaxMsg(err)}
		}
		rawKey := tok.(string)
		if err := checkCell(rawKey); err != nil {
			return obj, &jsonErr{col: keyCol, err: fmt.Errorf("a key: %w", err)}
		}
		key := NormalizeName(rawKey)
		if key == "" {
			return obj, &jsonErr{col: keyCol, field: rawKey, err: errors.New("empty key")}
		}
		if _, dup := obj.m[key]; dup {
			return obj, &jsonErr{col: keyCol, field: rawKey, err: fmt.Errorf("duplicate key (normalised %q)", key)}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return obj, &jsonErr{col: col(), field: rawKey, err: syntaxMsg(err)}
		}
		v, err := scalarText(raw)
		if err != nil {
			return obj, &jsonErr{col: keyCol, field: rawKey, err: err}
		}
		if err := checkCell(v); err != nil {
			return obj, &jsonErr{col: keyCol, field: rawKey, err: err}
		}
		obj.m[key] = v
		obj.order = append(obj.order, key)
	}
	if _, err := dec.Token(); err != nil {
		return obj, &jsonErr{col: col(), err: syntaxMsg(err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return obj, &jsonErr{col: col(), err: errors.New("unexpected text after the JSON object")}
	}
	return obj, nil
}

func scalarText(raw json.RawMessage) (string, error) {
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) == 0:
		return "", errors.New("missing value")
	case t[0] == '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return "", err
		}
		return s, nil
	case bytes.Equal(t, []byte("null")):
		return "", nil
	case t[0] == '{' || t[0] == '[':
		var b bytes.Buffer
		if err := json.Compact(&b, t); err != nil {
			return "", err
		}
		return b.String(), nil
	default: // number or bool: keep the literal
		return string(t), nil
	}
}

func syntaxMsg(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("unexpected end of line inside JSON")
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return errors.New("invalid JSON: " + msg)
}
