package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
)

// ImportOptions are the inputs of `evalctl import`.
type ImportOptions struct {
	StoreOptions
	File string
	Name string
	Tags []string
	// The columns of a CSV or JSONL file: the answer, the row id, the model
	// and prompt that make the variants, and the question (the cell's input).
	AnswerColumn, IDColumn, ModelColumn, PromptColumn, InputColumn string
	// set reports whether a flag was given.
	set func(name string) bool
}

// The variant of imported answers that do not say what produced them.
const (
	importedModel  = "imported:unknown"
	importedPrompt = "imported"
)

// NewCmdImport returns `evalctl import`.
func NewCmdImport(a *app, runF func(*ImportOptions) error) *cobra.Command {
	opts := &ImportOptions{}
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Store answers recorded elsewhere (CSV, JSONL, or OpenTelemetry traces) as a run to score and gate",
		Long: `Turn recorded answers into a stored run (complete, with no verdicts yet), so that evalctl score
judges them with the config's scorers and evalctl report, compare and gate read them like any run.

CSV and JSONL (.csv, .tsv, .jsonl): a line per answer. Its columns become the row's values, but for
--answer-column (required), --model-column and --prompt-column, which say what produced the answer:
each model × prompt found is a variant (without them, one variant: model imported:unknown, prompt
imported). Lines that share an id (--id-column; without one, the same values) are one row, answered
by each variant; a variant's second answer to a row is a repeat. The question judges read is
--input-column (default: the question column, else input).

OpenTelemetry traces (.json, OTLP/JSON as evalctl export otel writes it, or from an application
instrumented after the GenAI conventions): each trace is a cell. The question is the root's (or the
first chat span's) last user message, the answer the last chat span's output, and the chat and
execute_tool spans become the cell's steps, so that trajectory scorers can score production traces.
Spans that are not GenAI spans (an HTTP server's, a database's: no chat, execute_tool, invoke_agent
or evaluate name or operation, no gen_ai.* or evalctl.* attribute) are skipped and counted, and a
trace of nothing else makes no cell. A span id used twice in one trace is an error. Span kinds and
status codes may be numbers or enum names (SPAN_KIND_CLIENT), as the protobuf JSON mapping allows.`,
		Example: `  evalctl import answers.csv --answer-column response --model-column model --tag source=prod
  evalctl score last && evalctl gate last --fail-under overall=0.8
  evalctl import traces.json --name prod-2026-11-22`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			opts.set = cmd.Flags().Changed
			for _, t := range opts.Tags {
				if k, _, ok := strings.Cut(t, "="); !ok || k == "" {
					return usageErr("--tag %q: want key=value", t)
				}
			}
			if importFormat(opts.File) == "" {
				return usageErr("%s: unknown format %q (want .csv, .tsv, .jsonl or .ndjson answers, or .json OpenTelemetry traces)", opts.File, filepath.Ext(opts.File))
			}
			if importFormat(opts.File) == "otlp" {
				for _, f := range []string{"answer-column", "id-column", "model-column", "prompt-column", "input-column"} {
					if opts.set(f) {
						return usageErr("--%s applies to CSV and JSONL answers, not to OpenTelemetry traces (%s)", f, opts.File)
					}
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return importRun(a, opts)
		},
	}
	addStoreFlags(cmd, &opts.StoreOptions)
	f := cmd.Flags()
	f.StringVar(&opts.Name, "name", "", "a name for the run")
	f.StringArrayVar(&opts.Tags, "tag", nil, "a key=value tag for the run (repeatable)")
	f.StringVar(&opts.AnswerColumn, "answer-column", "answer", "the column holding the answers")
	f.StringVar(&opts.IDColumn, "id-column", "id", "the column holding row ids (default: id if there is one, else a digest of the row's values)")
	f.StringVar(&opts.ModelColumn, "model-column", "", "the column naming the model of each answer (provider:model, or a name)")
	f.StringVar(&opts.PromptColumn, "prompt-column", "", "the column naming the prompt of each answer")
	f.StringVar(&opts.InputColumn, "input-column", "", "the column holding the question (default: question, else input)")
	return cmd
}

// importFormat is the format of a file by its extension: csv, jsonl, otlp or "".
func importFormat(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv", ".tsv":
		return "csv"
	case ".jsonl", ".ndjson":
		return "jsonl"
	case ".json":
		return "otlp"
	}
	return ""
}

// importedRun is what an import stores.
type importedRun struct {
	records []eval.Record
	columns []string
	hash    string
	// skipped says what of an OTLP file was not GenAI spans (", skipping
	// …"), or "".
	skipped string
}

