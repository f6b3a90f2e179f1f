package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/evalctl/evalctl/llm/sim"
)

// result is what one evalctl invocation did.
type result struct {
	code           int
	stdout, stderr string
}

// run executes the real command tree in-process with the given environment
// (nothing is inherited from the test process). ctx, when set, is the root
// context (cancel it to simulate Ctrl-C).
func run(t *testing.T, ctx context.Context, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb lockedBuffer
	if ctx == nil {
		ctx = context.Background()
	}
	sys := &IO{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Getwd:     os.Getwd,
		Context:   func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) },
		Args:      args,
	}
	code := Main(sys)
	return result{code, out.String(), errb.String()}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers: a tool
// server's stderr is relayed to evalctl's from its own goroutine, as
// os.Stderr takes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// project writes a small evalctl project into a temp dir and returns its config path.
func project(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	base := map[string]string{
		"questions.csv":       "Category,Question,Weight,Expectations\nDefinition,What is computer science?,1,\"should mention \"\"algorithms\"\"\"\nGit,What is a commit?,2,\n",
		"prompts/system.txt":  "You are a university professor.",
		"prompts/basic.txt":   "Category: {category}\nQuestion: {question}\nDifficulty: {weight}/4",
		"prompts/concise.txt": "Question: {question}\nAnswer the question above.",
		"evalctl.yaml": `dataset: questions.csv
prompts:
  dir: prompts
models: [sim:a, sim:b]
judge: sim:judge
scorers:
  - name: english
    type: guidelines
    guidelines: The answer should be in English.
  - name: relevance_to_query
    type: relevance_to_query
  - name: enough_words
    type: word_count
    min: 11
  - name: correctness
    type: guidelines
    column: expectations
`,
	}
	for k, v := range files {
		base[k] = v
	}
	for name, content := range base {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "evalctl.yaml")
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestRunOnSimulator(t *testing.T) {
	cfg := project(t, nil)
	out := filepath.Join(t.TempDir(), "out")
	r := run(t, nil, nil, "run", "--config", cfg, "--out", out, "-j", "4")
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"basic@", "concise@", "sim:a", "sim:b", "english", "8 of 8 cells", "sim:* models are the built-in simulator"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "complete: 8 of 8 cells") {
		t.Errorf("stderr: %s", r.stderr)
	}
	answers := readCSV(t, filepath.Join(out, "answers.csv"))
	if len(answers) != 1+8 {
		t.Fatalf("answers.csv has %d records", len(answers))
	}
	head := strings.Join(answers[0], ",")
	if !strings.HasPrefix(head, "row_id,line,prompt,prompt_version,model,repeat,system,input,answer") || !strings.HasSuffix(head, "data_category,data_question,data_weight,data_expectations") {
		t.Errorf("answers header %s", head)
	}
	feedback := readCSV(t, filepath.Join(out, "feedback.csv"))
	if len(feedback) != 1+8*4 {
		t.Fatalf("feedback.csv has %d records", len(feedback))
	}
	skipped := 0
	for _, rec := range feedback[1:] {
		if rec[5] == "correctness" && rec[9] == "true" {
			skipped++
		}
	}
	if skipped != 4 { // the Git row has no expectations
		t.Errorf("correctness skipped %d times, want 4", skipped)
	}
}

