package datasets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestParseCSV(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		cols    []string
		rows    []map[string]string
		lines   []int
		wantErr string
	}{
		{
			name: "quoted commas, doubled quotes, CRLF and BOM",
			in:   "\ufeffCategory, Question ,Weight\r\nDDD,\"What is the \"\"customer–supplier\"\" pattern, and why?\",2\r\nGit,\"multi\r\nline\",1\r\n",
			cols: []string{"category", "question", "weight"},
			rows: []map[string]string{
				{"category": "DDD", "question": `What is the "customer–supplier" pattern, and why?`, "weight": "2"},
				{"category": "Git", "question": "multi\nline", "weight": "1"},
			},
			lines: []int{2, 3},
		},
		{
			name:  "bytes pass through: U+FFFD (EF BF BD), backticks",
			in:    "q\n\"request\ufffdresponse `x` \xef\xbf\xbd\"\n",
			cols:  []string{"q"},
			rows:  []map[string]string{{"q": "request\ufffdresponse `x` \ufffd"}},
			lines: []int{2},
		},
		{
			name:    "bytes that are not UTF-8 are an error, not U+FFFD",
			in:      "q\n\"request response `x` \xff\"\n",
			wantErr: "t.csv:2:23: " + errNotUTF8.Error(),
		},
		{
			name:    "unterminated quote",
			in:      "a,b\n1,\"open\n2,3\n",
			wantErr: "t.csv:2: extraneous or missing \" in quoted-field (quoted field opened on line 2 is never closed)",
		},
		{
			name:    "ragged row",
			in:      "a,b\n1,2\n3,4,5\n",
			wantErr: "t.csv:3:5: record has 3 fields, header has 2",
		},
		{
			name:    "duplicate normalised column",
			in:      "Question,question\n1,2\n",
			wantErr: `t.csv:1:10: field "question": duplicate column: "Question" and "question" are both "question"`,
		},
		{
			name:    "header only",
			in:      "a,b\n",
			wantErr: "t.csv: dataset has no rows",
		},
		{
			name:    "empty file",
			in:      "",
			wantErr: "t.csv: file is empty (expected a header row)",
		},
		{
			name:    "duplicate id",
			in:      "id,q\nx,1\nx,2\n",
			wantErr: `t.csv:3:1: field "id": duplicate id "x" (first on line 2)`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := ParseCSV("t.csv", []byte(tc.in), ',')
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("want error %q, got none", tc.wantErr)
				}
				if err.Error() != tc.wantErr {
					t.Fatalf("error:\n got %q\nwant %q", err.Error(), tc.wantErr)
				}
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("error is %T, want *FieldError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.cols, ds.Columns); diff != "" {
				t.Errorf("columns (-want +got):\n%s", diff)
			}
			var rows []map[string]string
			var lines []int
			for _, r := range ds.Rows {
				rows = append(rows, r.Vars)
				lines = append(lines, r.Line)
			}
			if diff := cmp.Diff(tc.rows, rows); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.lines, lines); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	ds, err := ParseCSV("t.csv", []byte("q\nsame\nother\nsame\n"), ',')
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := ds.Rows[0].ID, ds.Rows[1].ID, ds.Rows[2].ID
	if a == b || len(a) != 12 || c != a+"-2" {
		t.Errorf("ids = %q %q %q; want distinct content hashes with -2 on the repeat", a, b, c)
	}
	again, _ := ParseCSV("other-name.csv", []byte("q\nsame\nother\nsame\n"), ',')
	if again.Rows[1].ID != b {
		t.Errorf("id not stable across parses: %q vs %q", again.Rows[1].ID, b)
	}
	withID, err := ParseCSV("t.csv", []byte("ID,q\n q7 ,x\n"), ',')
	if err != nil {
		t.Fatal(err)
	}
	if withID.Rows[0].ID != "q7" {
		t.Errorf("id column: got %q want q7", withID.Rows[0].ID)
	}
}