func importRun(a *app, opts *ImportOptions) error {
	path, err := filepath.Abs(opts.File)
	if err != nil {
		return err
	}
	format := importFormat(path)
	var imp *importedRun
	if format == "otlp" {
		imp, err = readTraces(opts.File)
	} else {
		imp, err = readAnswers(opts)
	}
	if err != nil {
		return err
	}
	layout := assignCells(imp.records)
	layout.Columns = imp.columns

	st, err := opts.open(a)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	tags := parseTags(opts.Tags)
	tags["imported"] = format
	now := time.Now()
	run := &store.Run{ID: store.NewRunID(now), Name: opts.Name, Tags: tags, StartedAt: now, Spec: store.Spec{Layout: layout},
		DatasetPath: path, DatasetHash: imp.hash, Version: version(), Planned: len(imp.records)}
	if err := st.CreateRun(ctx, run); err != nil {
		return err
	}
	for _, r := range imp.records {
		st.PutRecord(run.ID, r)
	}
	if err := st.EndRun(ctx, run.ID, eval.StatusComplete); err != nil {
		return err
	}
	errs, steps := 0, 0
	for _, r := range imp.records {
		if r.Err != nil {
			errs++
		}
		steps += len(r.Steps)
	}
	what := fmt.Sprintf("%d answers", len(imp.records))
	if format == "otlp" {
		what = fmt.Sprintf("%d traces (%d steps, %d failed)", len(imp.records), steps, errs)
	}
	fmt.Fprintf(a.io.Stderr, "evalctl: imported %s of %d rows × %d variants from %s into run %s%s; score them with: evalctl score %s\n",
		what, layout.Rows, len(layout.Variants), opts.File, run.ID, imp.skipped, run.ID)
	fmt.Fprintln(a.io.Stdout, run.ID)
	return nil
}

// readAnswers reads a CSV or JSONL file of answers.
func readAnswers(opts *ImportOptions) (*importedRun, error) {
	ds, err := datasets.Load(opts.File, datasets.Options{RepeatedIDs: true})
	if err != nil {
		return nil, exitErr(ExitUsage, err, "")
	}
	has := func(c string) bool { return slices.Contains(ds.Columns, c) }
	colErr := func(flag, name string) error {
		return exitErr(ExitUsage, &datasets.FieldError{File: opts.File, Line: 1, Field: name,
			Err: fmt.Errorf("no such column (columns: %s)", strings.Join(ds.Columns, ", "))}, "name it with --"+flag)
	}
	column := func(flag, value string) (string, error) {
		if value == "" {
			return "", nil
		}
		c := datasets.NormalizeName(value)
		if !has(c) {
			if flag == "id-column" && !opts.set(flag) {
				return "", nil // no id column: rows are told apart by their values
			}
			return "", colErr(flag, value)
		}
		return c, nil
	}
	answerCol, err := column("answer-column", opts.AnswerColumn)
	if err != nil {
		return nil, err
	}
	idCol, err := column("id-column", opts.IDColumn)
	if err != nil {
		return nil, err
	}
	modelCol, err := column("model-column", opts.ModelColumn)
	if err != nil {
		return nil, err
	}
	promptCol, err := column("prompt-column", opts.PromptColumn)
	if err != nil {
		return nil, err
	}
	inputCol, err := column("input-column", opts.InputColumn)
	if err != nil {
		return nil, err
	}
	if inputCol == "" {
		for _, c := range []string{"question", "input"} {
			if has(c) && c != answerCol {
				inputCol = c
				break
			}
		}
	}
	// The answer, model and prompt columns are the cell's, not the row's.
	cellCols := []string{answerCol, modelCol, promptCol}
	var columns []string
	for _, c := range ds.Columns {
		if !slices.Contains(cellCols, c) {
			columns = append(columns, c)
		}
	}
	if idCol != "" && slices.Contains(cellCols, idCol) {
		return nil, usageErr("--id-column %s is also the answer, model or prompt column", opts.IDColumn)
	}

	imp := &importedRun{columns: columns, hash: ds.Hash}
	for _, row := range ds.Rows {
		field := func(c string) (string, error) {
			v, ok := row.Vars[c]
			if !ok {
				return "", exitErr(ExitUsage, &datasets.FieldError{File: opts.File, Line: row.Line, Field: c, Err: errors.New("missing")}, "")
			}
			return v, nil
		}
		answer, err := field(answerCol)
		if err != nil {
			return nil, err
		}
		vars := make(map[string]string, len(columns))
		for _, c := range columns {
			if v, ok := row.Vars[c]; ok {
				vars[c] = v
			}
		}
		rec := eval.Record{RowID: rowDigest(columns, vars), Line: row.Line, Vars: vars, Input: vars[inputCol], Answer: answer}
		if idCol != "" {
			id, err := field(idCol)
			if err != nil {
				return nil, err
			}
			if rec.RowID = strings.TrimSpace(id); rec.RowID == "" {
				return nil, exitErr(ExitUsage, &datasets.FieldError{File: opts.File, Line: row.Line, Field: idCol, Err: errors.New("empty id")}, "")
			}
		}
		model, prompt := importedModel, importedPrompt
		if modelCol != "" {
			if model, err = field(modelCol); err != nil {
				return nil, err
			}
			if model = strings.TrimSpace(model); model == "" {
				return nil, exitErr(ExitUsage, &datasets.FieldError{File: opts.File, Line: row.Line, Field: modelCol, Err: errors.New("empty model")}, "")
			}
			if _, err := llm.ParseModelRef(model); err != nil {
				model = "imported:" + model
			}
		}
		if promptCol != "" {
			if prompt, err = field(promptCol); err != nil {
				return nil, err
			}
			if prompt = strings.TrimSpace(prompt); prompt == "" {
				return nil, exitErr(ExitUsage, &datasets.FieldError{File: opts.File, Line: row.Line, Field: promptCol, Err: errors.New("empty prompt")}, "")
			}
		}
		rec.Variant = importedVariant("", prompt, "", model)
		imp.records = append(imp.records, rec)
	}
	return imp, nil
}

