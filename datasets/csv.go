package datasets

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// ParseCSV parses RFC 4180 CSV (quoted fields with embedded commas, newlines and
// doubled quotes; CRLF or LF line ends; an optional UTF-8 byte-order mark),
// which must be UTF-8, with the default Options. The first record is the
// header. name is used in error messages only.
func ParseCSV(name string, data []byte, comma rune) (*Dataset, error) {
	return ReadCSV(name, bytes.NewReader(data), comma, Options{})
}

// ReadCSV parses CSV as ParseCSV does, streaming it from r, decoded and
// capped as opts say.
func ReadCSV(name string, in io.Reader, comma rune, opts Options) (*Dataset, error) {
	src, err := newSource(name, in, opts)
	if err != nil {
		return nil, err
	}
	maxCell := opts.maxCell()
	ds := &Dataset{Path: name, Format: "csv"}
	r := csv.NewReader(src)
	r.Comma = comma
	r.FieldsPerRecord = -1 // we check counts ourselves, to name the line and columns
	r.ReuseRecord = false

	header, err := r.Read()
	if err == io.EOF {
		return nil, &FieldError{File: name, Err: errors.New("file is empty (expected a header row)")}
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	index := make(map[string]int, len(header))
	for i, h := range header {
		line, col := r.FieldPos(i)
		if err := src.checkCell(h, maxCell); err != nil {
			return nil, &FieldError{File: name, Line: line, Col: col, Err: fmt.Errorf("header of column %d: %w", i+1, err)}
		}
		key := NormalizeName(h)
		if key == "" {
			return nil, &FieldError{File: name, Line: line, Col: col, Err: fmt.Errorf("column %d has an empty header", i+1)}
		}
		if j, dup := index[key]; dup {
			return nil, &FieldError{File: name, Line: line, Col: col, Field: h,
				Err: fmt.Errorf("duplicate column: %q and %q are both %q", header[j], h, key)}
		}
		index[key] = i
		ds.Columns = append(ds.Columns, key)
	}

	type pos struct{ line, col int }
	var idPos []pos
	idCol, hasID := index["id"]
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) == 1 && rec[0] == "" && len(header) > 1 {
			continue // a blank line inside the file
		}
		if len(rec) != len(header) {
			col := 0
			if len(rec) > len(header) {
				_, col = r.FieldPos(len(header))
			}
			return nil, &FieldError{File: name, Line: line, Col: col,
				Err: fmt.Errorf("record has %d fields, header has %d", len(rec), len(header))}
		}
		vars := make(map[string]string, len(rec))
		for i, v := range rec {
			if err := src.checkCell(v, maxCell); err != nil {
				l, c := r.FieldPos(i)
				return nil, &FieldError{File: name, Line: l, Col: c, Field: header[i], Err: err}
			}
			vars[ds.Columns[i]] = v
		}
		ds.Rows = append(ds.Rows, Row{Line: line, Vars: vars})
		if hasID {
			l, c := r.FieldPos(idCol)
			idPos = append(idPos, pos{l, c})
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

func csvError(name string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe // bytes that are not UTF-8, placed by the source
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err
		if errors.Is(pe.Err, csv.ErrQuote) && pe.StartLine != pe.Line {
			msg = fmt.Errorf("%w (quoted field opened on line %d is never closed)", pe.Err, pe.StartLine)
			return &FieldError{File: name, Line: pe.StartLine, Col: 0, Err: msg}
		}
		return &FieldError{File: name, Line: pe.Line, Col: pe.Column, Err: msg}
	}
	return &FieldError{File: name, Err: err}
}