func TestExitCodeTwoBeforeAnyCall(t *testing.T) {
	// A vendor that counts calls: none may arrive.
	vendor, err := sim.Start("127.0.0.1:0", sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer vendor.Close()
	env := map[string]string{"OPENAI_BASE_URL": vendor.URL}
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		env   map[string]string
		want  string
	}{
		{name: "missing dataset", files: map[string]string{"evalctl.yaml": "dataset: nope.csv\nmodels: [openai:x]\n"},
			want: "nope.csv: dataset file not found"},
		{name: "unterminated quote", files: map[string]string{"questions.csv": "Category,Question,Weight,Expectations\nGit,\"open,1,\nGit,b,2,\n"},
			want: "questions.csv:2: extraneous or missing \" in quoted-field"},
		{name: "template with {missing}", files: map[string]string{"prompts/basic.txt": "Q: {question}\nNote: {missing}"},
			want: `basic.txt:2:7: template "basic" uses {missing} but the dataset has no such column (columns: category, question, weight, expectations)`},
		{name: "unknown provider", args: []string{"--models", "opnai:gpt-4.1-mini"},
			want: `model opnai:gpt-4.1-mini: unknown provider "opnai" (known: azure, ollama, openai, sim;`},
		{name: "unknown scorer type", files: map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:x]\nscorers:\n  - name: w\n    type: wordcount\n    min: 3\n"},
			want: `evalctl.yaml:4: scorer "w": unknown scorer type "wordcount"`},
		{name: "misspelt key", files: map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:x]\nconcurency: 4\n"},
			want: `evalctl.yaml:3: unknown key "concurency" (known here:`},
		{name: "misspelt scorer setting", files: map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:x]\nscorers:\n  - name: w\n    type: word_count\n    mni: 3\n"},
			want: `evalctl.yaml:6: scorer "w": unknown key "mni" (known here: max, min)`},
		{name: "-j 0", args: []string{"-j", "0"}, want: "-j/--concurrency must be at least 1 (got 0)"},
		{name: "no API key", args: []string{"--models", "openai:gpt-4.1-mini"}, env: map[string]string{},
			want: "model openai:gpt-4.1-mini: no API key: OPENAI_API_KEY is not set — set OPENAI_API_KEY, or OPENAI_BASE_URL"},
		{name: "unknown prompt", args: []string{"--prompts", "basic,academic"}, want: `prompt "academic" not found`},
		{name: "bad model ref", args: []string{"--models", "gpt-4"}, want: `model "gpt-4": want provider:model`},
		{name: "judge scorer without judge", files: map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:x]\nscorers:\n  - name: e\n    type: guidelines\n    guidelines: Be brief.\n"},
			want: `scorer "e": is an LLM judge: set a judge model`},
		{name: "unknown flag", args: []string{"--modles", "x"}, want: "unknown flag: --modles"},
		{name: "NaN temperature", files: map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels:\n  - model: openai:x\n    temperature: .nan\n"},
			want: "evalctl.yaml:4: model openai:x: temperature: NaN is not between 0 and 2"},
		{name: "judge top_p over 1", files: map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:x]\njudge:\n  model: openai:j\n  top_p: 1.5\n"},
			want: "evalctl.yaml:5: model openai:j: top_p: 1.5 is not between 0 and 1"},
		{name: "a scorer's judge temperature", files: map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:x]\njudge: openai:j\nscorers:\n  - name: e\n    type: guidelines\n    guidelines: Be brief.\n    temperature: .inf\n"},
			want: `evalctl.yaml:5: scorer "e": temperature: +Inf is not between 0 and 2`},
		{name: "--fail-under over 1", args: []string{"--fail-under", "english=1.5"},
			want: `--fail-under "english=1.5": MIN 1.5 is not between 0 and 1`},
		{name: "--max-drop over 1", args: []string{"--max-drop", "overall=5"}, want: `--max-drop "overall=5": DROP 5 is not between 0 and 1`},
		{name: "--max-cost NaN", args: []string{"--max-cost", "NaN"}, want: "--max-cost must be a cost in USD, 0 or more (got NaN)"},
		{name: "--max-error-rate NaN", args: []string{"--max-error-rate", "NaN"}, want: "--max-error-rate must be between 0 and 1 (got NaN)"},
		{name: "gate min over 1 in the config", files: map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:x]\ngates:\n  - {scorer: english, min: 1.5}\n"},
			want: "evalctl.yaml:4: gates: min 1.5 is not between 0 and 1"},
		{name: "gate max_error_rate NaN in the config", files: map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:x]\ngates:\n  - max_error_rate: .nan\n"},
			want: "evalctl.yaml:4: gates: max_error_rate NaN is not between 0 and 1"},
		{name: "dataset not UTF-8", files: map[string]string{"questions.csv": "Category,Question,Weight,Expectations\nDefinition,What is computer science?,1,\nGit,What is a caf\xe9?,2,\n"},
			want: "questions.csv:3:18: invalid UTF-8 (the column counts bytes): save the file as UTF-8, or declare its encoding with dataset_encoding: in evalctl.yaml"},
		{name: "JSONL dataset not UTF-8", files: map[string]string{"questions.jsonl": "{\"question\": \"na\xefve?\", \"category\": \"x\", \"weight\": 1}\n",
			"evalctl.yaml": "dataset: questions.jsonl\nmodels: [openai:x]\nprompts: {use: [concise]}\n"},
			want: "questions.jsonl:1:17: invalid UTF-8"},
		{name: "unknown dataset_encoding", files: map[string]string{"evalctl.yaml": "dataset: questions.csv\ndataset_encoding: klingon\nmodels: [openai:x]\n"},
			want: `evalctl.yaml:2: dataset_encoding: unknown encoding "klingon"`},
		{name: "a 10 MB cell", files: map[string]string{"questions.csv": "Category,Question,Weight,Expectations\nGit," + strings.Repeat("q", 10<<20) + ",1,\n"},
			want: `questions.csv:2:5: field "Question": cell is 10485760 bytes, over max_cell_bytes 1048576 (raise max_cell_bytes in evalctl.yaml`},
		{name: "a cell over max_cell_bytes", files: map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:x]\nmax_cell_bytes: 20\n"},
			want: `questions.csv:2:12: field "Question": cell is 25 bytes, over max_cell_bytes 20`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := project(t, tc.files)
			e := env
			if tc.env != nil {
				e = tc.env
			}
			args := append([]string{"run", "--config", cfg}, tc.args...)
			r := run(t, nil, e, args...)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "evalctl: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr = %q\nwant one line containing %q", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q", r.stdout)
			}
		})
	}
	if n := vendor.Stats().Requests; n != 0 {
		t.Errorf("the vendor saw %d requests; bad input must be rejected before any call", n)
	}
}