// rowDigest identifies a row without an id column by its values.
func rowDigest(columns []string, vars map[string]string) string {
	h := sha256.New()
	keys := slices.Clone(columns)
	sort.Strings(keys)
	for _, k := range keys {
		io.WriteString(h, k+"\x00"+vars[k]+"\x00")
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// importedVariant is the variant of imported answers. An imported prompt
// has no template: its version is a digest of its name.
func importedVariant(label, prompt, version, model string) eval.VariantSpec {
	if prompt == "" {
		prompt = importedPrompt
	}
	if version == "" {
		version = prompts.Version(prompt)
	}
	if model == "" {
		model = importedModel
	}
	v := eval.VariantSpec{Label: label, Prompt: eval.PromptRef{Name: prompt, Version: version}, Model: eval.ModelSpec{Ref: model}}
	v.ID = v.Key()
	return v
}

// readTraces reads an OTLP/JSON file of traces.
func readTraces(file string) (*importedRun, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, usageErr("%s: %v", file, err)
	}
	traces, err := reports.ReadOTLPTraces(file, bytes.NewReader(data))
	if err != nil {
		return nil, exitErr(ExitUsage, err, "")
	}
	h := sha256.Sum256(data)
	imp := &importedRun{hash: hex.EncodeToString(h[:])}
	if n := traces.SkippedSpans; n > 0 {
		imp.skipped = fmt.Sprintf(", skipping %s that are not GenAI spans (%s of nothing else)", plural(n, "span"), plural(traces.SkippedTraces, "trace"))
	}
	for _, c := range traces.Cells {
		rec := c.Record
		if rec.RowID == "" {
			rec.RowID = c.TraceID
		}
		if rec.Vars == nil {
			rec.Vars = map[string]string{"question": rec.Input}
		}
		for k := range rec.Vars {
			if !slices.Contains(imp.columns, k) {
				imp.columns = append(imp.columns, k)
			}
		}
		v := rec.Variant
		if _, err := llm.ParseModelRef(v.Model.Ref); err != nil {
			v.Model.Ref = importedModel
		}
		id := v.ID
		v = importedVariant(v.Label, v.Prompt.Name, v.Prompt.Version, v.Model.Ref)
		if id != "" {
			v.ID = id // evalctl's own export: the variant keeps its id
		}
		rec.Variant = v
		if rec.Err != nil {
			rec.Err.Model = v.Model.Ref
		}
		imp.records = append(imp.records, rec)
	}
	sort.Strings(imp.columns)
	return imp, nil
}

// assignCells numbers imported records as cells and returns the run's
// layout: rows in order of first appearance, then variants in order of
// first appearance, then repeats (a variant's further answers to a row).
func assignCells(recs []eval.Record) eval.Layout {
	var lay eval.Layout
	rowPos := map[string]int{}
	varPos := map[string]int{}
	seen := map[[2]string]int{}
	for i := range recs {
		r := &recs[i]
		if _, ok := rowPos[r.RowID]; !ok {
			rowPos[r.RowID] = len(rowPos)
		}
		if _, ok := varPos[r.Variant.ID]; !ok {
			varPos[r.Variant.ID] = len(varPos)
			lay.Variants = append(lay.Variants, r.Variant)
		}
		k := [2]string{r.RowID, r.Variant.ID}
		r.Repeat = seen[k]
		seen[k]++
		lay.Repeat = max(lay.Repeat, r.Repeat+1)
	}
	lay.Rows = len(rowPos)
	lay.Scorers = []string{}
	for i := range recs {
		r := &recs[i]
		r.Index = (rowPos[r.RowID]*len(varPos)+varPos[r.Variant.ID])*lay.Repeat + r.Repeat
	}
	return lay
}
