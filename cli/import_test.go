package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/eval"
)

// writeFiles writes files into a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Answers recorded elsewhere become a run that evalctl score judges with
// the config's scorers (a Go scorer and an LLM judge on the simulator), and
// that evalctl gate gates.
func TestImportCSVThenScoreAndGate(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"answers.csv": "id,Question,Expectations,Model,Response\n" +
			"q1,What is Git?,mentions version control,gpt-4o,\"Git is a distributed version control system that tracks changes to files over time.\"\n" +
			"q1,What is Git?,mentions version control,openai:gpt-4.1-mini,A VCS.\n" +
			"q2,What is a commit?,,gpt-4o,\"A commit is a snapshot of the repository, with an author, a date and a message.\"\n" +
			"q2,What is a commit?,,openai:gpt-4.1-mini,A snapshot.\n" +
			"q2,What is a commit?,,gpt-4o,\"A recorded snapshot of every tracked file, named by its hash.\"\n",
		"evalctl.yaml": `dataset: answers.csv
models: [sim:unused]
judge: sim:judge
scorers:
  - name: enough_words
    type: word_count
    min: 8
  - name: correctness
    type: guidelines
    column: expectations
`,
	})
	cfg := filepath.Join(dir, "evalctl.yaml")
	db := filepath.Join(dir, "evalctl.db")
	r := run(t, nil, nil, "import", filepath.Join(dir, "answers.csv"), "--answer-column", "Response", "--model-column", "model",
		"--tag", "source=prod", "--name", "prod", "--store", db)
	if r.code != ExitOK {
		t.Fatalf("import: exit %d\n%s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if !strings.Contains(r.stderr, "imported 5 answers of 2 rows × 2 variants") || !strings.Contains(r.stderr, "evalctl score "+id) {
		t.Errorf("import: %s", r.stderr)
	}
	imported, recs := storedRun(t, db, id)
	if imported.Status != eval.StatusComplete || imported.Tags["source"] != "prod" || imported.Name != "prod" || imported.Done != 5 {
		t.Errorf("imported run %+v", imported)
	}
	lay := imported.Spec.Layout
	if strings.Join(lay.Columns, ",") != "id,question,expectations" || lay.Repeat != 2 || len(lay.Variants) != 2 ||
		lay.Variants[0].Model.Ref != "imported:gpt-4o" || lay.Variants[1].Model.Ref != "openai:gpt-4.1-mini" || lay.Variants[0].Prompt.Name != "imported" {
		t.Errorf("layout %+v", lay)
	}
	var cells []string
	for _, rec := range recs {
		cells = append(cells, rec.RowID+"/"+rec.Variant.Model.Ref+"/"+string(rune('0'+rec.Repeat)))
		if rec.Input != rec.Vars["question"] || rec.Vars["response"] != "" || len(rec.Feedback) != 0 {
			t.Errorf("cell %d: %+v", rec.Index, rec)
		}
	}
	if got := strings.Join(cells, " "); got != "q1/imported:gpt-4o/0 q1/openai:gpt-4.1-mini/0 q2/imported:gpt-4o/0 q2/imported:gpt-4o/1 q2/openai:gpt-4.1-mini/0" {
		t.Errorf("cells in order: %s", got)
	}

	r = run(t, nil, nil, "score", id, "--config", cfg, "--store", db)
	if r.code != ExitOK {
		t.Fatalf("score: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	_, recs = storedRun(t, db, id)
	for _, rec := range recs {
		got := map[string]bool{}
		for _, fb := range rec.Feedback {
			got[fb.Scorer] = true
			if fb.Err != "" {
				t.Errorf("cell %d: %s: %s", rec.Index, fb.Scorer, fb.Err)
			}
			if fb.Scorer == "correctness" && rec.RowID == "q1" && (fb.JudgeModel != "sim:judge" || len(fb.Spans) == 0) {
				t.Errorf("cell %d: the judge's verdict %+v", rec.Index, fb)
			}
			if fb.Scorer == "enough_words" && (fb.Pass == nil || *fb.Pass != (len(strings.Fields(rec.Answer)) >= 8)) {
				t.Errorf("cell %d: enough_words %+v on %q", rec.Index, fb, rec.Answer)
			}
		}
		if !got["enough_words"] || !got["correctness"] {
			t.Errorf("cell %d: verdicts %v", rec.Index, rec.Feedback)
		}
	}

	// The short answers of gpt-4.1-mini fail enough_words; gpt-4o's pass.
	r = run(t, nil, nil, "gate", id, "--store", db, "--fail-under", "enough_words=0.9")
	if r.code != ExitGate || !strings.Contains(r.stdout+r.stderr, "gpt-4.1-mini") {
		t.Errorf("gate: exit %d, want 1 naming gpt-4.1-mini\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, nil, "gate", id, "--store", db, "--fail-under", "enough_words/imported:gpt-4o=0.9")
	if r.code != ExitOK {
		t.Errorf("gate on gpt-4o: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestImportJSONLOneVariant(t *testing.T) {
	dir := writeFiles(t, map[string]string{"answers.jsonl": `{"input": "Name a colour.", "answer": "Blue."}` + "\n" +
		`{"input": "Name a fruit.", "answer": "A pear."}` + "\n"})
	db := filepath.Join(dir, "evalctl.db")
	r := run(t, nil, nil, "import", filepath.Join(dir, "answers.jsonl"), "--store", db)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got, recs := storedRun(t, db, "last")
	if len(recs) != 2 || len(got.Spec.Layout.Variants) != 1 || got.Spec.Layout.Variants[0].Model.Ref != "imported:unknown" ||
		recs[0].Input != "Name a colour." || recs[1].Answer != "A pear." || recs[0].RowID == recs[1].RowID || got.Tags["imported"] != "jsonl" {
		t.Errorf("run %+v\nrecords %+v", got, recs)
	}
}

func TestImportErrorsNameFileLineAndField(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"answers.csv":  "id,question,reply\nq1,What?,This.\n",
		"gaps.jsonl":   `{"id": "q1", "answer": "Yes."}` + "\n" + `{"id": "q2"}` + "\n",
		"empty.csv":    "id,question,answer\nq1,What?,Yes.\n ,Why?,No.\n",
		"nomodel.csv":  "id,question,answer,model\nq1,What?,Yes.,\n",
		"broken.json":  "{\"resourceSpans\": [\n  {\"scopeSpans\": [{\"spans\": [{\"traceId\": 12}]}]}]}",
		"metrics.json": `{"resourceMetrics": []}`,
		"dup.json": `{"resourceSpans":[{"scopeSpans":[{"spans":[
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"chat m","startTimeUnixNano":"1","endTimeUnixNano":"2"},
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"chat m","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}`,
		"notes.txt": "hello",
	})
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"answers.csv"}, `answers.csv:1: field "answer": no such column (columns: id, question, reply) — name it with --answer-column`},
		{[]string{"answers.csv", "--answer-column", "reply", "--model-column", "model"}, `answers.csv:1: field "model": no such column`},
		{[]string{"answers.csv", "--answer-column", "reply", "--id-column", "qid"}, `answers.csv:1: field "qid": no such column`},
		{[]string{"gaps.jsonl"}, `gaps.jsonl:2: field "answer": missing`},
		{[]string{"empty.csv"}, `empty.csv:3:1: field "id": empty id`},
		{[]string{"nomodel.csv", "--model-column", "model"}, `nomodel.csv:2: field "model": empty model`},
		{[]string{"broken.json"}, `broken.json:2:43: not OTLP/JSON: field resourceSpans.scopeSpans.spans.traceId: want string, got number`},
		{[]string{"metrics.json"}, "metrics.json: not OTLP/JSON traces: no resourceSpans"},
		{[]string{"dup.json"}, "dup.json: resourceSpans[0].scopeSpans[0].spans[1]: spanId eee19b7ec3c1b174 is used twice in trace 5b8efff798038103d269b633813fc60c"},
		{[]string{"broken.json", "--answer-column", "x"}, "--answer-column applies to CSV and JSONL answers, not to OpenTelemetry traces"},
		{[]string{"notes.txt"}, `notes.txt: unknown format ".txt"`},
		{[]string{"answers.csv", "--tag", "nope"}, `--tag "nope": want key=value`},
		{[]string{"missing.csv"}, "missing.csv: dataset file not found"},
	}
	for _, tt := range tests {
		args := append([]string{"import", filepath.Join(dir, tt.args[0])}, tt.args[1:]...)
		r := run(t, nil, nil, append(args, "--store", filepath.Join(dir, "evalctl.db"))...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("import %v: exit %d, %s\nwant %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

// Spans that are not GenAI spans make no cells: import skips them and says
// how many.
func TestImportSkipsSpansThatAreNotGenAI(t *testing.T) {
	dir := writeFiles(t, map[string]string{"traces.json": `{"resourceSpans":[{"scopeSpans":[{"spans":[
{"traceId":"6b8efff798038103d269b633813fc60c","spanId":"aaa19b7ec3c1b171","name":"GET /health","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1","endTimeUnixNano":"2"},
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b171","name":"POST /ask","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"9"},
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b172","parentSpanId":"eee19b7ec3c1b171","name":"chat gpt-4o","kind":"SPAN_KIND_CLIENT",
 "startTimeUnixNano":"2","endTimeUnixNano":"3",
 "attributes":[{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
 {"key":"gen_ai.input.messages","value":{"stringValue":"[{\"role\":\"user\",\"content\":\"Hi?\"}]"}},
 {"key":"gen_ai.output.messages","value":{"stringValue":"[{\"role\":\"assistant\",\"content\":\"Hello.\"}]"}}]}]}]}]}`})
	db := filepath.Join(dir, "evalctl.db")
	r := run(t, nil, nil, "import", filepath.Join(dir, "traces.json"), "--store", db)
	if r.code != ExitOK || !strings.Contains(r.stderr, "imported 1 traces (1 steps, 0 failed) of 1 rows × 1 variants") ||
		!strings.Contains(r.stderr, ", skipping 2 spans that are not GenAI spans (1 trace of nothing else); score them with") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	_, recs := storedRun(t, db, strings.TrimSpace(r.stdout))
	if len(recs) != 1 || recs[0].Answer != "Hello." || recs[0].Input != "Hi?" {
		t.Errorf("records %+v", recs)
	}
}

// parsedOpts holds what the runF seam of trace, export otel or import got.
type parsedOpts struct {
	trace  *TraceOptions
	export *ExportOTelOptions
	imp    *ImportOptions
}

func traceCmd(o *parsedOpts) *cobra.Command {
	return NewCmdTrace(testApp(), func(x *TraceOptions) error { o.trace = x; return nil })
}

func exportCmd(o *parsedOpts) *cobra.Command {
	return NewCmdExportOTel(testApp(), func(x *ExportOTelOptions) error { o.export = x; return nil })
}

func importCmd(o *parsedOpts) *cobra.Command {
	return NewCmdImport(testApp(), func(x *ImportOptions) error { o.imp = x; return nil })
}

// The flags of trace, export otel and import are parsed and checked without
// running anything (the runF seam).
func TestTraceExportImportFlags(t *testing.T) {
	tests := []struct {
		cmd   func(*parsedOpts) *cobra.Command
		args  []string
		check func(parsedOpts) bool
		err   string
	}{
		{cmd: traceCmd, args: []string{"last", "7"}, check: func(o parsedOpts) bool { return o.trace.Run == "last" && o.trace.Cell == "7" && o.trace.Repeat == -1 }},
		{cmd: traceCmd, args: []string{"r1", "q7", "--variant", "hot", "--repeat", "2", "--full"},
			check: func(o parsedOpts) bool { return o.trace.Variant == "hot" && o.trace.Repeat == 2 && o.trace.Full }},
		{cmd: traceCmd, args: []string{"r1", "q7", "--json", "--full"}, err: "drop --full"},
		{cmd: traceCmd, args: []string{"r1"}, err: "accepts 2 arg(s)"},
		{cmd: exportCmd, args: []string{"-o", "t.json"}, check: func(o parsedOpts) bool { return o.export.Run == "last" && o.export.Output == "t.json" }},
		{cmd: exportCmd, args: []string{"r1", "-o", "-", "--assessment", "2"},
			check: func(o parsedOpts) bool {
				return o.export.Run == "r1" && o.export.Output == "-" && o.export.Assessment == 2
			}},
		{cmd: exportCmd, args: []string{"r1"}, err: "want -o FILE (or -o - for stdout)"},
		{cmd: importCmd, args: []string{"a.csv", "--answer-column", "reply", "--tag", "k=v"},
			check: func(o parsedOpts) bool {
				return o.imp.AnswerColumn == "reply" && o.imp.IDColumn == "id" && o.imp.set("answer-column") && !o.imp.set("id-column")
			}},
		{cmd: importCmd, args: []string{"t.json", "--name", "prod"}, check: func(o parsedOpts) bool { return o.imp.Name == "prod" }},
		{cmd: importCmd, args: []string{"t.json", "--model-column", "m"}, err: "--model-column applies to CSV and JSONL answers"},
		{cmd: importCmd, args: []string{"a.xlsx"}, err: `unknown format ".xlsx"`},
		{cmd: importCmd, args: []string{"a.csv", "--tag", "=v"}, err: "want key=value"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var got parsedOpts
			cmd := tc.cmd(&got)
			cmd.SetArgs(tc.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil || !tc.check(got) {
				t.Fatalf("err %v, options %+v", err, got)
			}
		})
	}
}
