package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
)

// Row is one record of a dataset.
type Row struct {
	// ID is stable across runs: the value of an "id" column when the dataset has
	// one, otherwise a short hash of the row's content (with "-2", "-3", ... added
	// to repeated identical rows in file order).
	ID string
	// Line is the 1-based line of the file on which the record starts.
	Line int
	// Vars maps normalised column names to the field text.
	Vars map[string]string
}

// Dataset is a parsed dataset file.
type Dataset struct {
	// Path is the file the dataset was read from.
	Path string
	// Format is "csv" or "jsonl".
	Format string
	// Columns lists the normalised column names in file order (CSV) or in order
	// of first appearance (JSONL).
	Columns []string
	// Rows holds the records in file order.
	Rows []Row
	// Hash is the hex SHA-256 of the file's bytes.
	Hash string
}

// FieldError reports a problem at a place in a dataset file.
type FieldError struct {
	File  string
	Line  int // 1-based; 0 when unknown
	Col   int // 1-based; 0 when unknown
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *FieldError) Unwrap() error { return e.Err }

// ErrEmpty is returned for a dataset with no records.
var ErrEmpty = errors.New("dataset has no rows")

// Load reads the dataset at path, choosing the format by extension: .csv (or
// .tsv, tab-separated) and .jsonl (or .ndjson). The file is streamed, not
// read whole; opts give its encoding and the largest cell accepted.
func Load(path string, opts Options) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &FieldError{File: path, Err: errors.New("dataset file not found")}
		}
		return nil, &FieldError{File: path, Err: err}
	}
	defer f.Close()
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return ReadCSV(path, f, ',', opts)
	case ".tsv":
		return ReadCSV(path, f, '\t', opts)
	case ".jsonl", ".ndjson":
		return ReadJSONL(path, f, opts)
	default:
		return nil, &FieldError{File: path, Err: fmt.Errorf("unknown dataset format %q (use .csv, .tsv or .jsonl)", filepath.Ext(path))}
	}
}

// NormalizeName turns a column header into the key used for template variables:
// lower case, trimmed, with runs of spaces, dashes and dots replaced by one
// underscore. "Question" → "question", " Expected Answer " → "expected_answer".
func NormalizeName(s string) string {
	s = strings.TrimSpace(strings.TrimPrefix(s, "\ufeff"))
	var b strings.Builder
	pendingSep := false
	for _, r := range s {
		if unicode.IsSpace(r) || r == '-' || r == '.' || r == '_' {
			pendingSep = b.Len() > 0
			continue
		}
		if pendingSep {
			b.WriteByte('_')
			pendingSep = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// assignIDs sets Row.ID for every row: the "id" column when present (which
// must then be non-empty, and unique unless repeated is set), else a content
// hash.
func assignIDs(ds *Dataset, repeated bool, idLines func(i int) (line, col int)) error {
	hasID := false
	for _, c := range ds.Columns {
		if c == "id" {
			hasID = true
		}
	}
	seen := make(map[string]int, len(ds.Rows))
	for i := range ds.Rows {
		r := &ds.Rows[i]
		if hasID {
			id := strings.TrimSpace(r.Vars["id"])
			line, col := idLines(i)
			if id == "" {
				return &FieldError{File: ds.Path, Line: line, Col: col, Field: "id", Err: errors.New("empty id")}
			}
			if prev, dup := seen[id]; dup && !repeated {
				return &FieldError{File: ds.Path, Line: line, Col: col, Field: "id", Err: fmt.Errorf("duplicate id %q (first on line %d)", id, prev)}
			}
			seen[id] = r.Line
			r.ID = id
			continue
		}
		base := contentHash(ds.Columns, r.Vars)
		id := base
		for n := 2; ; n++ {
			if _, dup := seen[id]; !dup {
				break
			}
			id = fmt.Sprintf("%s-%d", base, n)
		}
		seen[id] = r.Line
		r.ID = id
	}
	return nil
}

func contentHash(cols []string, vars map[string]string) string {
	h := sha256.New()
	keys := append([]string(nil), cols...)
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := vars[k]
		if !ok {
			continue
		}
		io.WriteString(h, k)
		h.Write([]byte{0})
		io.WriteString(h, v)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