// A dataset in a declared encoding is decoded: the reports hold its text as
// UTF-8. Without the declaration the same file is refused (see
// TestExitCodeTwoBeforeAnyCall).
func TestDatasetEncoding(t *testing.T) {
	cfg := project(t, map[string]string{
		"questions.csv":     "Question\nQu'est-ce qu'un caf\xe9 cr\xe8me?\n",
		"prompts/basic.txt": "Question: {question}",
		"evalctl.yaml":      "dataset: questions.csv\ndataset_encoding: windows-1252\nprompts: {use: [basic], system: ''}\nmodels: [sim:a]\n",
	})
	out := t.TempDir()
	r := run(t, nil, nil, "run", "--config", cfg, "--out", out)
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "answers.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(b) || !strings.Contains(string(b), "Qu'est-ce qu'un café crème?") {
		t.Errorf("answers.csv is not the decoded text in UTF-8:\n%q", b)
	}
}

// Dataset text that a spreadsheet would run is neutralised in every CSV file
// evalctl writes, unless --csv-raw asks for the raw text (run --out, report).
func TestCSVFormulasNeutralised(t *testing.T) {
	formula := `=HYPERLINK("http://x","y")`
	cfg := project(t, map[string]string{
		"questions.csv":     "id,question\n@q1,\"" + strings.ReplaceAll(formula, `"`, `""`) + "\"\n",
		"prompts/basic.txt": "Question: {question}",
		"evalctl.yaml":      "dataset: questions.csv\nprompts: {use: [basic], system: ''}\nmodels: [sim:a]\nscorers:\n  - {name: short, type: word_count, max: 1000}\n",
	})
	cell := func(path, column string) string {
		t.Helper()
		recs := readCSV(t, path)
		for i, h := range recs[0] {
			if h == column {
				return recs[1][i]
			}
		}
		t.Fatalf("%s has no column %s: %v", path, column, recs[0])
		return ""
	}
	safe, raw := t.TempDir(), t.TempDir()
	if r := run(t, nil, nil, "run", "--config", cfg, "--out", safe); r.code != ExitOK {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	if r := run(t, nil, nil, "run", "--config", cfg, "--out", raw, "--csv-raw"); r.code != ExitOK {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	for _, c := range []struct{ file, column, want string }{
		{"answers.csv", "data_question", formula}, {"answers.csv", "row_id", "@q1"},
		{"feedback.csv", "row_id", "@q1"}, {"scores.csv", "row_id", "@q1"},
	} {
		if got := cell(filepath.Join(safe, c.file), c.column); got != "'"+c.want {
			t.Errorf("%s %s = %q, want it neutralised", c.file, c.column, got)
		}
		if got := cell(filepath.Join(raw, c.file), c.column); got != c.want {
			t.Errorf("--csv-raw: %s %s = %q, want %q", c.file, c.column, got, c.want)
		}
	}
	for _, format := range []string{"csv", "csv-wide"} {
		out := filepath.Join(t.TempDir(), "r.csv")
		if r := run(t, nil, nil, "report", "last", "--config", cfg, "--format", format, "-o", out); r.code != ExitOK || cell(out, "row_id") != "'@q1" {
			t.Errorf("report --format %s: exit %d %s", format, r.code, r.stderr)
		}
		if r := run(t, nil, nil, "report", "last", "--config", cfg, "--format", format, "-o", out, "--csv-raw"); r.code != ExitOK || cell(out, "row_id") != "@q1" {
			t.Errorf("report --format %s --csv-raw: exit %d %s", format, r.code, r.stderr)
		}
	}
	if r := run(t, nil, nil, "report", "last", "--config", cfg, "--format", "json", "--csv-raw"); r.code != ExitUsage || !strings.Contains(r.stderr, "--csv-raw applies to the CSV formats") {
		t.Errorf("--csv-raw with json: exit %d %s", r.code, r.stderr)
	}
	if r := run(t, nil, nil, "run", "--help"); !strings.Contains(r.stdout, "--csv-raw") || !strings.Contains(r.stdout, "OWASP") {
		t.Errorf("run --help lacks --csv-raw:\n%s", r.stdout)
	}
}

func TestFaultyVendorErrorsCountedApart(t *testing.T) {
	vendor, err := sim.Start("127.0.0.1:0", sim.Options{FailRate: 0.10, RateLimitRate: 0.10, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer vendor.Close()
	cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
models: [openai:gpt-4.1-mini, openai:gpt-5-mini]
judge: openai:judge
scorers:
  - {name: english, type: guidelines, guidelines: The answer should be in English.}
providers:
  openai:
    max_attempts: 2
    retry_base_delay: 1ms
`})
	out := t.TempDir()
	r := run(t, nil, map[string]string{"OPENAI_BASE_URL": vendor.URL}, "run", "--config", cfg, "--out", out, "--max-error-rate", "1")
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	st := vendor.Stats()
	if st.Status[500] == 0 || st.Status[429] == 0 {
		t.Fatalf("no faults injected: %+v", st)
	}
	for _, rec := range readCSV(t, filepath.Join(out, "answers.csv"))[1:] {
		answer, kind := rec[8], rec[14]
		if kind != "" && answer != "" {
			t.Errorf("an errored cell has an answer: %q", rec)
		}
		if strings.HasPrefix(answer, "Error") {
			t.Errorf("error text became an answer: %q", answer)
		}
	}
}

func TestErrorRateAboveLimitExitsThree(t *testing.T) {
	vendor, _ := sim.Start("127.0.0.1:0", sim.Options{FailRate: 1})
	defer vendor.Close()
	cfg := project(t, map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:m]\nproviders:\n  openai:\n    max_attempts: 1\n"})
	r := run(t, nil, map[string]string{"OPENAI_BASE_URL": vendor.URL}, "run", "--config", cfg)
	if r.code != ExitIncomplete || !strings.Contains(r.stderr, "4 of 4 generation calls failed (100.0%), above max_error_rate 5.0%") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "4 generation errors") {
		t.Errorf("table does not count the errors: %s", r.stdout)
	}
}

func TestSecretsNeverWritten(t *testing.T) {
	const key = "sk-evalctl-FAKE-0123456789abcdef"
	for _, tc := range []struct {
		name      string
		serverKey string
		wantCode  int
	}{
		{"accepted key", key, ExitOK},
		{"rejected key echoed by the vendor", "sk-other-key-000000000", ExitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vendor, _ := sim.Start("127.0.0.1:0", sim.Options{APIKey: tc.serverKey})
			defer vendor.Close()
			cfg := project(t, map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:m]\njudge: openai:j\nscorers:\n  - {name: english, type: guidelines, guidelines: English.}\n"})
			out := t.TempDir()
			r := run(t, nil, map[string]string{"OPENAI_API_KEY": key, "OPENAI_BASE_URL": vendor.URL}, "run", "--config", cfg, "--out", out)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			if tc.wantCode == ExitUsage && !strings.Contains(r.stderr, "Incorrect API key provided: [REDACTED]") {
				t.Errorf("stderr: %s", r.stderr)
			}
			texts := map[string]string{"stdout": r.stdout, "stderr": r.stderr}
			filepath.WalkDir(filepath.Dir(cfg), func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					b, _ := os.ReadFile(p)
					texts[p] = string(b)
				}
				return nil
			})
			filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					b, _ := os.ReadFile(p)
					texts[p] = string(b)
				}
				return nil
			})
			for where, text := range texts {
				if strings.Contains(text, key) || strings.Contains(text, "FAKE-0123456789") {
					t.Errorf("the API key appears in %s", where)
				}
			}
		})
	}
}

// echoKey is a vendor in front of the simulator that puts the API key it
// was sent into every 200 answer, and into the rationale of every verdict.
func echoKey(t *testing.T, key string) *httptest.Server {
	t.Helper()
	vendor := sim.New(sim.Options{APIKey: key})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		vendor.ServeHTTP(rec, r)
		var body map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		sent := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		msg := body["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
		content := msg["content"].(string)
		var verdict map[string]any
		if json.Unmarshal([]byte(content), &verdict) == nil {
			verdict["rationale"] = fmt.Sprintf("%v (checked with key %s)", verdict["rationale"], sent)
			b, _ := json.Marshal(verdict)
			content = string(b)
		} else {
			content += "\n\nDebug: request authorised with " + sent
		}
		msg["content"] = content
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// An API key echoed inside normal answers and verdicts is redacted before
// anything keeps it: the store file, every report of --out, the output.
func TestKeyEchoedInAnswersIsNeverWritten(t *testing.T) {
	const key = "sk-evalctl-ECHO-0123456789abcdef"
	srv := echoKey(t, key)
	cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
models: [openai:m]
judge: openai:j
scorers:
  - {name: english, type: guidelines, guidelines: The answer should be in English.}
  - {name: two_judges, type: relevance_to_query, judges: [openai:j, openai:k]}
`})
	out := t.TempDir()
	r := run(t, nil, map[string]string{"OPENAI_API_KEY": key, "OPENAI_BASE_URL": srv.URL + "/v1"}, "run", "--config", cfg, "--out", out, "--csv-raw")
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	files := map[string][]byte{"stdout": []byte(r.stdout), "stderr": []byte(r.stderr)}
	for _, dir := range []string{filepath.Dir(cfg), out} {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files[p], _ = os.ReadFile(p)
			}
			return nil
		})
	}
	// The HTML report keeps its data compressed: read it as the page does.
	html := string(files[filepath.Join(out, "report.html")])
	start := strings.Index(html, `id="evalctl-data">`) + len(`id="evalctl-data">`)
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(html[start : start+strings.Index(html[start:], "</script>")]))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	files["report.html data"], _ = io.ReadAll(zr)
	for _, want := range []string{"store", "answers.csv", "feedback.csv", "report.json", "report.html data"} {
		found := false
		for name := range files {
			found = found || strings.HasSuffix(name, want) || (want == "store" && strings.HasSuffix(name, "evalctl.db"))
		}
		if !found {
			t.Errorf("no %s was written", want)
		}
	}
	for name, b := range files {
		if bytes.Contains(b, []byte(key)) || bytes.Contains(b, []byte("ECHO-0123456789")) {
			t.Errorf("the API key appears in %s", name)
		}
	}
	// The echoes were there, and were redacted: answers, rationales and the
	// raw replies of every judge.
	answers := readCSV(t, filepath.Join(out, "answers.csv"))
	for _, rec := range answers[1:] {
		if !strings.HasSuffix(rec[8], "Debug: request authorised with [REDACTED]") {
			t.Errorf("answer %q: the echo is not redacted in place", rec[8])
		}
	}
	feedback := readCSV(t, filepath.Join(out, "feedback.csv"))
	for _, rec := range feedback[1:] {
		rationale, raw := rec[11], rec[16]
		if rec[5] == "english" && (!strings.Contains(rationale, "(checked with key [REDACTED])") || !strings.Contains(raw, "[REDACTED]")) {
			t.Errorf("english verdict: rationale %q, raw %q", rationale, raw)
		}
		if rec[7] == "" || rec[10] != "" {
			t.Errorf("%s: a redacted verdict still decides (pass %q, error %q)", rec[5], rec[7], rec[10])
		}
	}
	if !bytes.Contains(files["report.html data"], []byte("(checked with key [REDACTED])")) {
		t.Error("the HTML data lacks the redacted rationales")
	}
}