func TestParseJSONL(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		rows    []map[string]string
		wantErr string
	}{
		{
			name: "types and blank lines",
			in:   "{\"Question\":\"a \\\"b\\\"\",\"weight\":4,\"ok\":true,\"n\":null,\"tags\":[1, 2]}\n\n{\"question\":\"c\",\"weight\":0.50}\r\n",
			rows: []map[string]string{
				{"question": `a "b"`, "weight": "4", "ok": "true", "n": "", "tags": "[1,2]"},
				{"question": "c", "weight": "0.50"},
			},
		},
		{name: "not an object", in: "[1,2]\n", wantErr: "t.jsonl:1:1: each line must be a JSON object"},
		{name: "syntax error names line", in: "{\"a\":1}\n{\"a\": tru}\n", wantErr: "t.jsonl:2:"},
		{name: "trailing text", in: "{\"a\":1} x\n", wantErr: "t.jsonl:1:9: unexpected text after the JSON object"},
		{name: "duplicate key", in: "{\"a\":1,\"A\":2}\n", wantErr: `t.jsonl:1:8: field "A": duplicate key (normalised "a")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := ParseJSONL("t.jsonl", []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want prefix %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var rows []map[string]string
			for _, r := range ds.Rows {
				rows = append(rows, r.Vars)
			}
			if diff := cmp.Diff(tc.rows, rows); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadSeedExample(t *testing.T) {
	path := filepath.Join("..", "examples", "se-quiz", "questions.csv")
	if _, err := os.Stat(path); err != nil {
		t.Skip("example not present")
	}
	ds, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Rows) != 384 {
		t.Errorf("rows = %d, want 384", len(ds.Rows))
	}
	want := []string{"category", "question", "weight", "expectations"}
	if diff := cmp.Diff(want, ds.Columns); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	n := 0
	for _, r := range ds.Rows {
		n += strings.Count(r.Vars["question"], "\ufffd")
	}
	if n != 4 {
		t.Errorf("U+FFFD count = %d, want the 4 the source file has", n)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.csv"), Options{})
	if err == nil || !strings.Contains(err.Error(), "nope.csv: dataset file not found") {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "d.xlsx")
	os.WriteFile(p, []byte("x"), 0o644)
	if _, err := Load(p, Options{}); err == nil || !strings.Contains(err.Error(), "unknown dataset format") {
		t.Errorf("unknown ext: %v", err)
	}
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"Question": "question", " Expected  Answer ": "expected_answer", "max-tokens": "max_tokens",
		"\ufeffid": "id", "a__b": "a_b", "": "",
	} {
		if got := NormalizeName(in); got != want {
			t.Errorf("NormalizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n"))
	f.Add([]byte("\ufeffq\n\"x,\"\"y\"\"\"\r\n"))
	f.Add([]byte("a\n\"open\n"))
	f.Add([]byte("q,r\xe9sum\xe9\n\"caf\xe9\nx\"\n"))
	f.Add([]byte("\ufeffq\nok \xef\xbf\xbd \xe2\x82"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := ParseCSV("f.csv", data, ',')
		checkUTF8(t, data, err)
		// Decoded from windows-1252, no byte is invalid; a small cap holds.
		if w, err := ReadCSV("f.csv", bytes.NewReader(data), ',', Options{Encoding: "windows-1252", MaxCellBytes: 8}); err == nil {
			for _, r := range w.Rows {
				for _, v := range r.Vars {
					if len(v) > 8 || !utf8.ValidString(v) {
						t.Fatalf("cell %q passed the cap of 8 or is not UTF-8", v)
					}
				}
			}
		} else if errors.Is(err, errNotUTF8) {
			t.Fatalf("windows-1252 decoded to invalid UTF-8: %v", err)
		}
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FieldError", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range ds.Rows {
			if r.ID == "" || seen[r.ID] {
				t.Fatalf("bad or duplicate id %q", r.ID)
			}
			seen[r.ID] = true
			if len(r.Vars) != len(ds.Columns) {
				t.Fatalf("row has %d vars, %d columns", len(r.Vars), len(ds.Columns))
			}
		}
	})
}

func FuzzParseJSONL(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n{\"a\":\"x\"}\n"))
	f.Add([]byte("{\"a\":[1,{\"b\":null}]}"))
	f.Add([]byte("{\"a\":1}\n{\"q\": \"caf\xe9\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := ParseJSONL("f.jsonl", data)
		checkUTF8(t, data, err)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FieldError", err)
			}
			return
		}
		for _, r := range ds.Rows {
			if r.Line < 1 || r.ID == "" {
				t.Fatalf("row %+v", r)
			}
		}
	})
}

// Bytes that are not UTF-8 are refused at their line and byte column, in
// either format, wherever they are: a header, a quoted field spanning lines,
// past the reader's first buffer, a sequence cut off by the end of the file.
func TestNotUTF8(t *testing.T) {
	long := strings.Repeat("x", 70<<10) // longer than the source's 64 KiB buffer
	tests := []struct {
		name, file, in string
		line, col      int
	}{
		{"latin-1 é after multi-byte text", "t.csv", "q,a\n\"naïve ☃\",caf\xe9\n", 2, 17},
		{"in the header", "t.csv", "q,r\xe9sum\xe9\nx,y\n", 1, 4},
		{"after a BOM (not counted)", "t.csv", "\ufeffq\xff\nx\n", 1, 2},
		{"inside a quoted field on its second line", "t.csv", "q\n\"first line\nsecond \xc3(\"\n", 3, 8},
		{"overlong encoding of '/'", "t.csv", "q\n\xc0\xaf\n", 2, 1},
		{"UTF-16 surrogate", "t.csv", "q\na\xed\xa0\x80\n", 2, 2},
		{"cut off by the end of the file", "t.csv", "q\nend \xe2\x82", 2, 5},
		{"past the first buffer", "t.csv", "q\n" + long + "\n" + long + "\xfe\n", 3, len(long) + 1},
		{"in a JSONL string", "t.jsonl", "{\"q\": \"ok\"}\n{\"q\": \"caf\xe9\"}\n", 2, 11},
		{"in a JSONL key", "t.jsonl", "{\"\xff\": 1}\n", 1, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if strings.HasSuffix(tc.file, ".jsonl") {
				_, err = ParseJSONL(tc.file, []byte(tc.in))
			} else {
				_, err = ParseCSV(tc.file, []byte(tc.in), ',')
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, errNotUTF8) {
				t.Fatalf("error = %v, want invalid UTF-8 as a *FieldError", err)
			}
			if fe.File != tc.file || fe.Line != tc.line || fe.Col != tc.col {
				t.Errorf("at %s:%d:%d, want %s:%d:%d", fe.File, fe.Line, fe.Col, tc.file, tc.line, tc.col)
			}
			if want := fmt.Sprintf("%s:%d:%d: invalid UTF-8", tc.file, tc.line, tc.col); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want prefix %q", err, want)
			}
		})
	}
}

// A cell over the cap is refused with its place and size, the header
// included; a cell exactly at the cap passes.
func TestMaxCellBytes(t *testing.T) {
	big := strings.Repeat("a", DefaultMaxCellBytes+1)
	if _, err := ParseCSV("t.csv", []byte("id,q\n1,"+big+"\n"), ','); err == nil ||
		err.Error() != `t.csv:2:3: field "q": cell is 1048577 bytes, over max_cell_bytes 1048576 (raise max_cell_bytes in evalctl.yaml if the data is meant to be this large)` {
		t.Errorf("default cap, CSV: %v", err)
	}
	if _, err := ParseJSONL("t.jsonl", []byte(`{"id": 1, "q": "`+big+`"}`)); err == nil ||
		!strings.HasPrefix(err.Error(), `t.jsonl:1:11: field "q": cell is 1048577 bytes, over max_cell_bytes 1048576`) {
		t.Errorf("default cap, JSONL: %v", err)
	}
	if _, err := ParseCSV("t.csv", []byte("q\n"+big[1:]+"\n"), ','); err != nil {
		t.Errorf("a cell of exactly max_cell_bytes: %v", err)
	}
	opts := Options{MaxCellBytes: 4}
	tests := []struct{ name, file, in, want string }{
		{"CSV field", "t.csv", "a,b\nabcd,abcde\n", `t.csv:2:6: field "b": cell is 5 bytes, over max_cell_bytes 4`},
		{"quoted CSV field, counted unquoted", "t.csv", "a\n\"ab\"\"c\"\n\"ab\"\"cd\"\n", `t.csv:3:1: field "a": cell is 5 bytes, over max_cell_bytes 4`},
		{"CSV header", "t.csv", "a,bcdef\n1,2\n", `t.csv:1:3: header of column 2: cell is 5 bytes, over max_cell_bytes 4`},
		{"JSONL number", "t.jsonl", "{\"n\": 12345}\n", `t.jsonl:1:2: field "n": cell is 5 bytes, over max_cell_bytes 4`},
		{"JSONL array, as compact JSON", "t.jsonl", "{\"n\": [1, 2, 3]}\n", `t.jsonl:1:2: field "n": cell is 7 bytes, over max_cell_bytes 4`},
		{"counted after decoding", "t.csv", "a\ncaf\xe9\n", `t.csv:2:1: field "a": cell is 5 bytes, over max_cell_bytes 4`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			if tc.name == "counted after decoding" {
				o.Encoding = "latin1" // é is 1 byte in the file, 2 in UTF-8
			}
			var err error
			if strings.HasSuffix(tc.file, ".jsonl") {
				_, err = ReadJSONL(tc.file, strings.NewReader(tc.in), o)
			} else {
				_, err = ReadCSV(tc.file, strings.NewReader(tc.in), ',', o)
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error = %v, want prefix %q", err, tc.want)
			}
		})
	}
}

// A declared encoding is decoded to UTF-8 before parsing; the hash stays the
// file's own bytes; unknown names are refused.
func TestEncoding(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, enc, file string
		data            []byte
		want            string
	}{
		{"latin1", "latin1", "l.csv", []byte("q\ncaf\xe9 cr\xe8me\n"), "café crème"},
		{"ISO-8859-1", "ISO-8859-1", "l.csv", []byte("q\n\xbfqu\xe9?\n"), "¿qué?"},
		{"windows-1252 has the euro and curly quotes", "windows-1252", "w.tsv", []byte("q\n\x80 5 \x93quoted\x94\n"), "€ 5 “quoted”"},
		{"UTF-16LE with a BOM, as Excel writes Unicode text", "utf-16", "u.tsv", []byte("\xff\xfeq\x00\n\x00\xe9\x00t\x00\xe9\x00\n\x00"), "été"},
		{"JSONL in latin1", "latin1", "j.jsonl", []byte("{\"q\": \"na\xefve\"}\n"), "naïve"},
		{"utf-8 declared is validated, U+FFFD kept", "UTF-8", "u.csv", []byte("q\nok \xef\xbf\xbd\n"), "ok \ufffd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.file)
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			ds, err := Load(p, Options{Encoding: tc.enc})
			if err != nil {
				t.Fatal(err)
			}
			if got := ds.Rows[0].Vars["q"]; got != tc.want {
				t.Errorf("q = %q, want %q", got, tc.want)
			}
			if sum := sha256.Sum256(tc.data); ds.Hash != hex.EncodeToString(sum[:]) {
				t.Errorf("hash %s is not the file's", ds.Hash)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "u.csv"), Options{Encoding: "utf-8"}); err != nil {
		t.Error(err)
	}
	os.WriteFile(filepath.Join(dir, "bad.csv"), []byte("q\ncaf\xe9\n"), 0o644)
	if _, err := Load(filepath.Join(dir, "bad.csv"), Options{Encoding: "utf8"}); !errors.Is(err, errNotUTF8) {
		t.Errorf("declared utf8 over latin-1 bytes: %v", err)
	}
	// A byte the declared encoding does not define is an error at its cell,
	// not a silent U+FFFD; a U+FFFD the encoding can decode to is kept.
	for _, tc := range []struct{ enc, file, in, want string }{
		{"windows-1252", "w.csv", "q,r\nok,a\x81b\n", `w.csv:2:4: field "r": holds a byte that windows-1252 does not define (decoding made it U+FFFD): check dataset_encoding in evalctl.yaml`},
		{"windows-1252", "w.csv", "q\x8d\nx\n", `w.csv:1:1: header of column 1: holds a byte that windows-1252 does not define`},
		{"shift_jis", "s.csv", "q\n\x81\xff\n", `s.csv:2:1: field "q": holds a byte that shift_jis does not define`},
		{"windows-1252", "w.jsonl", "{\"q\": \"\x90\"}\n", `w.jsonl:1:2: field "q": holds a byte that windows-1252 does not define`},
		{"windows-1252", "w.jsonl", "{\"\x9d\": 1}\n", `w.jsonl:1:2: a key: holds a byte that windows-1252 does not define`},
	} {
		p := filepath.Join(dir, tc.file)
		os.WriteFile(p, []byte(tc.in), 0o644)
		if _, err := Load(p, Options{Encoding: tc.enc}); err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, tc.want)) {
			t.Errorf("%s %q: %v, want %q", tc.enc, tc.in, err, tc.want)
		}
	}
	os.WriteFile(filepath.Join(dir, "u16.csv"), []byte("\xff\xfeq\x00\n\x00\xfd\xff\n\x00"), 0o644)
	if ds, err := Load(filepath.Join(dir, "u16.csv"), Options{Encoding: "utf-16"}); err != nil || ds.Rows[0].Vars["q"] != "\ufffd" {
		t.Errorf("a U+FFFD written in UTF-16: %v", err)
	}
	for _, bad := range []string{"latin-9000", "klingon", "ebcdic-xx"} {
		err := CheckEncoding(bad)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("unknown encoding %q (use utf-8, or an IANA charset name", bad)) {
			t.Errorf("CheckEncoding(%q) = %v", bad, err)
		}
		if _, err := Load(filepath.Join(dir, "u.csv"), Options{Encoding: bad}); err == nil {
			t.Errorf("Load with encoding %q: no error", bad)
		}
	}
}

// Load streams the file: the hash is of every byte, also past the buffers,
// and rows are exactly what ParseCSV makes of the same bytes.
func TestLoadStreamsLikeParse(t *testing.T) {
	var b strings.Builder
	b.WriteString("\ufeffid,q\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "%d,\"row %d: naïve ☃ \"\"quoted\"\"\nsecond line \ufffd\"\n", i, i)
	}
	p := filepath.Join(t.TempDir(), "big.csv")
	os.WriteFile(p, []byte(b.String()), 0o644)
	got, err := Load(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseCSV(p, []byte(b.String()), ',')
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load and ParseCSV differ (-parse +load):\n%s", diff)
	}
	sum := sha256.Sum256([]byte(b.String()))
	if got.Hash != hex.EncodeToString(sum[:]) || len(got.Rows) != 5000 || got.Rows[4999].Line != 2+2*4999 {
		t.Errorf("hash %s, %d rows, last on line %d", got.Hash, len(got.Rows), got.Rows[len(got.Rows)-1].Line)
	}
}

// firstInvalid returns the offset of the first byte of data that does not
// start a valid UTF-8 sequence, or -1.
func firstInvalid(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// offsetOf turns a 1-based line and byte column into an offset in data.
func offsetOf(data []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return -1
		}
		off += i + 1
	}
	return off + col - 1
}

// checkUTF8 is the fuzzers' invariant: a parse succeeds only on UTF-8, and
// an invalid-UTF-8 error points at the first invalid byte.
func checkUTF8(t *testing.T, data []byte, err error) {
	t.Helper()
	body := bytes.TrimPrefix(data, []byte("\ufeff"))
	if err == nil {
		if !utf8.Valid(body) {
			t.Fatalf("parsed bytes that are not UTF-8: %q", data)
		}
		return
	}
	var fe *FieldError
	if errors.Is(err, errNotUTF8) && errors.As(err, &fe) {
		if got, want := offsetOf(body, fe.Line, fe.Col), firstInvalid(body); got != want {
			t.Fatalf("%v: points at offset %d, the first invalid byte is at %d (%q)", err, got, want, data)
		}
	}
}
