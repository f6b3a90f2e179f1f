package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/trace"
)

// AnswerColumns are the fixed columns of answers.csv; the dataset's columns
// follow as data_<name>.
var AnswerColumns = []string{"row_id", "line", "prompt", "prompt_version", "model", "repeat",
	"system", "input", "answer", "finish_reason", "prompt_tokens", "completion_tokens",
	"latency_ms", "attempts", "error_kind", "error", "variant"}

// AgentColumns follow AnswerColumns in answers.csv when the run has agents
// (variants with tools): the cell's generation calls, tool calls and failed
// tool calls, from its trace (empty for a cell without one). A run without
// agents leaves them out, so its file keeps its columns.
var AgentColumns = []string{"steps", "tool_calls", "tool_errors"}

// HasAgents reports whether some variant of a layout answers with tools.
func HasAgents(l eval.Layout) bool {
	for _, v := range l.AllVariants() {
		if v.Agent != nil {
			return true
		}
	}
	return false
}

// FeedbackColumns are the columns of feedback.csv.
var FeedbackColumns = []string{"row_id", "prompt", "prompt_version", "model", "repeat", "scorer",
	"value", "pass", "score", "skipped", "error", "rationale", "judge_model",
	"judge_prompt_tokens", "judge_completion_tokens", "judge_latency_ms", "judge_raw", "variant"}

// CSVOptions say how CSV reports are written.
type CSVOptions struct {
	// Raw writes every cell as it is, for programs. By default a text cell
	// that a spreadsheet would take for a formula (one starting with =, +, -,
	// @, tab or carriage return) is written with a single quote before it,
	// as OWASP advises against CSV injection. Text is anything that comes
	// from the dataset, the prompts, the models or the judges (ids, inputs,
	// answers, errors, rationales, raw replies, data_ columns, names); the
	// numbers evalctl formats itself (line, repeat, tokens, latency,
	// attempts, pass, score, skipped, a numeric value) are never changed.
	Raw bool
}

// formulaStart lists the first bytes that make a spreadsheet read a cell as
// a formula (OWASP, CSV Injection).
const formulaStart = "=+-@\t\r"

// csvText neutralises one text cell unless the options say raw: it is the
// one place where CSV reports escape model, dataset or judge text.
func (o CSVOptions) csvText(s string) string {
	if o.Raw || s == "" || strings.IndexByte(formulaStart, s[0]) < 0 {
		return s
	}
	return "'" + s
}

// Each streams a run's results in cell order to fn, stopping at fn's first
// error; a store streams them with EachRecord, so a report over any number
// of answers holds one at a time.
type Each func(fn func(eval.Record) error) error

// Slice streams the results of a slice.
func Slice(results []eval.Result) Each {
	return func(fn func(eval.Record) error) error {
		for _, r := range results {
			if err := fn(r.Record()); err != nil {
				return err
			}
		}
		return nil
	}
}

// WriteAnswersCSV writes one row per cell, in cell order: AnswerColumns,
// AgentColumns when the layout has agents, then the dataset's columns.
func WriteAnswersCSV(w io.Writer, l eval.Layout, results Each, o CSVOptions) error {
	t := o.csvText
	cw := csv.NewWriter(w)
	columns, agents := l.Columns, HasAgents(l)
	head := slices.Clone(AnswerColumns)
	if agents {
		head = append(head, AgentColumns...)
	}
	for _, c := range columns {
		head = append(head, t("data_"+c))
	}
	cw.Write(head)
	err := results(func(r eval.Record) error {
		kind, msg := "", ""
		if r.Err != nil {
			kind, msg = r.Err.Kind.String(), r.Err.Error()
		}
		rec := []string{t(r.RowID), strconv.Itoa(r.Line), t(r.Variant.Prompt.Name), t(r.Variant.Prompt.Version), t(r.Variant.Model.Ref),
			strconv.Itoa(r.Repeat), t(r.System), t(r.Input), t(r.Answer), t(r.FinishReason),
			strconv.Itoa(r.Usage.PromptTokens), strconv.Itoa(r.Usage.CompletionTokens),
			strconv.FormatInt(r.Latency.Milliseconds(), 10), strconv.Itoa(r.Attempts), t(kind), t(msg), t(r.Variant.ID)}
		if agents {
			steps, calls, errs := "", "", ""
			if len(r.Steps) > 0 {
				st := trace.StatsOf(r.Steps)
				steps, calls, errs = strconv.Itoa(st.Steps), strconv.Itoa(st.ToolCalls), strconv.Itoa(st.ToolErrors)
			}
			rec = append(rec, steps, calls, errs)
		}
		for _, c := range columns {
			rec = append(rec, t(r.Vars[c]))
		}
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// WriteFeedbackCSV writes one row per cell × scorer, in cell then scorer order.
// Cells whose generation failed have no feedback rows.
func WriteFeedbackCSV(w io.Writer, results Each, o CSVOptions) error {
	t := o.csvText
	cw := csv.NewWriter(w)
	cw.Write(FeedbackColumns)
	err := results(func(r eval.Record) error {
		for _, fb := range r.Feedback {
			value := valueText(fb.Value)
			switch fb.Value.(type) {
			case bool, float64: // formatted here
			default:
				value = t(value)
			}
			rec := []string{t(r.RowID), t(r.Variant.Prompt.Name), t(r.Variant.Prompt.Version), t(r.Variant.Model.Ref), strconv.Itoa(r.Repeat),
				t(fb.Scorer), value, boolText(fb.Pass), floatText(fb.Score), strconv.FormatBool(fb.Skipped),
				t(fb.Err), t(fb.Rationale), t(fb.JudgeModel)}
			if fb.JudgeModel != "" {
				rec = append(rec, strconv.Itoa(fb.Usage.PromptTokens), strconv.Itoa(fb.Usage.CompletionTokens),
					strconv.FormatInt(fb.Latency.Milliseconds(), 10), t(fb.Raw))
			} else {
				rec = append(rec, "", "", "", "")
			}
			rec = append(rec, t(r.Variant.ID))
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

func boolText(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

func floatText(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

// WriteWideCSV writes one row per answer with a column per scorer: the pass
// outcome ("pass", "fail"), the score for numeric scorers, "error" or "skip".
func WriteWideCSV(w io.Writer, l eval.Layout, results Each, o CSVOptions) error {
	t := o.csvText
	cw := csv.NewWriter(w)
	head := []string{"row_id", "prompt", "prompt_version", "model", "repeat", "error_kind"}
	for _, name := range l.Scorers {
		head = append(head, t(name))
	}
	head = append(head, "answer", "variant")
	cw.Write(head)
	err := results(func(r eval.Record) error {
		rec := []string{t(r.RowID), t(r.Variant.Prompt.Name), t(r.Variant.Prompt.Version), t(r.Variant.Model.Ref), strconv.Itoa(r.Repeat), ""}
		if r.Err != nil {
			rec[5] = r.Err.Kind.String()
		}
		for _, name := range l.Scorers {
			v := ""
			for _, fb := range r.Feedback {
				if fb.Scorer != name {
					continue
				}
				switch {
				case fb.Err != "":
					v = "error"
				case fb.Skipped:
					v = "skip"
				case fb.Pass != nil && *fb.Pass:
					v = "pass"
				case fb.Pass != nil:
					v = "fail"
				case fb.Score != nil:
					v = floatText(fb.Score)
				}
			}
			rec = append(rec, v)
		}
		rec = append(rec, t(r.Answer), t(r.Variant.ID))
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}