func TestInterruptExits130AndKeepsWhatIsDone(t *testing.T) {
	vendor, _ := sim.Start("127.0.0.1:0", sim.Options{Latency: 20 * time.Millisecond})
	defer vendor.Close()
	var rows strings.Builder
	rows.WriteString("question\n")
	for i := range 200 {
		rows.WriteString("What is item " + string(rune('a'+i%26)) + strings.Repeat("x", i) + "?\n")
	}
	cfg := project(t, map[string]string{
		"questions.csv":     rows.String(),
		"prompts/basic.txt": "Question: {question}",
		"evalctl.yaml":      "dataset: questions.csv\nprompts: {use: [basic], system: ''}\nmodels: [openai:m]\n",
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for vendor.Stats().Requests < 20 {
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
	}()
	out := t.TempDir()
	r := run(t, ctx, map[string]string{"OPENAI_BASE_URL": vendor.URL}, "run", "--config", cfg, "--out", out, "-j", "2")
	if r.code != ExitInterrupted || !strings.Contains(r.stderr, "interrupted:") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	answers := readCSV(t, filepath.Join(out, "answers.csv"))
	if n := len(answers) - 1; n < 10 || n >= 200 {
		t.Errorf("answers.csv holds %d cells", n)
	}
	for _, rec := range answers[1:] {
		if rec[8] == "" {
			t.Errorf("interrupted cell written: %q", rec)
		}
	}
}

func TestSelfPreferenceWarning(t *testing.T) {
	cfg := project(t, nil)
	r := run(t, nil, nil, "run", "--config", cfg, "--models", "sim:a", "--judge", "sim:a", "--limit", "1")
	if r.code != ExitOK || !strings.Contains(r.stderr, "warning: the judge sim:a is also a model under test") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	// A scorer's own judges count too.
	cfg = project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
models: [sim:a, sim:b]
scorers:
  - {name: english, type: guidelines, guidelines: The answer should be in English., judges: [sim:judge, sim:b]}
`})
	r = run(t, nil, nil, "run", "--config", cfg, "--limit", "1")
	if r.code != ExitOK || !strings.Contains(r.stderr, "warning: the judge sim:b is also a model under test") || strings.Contains(r.stderr, "judge sim:a") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}

func TestFlagsOverrideConfig(t *testing.T) {
	cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
models:
  - model: sim:a
    max_tokens: 5
limit: 2
`})
	r := run(t, nil, nil, "run", "--config", cfg, "--models", "sim:a,sim:c", "--prompts", "concise", "--limit", "1")
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "1 rows × 1 prompts × 2 models = 2 cells") {
		t.Errorf("stderr %s", r.stderr)
	}
}

