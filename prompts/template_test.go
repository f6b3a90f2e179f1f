package prompts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRender(t *testing.T) {
	tests := []struct {
		name, text string
		vars       map[string]string
		want       string
		wantErr    string
	}{
		{name: "plain", text: "Q: {question}\nW: {Weight}/4", vars: map[string]string{"question": "What?", "weight": "2"}, want: "Q: What?\nW: 2/4"},
		{name: "escapes", text: `{{"json": "{question}"}}`, vars: map[string]string{"question": "x"}, want: `{"json": "x"}`},
		{name: "value with braces is not re-expanded", text: "{q}", vars: map[string]string{"q": "{q} }} {{"}, want: "{q} }} {{"},
		{name: "repeated", text: "{a}{a}", vars: map[string]string{"a": "z"}, want: "zz"},
		{name: "single close", text: "a\nb } c", wantErr: "t.txt:2:3: single '}'"},
		{name: "unclosed", text: "x {question", wantErr: "t.txt:1:3: '{' is never closed"},
		{name: "positional", text: "{}", wantErr: "t.txt:1:1: placeholder {}: positional"},
		{name: "numbered", text: "{0}", wantErr: "placeholder {0}: positional"},
		{name: "format spec", text: "é {x:>10}", wantErr: "t.txt:1:3: placeholder {x:>10}: format specs"},
		{name: "attribute", text: "{x.y}", wantErr: "attribute and index access"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := Parse("t", "t.txt", tc.text)
			if tc.wantErr != "" {
				var se *SyntaxError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &se) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.Render(tc.vars)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q want %q", got, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tpl, _ := Parse("basic", "prompts/basic.txt", "C: {category}\nQ: {question} {missing} {missing}")
	err := tpl.Check([]string{"category", "question", "weight"})
	want := `prompts/basic.txt:2:15: template "basic" uses {missing} but the dataset has no such column (columns: category, question, weight)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if err := tpl.Check([]string{"category", "question", "missing"}); err != nil {
		t.Fatal(err)
	}
}

func TestVersion(t *testing.T) {
	a, _ := Parse("a", "", "hello {x}")
	b, _ := Parse("b", "", "hello {x}")
	c, _ := Parse("a", "", "hello {x}!")
	if a.Version != b.Version || a.Version == c.Version || len(a.Version) != 8 {
		t.Errorf("versions %s %s %s", a.Version, b.Version, c.Version)
	}
	if a.Ref() != "a@"+a.Version {
		t.Error(a.Ref())
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "basic.txt"), []byte("{question}"), 0o644)
	os.WriteFile(filepath.Join(dir, "system.txt"), []byte("You are a professor."), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.md"), []byte("ignored"), 0o644)
	s, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Names(), ","); got != "basic,system" {
		t.Errorf("names = %s", got)
	}
	if _, err := s.Get("academic"); err == nil || !strings.Contains(err.Error(), "have: basic, system") {
		t.Errorf("Get: %v", err)
	}
	if _, err := LoadDir(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "prompts directory not found") {
		t.Errorf("LoadDir missing: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("Category: {category}\n{{x}}")
	f.Add("}{")
	f.Fuzz(func(t *testing.T, text string) {
		tpl, err := Parse("f", "f.txt", text)
		if err != nil {
			return
		}
		vars := map[string]string{}
		for _, k := range tpl.Keys() {
			vars[k] = "V"
		}
		out, err := tpl.Render(vars)
		if err != nil {
			t.Fatal(err)
		}
		if len(tpl.Placeholders) == 0 {
			// With no placeholders, rendering only undoes the escapes.
			want := strings.ReplaceAll(strings.ReplaceAll(text, "{{", "{"), "}}", "}")
			if out != want {
				t.Fatalf("render %q = %q, want %q", text, out, want)
			}
		}
	})
}

func BenchmarkRender(b *testing.B) {
	tpl, _ := Parse("academic", "", "Category: {category}\n\nDifficulty: {weight}/4 (higher means more complex)\n\nQuestion: {question}\n\nInstructions:\n- Provide a rigorous, academically sound answer\n\nYour answer:")
	vars := map[string]string{"category": "DDD", "weight": "3", "question": `In the context of domain driven design, what is the "Command–Query Responsibility Segregation" pattern about?`}
	b.ReportAllocs()
	for b.Loop() {
		tpl.Render(vars)
	}
}
