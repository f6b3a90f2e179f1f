package datasets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
			name:  "bytes pass through: U+FFFD, backticks, invalid UTF-8",
			in:    "q\n\"request\ufffdresponse `x` \xff\"\n",
			cols:  []string{"q"},
			rows:  []map[string]string{{"q": "request\ufffdresponse `x` \xff"}},
			lines: []int{2},
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
	ds, err := Load(path)
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
	_, err := Load(filepath.Join(t.TempDir(), "nope.csv"))
	if err == nil || !strings.Contains(err.Error(), "nope.csv: dataset file not found") {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "d.xlsx")
	os.WriteFile(p, []byte("x"), 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "unknown dataset format") {
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
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := ParseCSV("f.csv", data, ',')
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
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := ParseJSONL("f.jsonl", data)
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