func TestVersionAndHelp(t *testing.T) {
	r := run(t, nil, nil, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "evalctl ") {
		t.Errorf("%+v", r)
	}
	r = run(t, nil, nil, "run", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Exit codes:") || !strings.Contains(r.stdout, "130") {
		t.Errorf("help lacks exit codes: %s", r.stdout)
	}
	r = run(t, nil, nil, "bogus")
	if r.code != ExitUsage || !strings.Contains(r.stderr, `unknown command "bogus"`) {
		t.Errorf("%+v", r)
	}
}

// Ollama needs no key, and nothing is redacted from its messages.
func TestOllamaProvider(t *testing.T) {
	vendor, _ := sim.Start("127.0.0.1:0", sim.Options{Models: []string{"llama3.2"}})
	defer vendor.Close()
	host := strings.TrimSuffix(strings.TrimPrefix(vendor.URL, "http://"), "/v1")
	cfg := project(t, map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [ollama:llama3.2]\n"})
	if r := run(t, nil, map[string]string{"OLLAMA_HOST": host}, "run", "--config", cfg); r.code != 0 {
		t.Fatalf("%d %s", r.code, r.stderr)
	}
	r := run(t, nil, map[string]string{"OLLAMA_HOST": host}, "run", "--config", cfg, "--models", "ollama:mistral")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "ollama:mistral: not_found (HTTP 404)") || strings.Contains(r.stderr, "REDACTED") {
		t.Errorf("%d %s", r.code, r.stderr)
	}
}

