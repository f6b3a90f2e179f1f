package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/evalctl/evalctl/eval"
)

// AnswerColumns are the fixed columns of answers.csv; the dataset's columns
// follow as data_<name>.
var AnswerColumns = []string{"row_id", "line", "prompt", "prompt_version", "model", "repeat",
	"system", "input", "answer", "finish_reason", "prompt_tokens", "completion_tokens",
	"latency_ms", "attempts", "error_kind", "error"}

// FeedbackColumns are the columns of feedback.csv.
var FeedbackColumns = []string{"row_id", "prompt", "prompt_version", "model", "repeat", "scorer",
	"value", "pass", "score", "skipped", "error", "rationale", "judge_model",
	"judge_prompt_tokens", "judge_completion_tokens", "judge_latency_ms", "judge_raw"}

// Each streams a run's results in cell order to fn, stopping at fn's first
// error; a store streams them with EachResult, so a report over any number
// of answers holds one at a time.
type Each func(fn func(eval.Result) error) error

// Slice streams the results of a slice.
func Slice(results []eval.Result) Each {
	return func(fn func(eval.Result) error) error {
		for _, r := range results {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// WriteAnswersCSV writes one row per cell, in cell order.
func WriteAnswersCSV(w io.Writer, columns []string, results Each) error {
	cw := csv.NewWriter(w)
	head := slices.Clone(AnswerColumns)
	for _, c := range columns {
		head = append(head, "data_"+c)
	}
	cw.Write(head)
	err := results(func(r eval.Result) error {
		kind, msg := "", ""
		if r.Err != nil {
			kind, msg = r.Err.Kind.String(), r.Err.Error()
		}
		rec := []string{r.Row.ID, strconv.Itoa(r.Row.Line), r.Prompt.Name, r.Prompt.Version, r.Model.Ref.String(),
			strconv.Itoa(r.Repeat), r.System, r.Input, r.Answer, r.FinishReason,
			strconv.Itoa(r.Usage.PromptTokens), strconv.Itoa(r.Usage.CompletionTokens),
			strconv.FormatInt(r.Latency.Milliseconds(), 10), strconv.Itoa(r.Attempts), kind, msg}
		for _, c := range columns {
			rec = append(rec, r.Row.Vars[c])
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
func WriteFeedbackCSV(w io.Writer, results Each) error {
	cw := csv.NewWriter(w)
	cw.Write(FeedbackColumns)
	err := results(func(r eval.Result) error {
		for _, fb := range r.Feedback {
			rec := []string{r.Row.ID, r.Prompt.Name, r.Prompt.Version, r.Model.Ref.String(), strconv.Itoa(r.Repeat),
				fb.Scorer, valueText(fb.Value), boolText(fb.Pass), floatText(fb.Score), strconv.FormatBool(fb.Skipped),
				fb.Err, fb.Rationale, fb.JudgeModel}
			if fb.JudgeModel != "" {
				rec = append(rec, strconv.Itoa(fb.Usage.PromptTokens), strconv.Itoa(fb.Usage.CompletionTokens),
					strconv.FormatInt(fb.Latency.Milliseconds(), 10), fb.Raw)
			} else {
				rec = append(rec, "", "", "", "")
			}
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

// WriteCSVFiles writes answers.csv and feedback.csv into dir, atomically.
func WriteCSVFiles(dir string, columns []string, results Each) error {
	if err := WriteFileAtomic(filepath.Join(dir, "answers.csv"), func(w io.Writer) error {
		return WriteAnswersCSV(w, columns, results)
	}); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, "feedback.csv"), func(w io.Writer) error {
		return WriteFeedbackCSV(w, results)
	})
}

// WriteWideCSV writes one row per answer with a column per scorer: the pass
// outcome ("pass", "fail"), the score for numeric scorers, "error" or "skip".
func WriteWideCSV(w io.Writer, l eval.Layout, results Each) error {
	cw := csv.NewWriter(w)
	head := []string{"row_id", "prompt", "prompt_version", "model", "repeat", "error_kind"}
	head = append(head, l.Scorers...)
	head = append(head, "answer")
	cw.Write(head)
	err := results(func(r eval.Result) error {
		rec := []string{r.Row.ID, r.Prompt.Name, r.Prompt.Version, r.Model.Ref.String(), strconv.Itoa(r.Repeat), ""}
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
		rec = append(rec, r.Answer)
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}