// Per-model limits hold for every use of the model: here at most 2 calls to
// openai:a in flight though -j allows 16 (it is also the judge).
func TestPerModelLimits(t *testing.T) {
	vendor, _ := sim.Start("127.0.0.1:0", sim.Options{Latency: 5 * time.Millisecond})
	defer vendor.Close()
	cfg := project(t, map[string]string{"questions.csv": numberedQuestions(30), "prompts/basic.txt": "Question: {question}", "evalctl.yaml": `dataset: questions.csv
prompts: {dir: prompts, use: [basic, concise], system: ''}
models: [openai:a]
judge: openai:a
scorers:
  - {name: english, type: guidelines, guidelines: The answer should be in English.}
limits:
  openai:a: {max_concurrency: 2, rpm: 60000}
`})
	r := run(t, nil, map[string]string{"OPENAI_BASE_URL": vendor.URL}, "run", "--config", cfg, "-j", "16")
	if r.code != ExitOK {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	st := vendor.Stats()
	if st.MaxInFlight > 2 || st.Requests != 120 {
		t.Errorf("%d requests, at most %d in flight; want 120 and at most 2", st.Requests, st.MaxInFlight)
	}
	bad := project(t, map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [sim:a]\nlimits:\n  nonsense: {rpm: 1}\n"})
	if r := run(t, nil, nil, "run", "--config", bad); r.code != ExitUsage || !strings.Contains(r.stderr, "limits") {
		t.Errorf("bad limits: exit %d %s", r.code, r.stderr)
	}
}

// azure:DEPLOYMENT models, from AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY.
func TestAzureProvider(t *testing.T) {
	const key = "azure-key-0123456789abcdef"
	vendor, _ := sim.Start("127.0.0.1:0", sim.Options{APIKey: key})
	defer vendor.Close()
	cfg := project(t, map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [azure:gpt4o-prod]\nscorers:\n  - {name: enough_words, type: word_count, min: 11}\n"})
	env := map[string]string{"AZURE_OPENAI_ENDPOINT": strings.TrimSuffix(vendor.URL, "/v1"), "AZURE_OPENAI_API_KEY": key}
	r := run(t, nil, env, "run", "--config", cfg)
	if r.code != ExitOK || vendor.Stats().Generation != 4 || strings.Contains(r.stdout+r.stderr, key) {
		t.Fatalf("exit %d, %d answers\n%s%s", r.code, vendor.Stats().Generation, r.stdout, r.stderr)
	}
	r = run(t, nil, map[string]string{"AZURE_OPENAI_API_KEY": key}, "run", "--config", cfg)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "AZURE_OPENAI_ENDPOINT") {
		t.Errorf("no endpoint: exit %d %s", r.code, r.stderr)
	}
	env["AZURE_OPENAI_API_KEY"] = "wrong-key-0123456789"
	r = run(t, nil, env, "run", "--config", cfg, "--no-cache")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "AZURE_OPENAI_API_KEY") || strings.Contains(r.stderr, "wrong-key-0123456789") {
		t.Errorf("wrong key: exit %d %s", r.code, r.stderr)
	}
}
