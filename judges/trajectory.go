package judges

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/trace"
)

// DefaultTrajectoryCriteria is what trajectory_judge checks unless given
// criteria.
const DefaultTrajectoryCriteria = "The agent used its tools to good purpose: its queries fit the question, it did not repeat calls needlessly, and its answer draws on what the tools returned."

// Bounds of what a trajectory judge is shown of the steps.
const (
	// MaxStepOutput bounds each tool result (and each call's arguments) in
	// bytes.
	MaxStepOutput = 1500
	// MaxStepCalls bounds the tool calls listed; the rest are counted.
	MaxStepCalls = 50
)

// trajectoryJudge decides yes/no on how an agent used its tools: the judge
// sees the question, every tool call (tool, arguments, an excerpt of the
// result, the error) and the answer.
type trajectoryJudge struct {
	*base
	criteria []string
}

func newTrajectoryJudge(spec scorers.Spec, env scorers.Env) (scorers.Scorer, error) {
	var p struct {
		common   `yaml:",inline"`
		Criteria stringList `yaml:"criteria"`
	}
	if err := scorers.Decode(spec, &p); err != nil {
		return nil, err
	}
	criteria := []string(p.Criteria)
	if len(criteria) == 0 {
		criteria = []string{DefaultTrajectoryCriteria}
	}
	b, err := p.build(spec, env, "trajectory", []string{"criteria", "question", "steps", "answer", "tag"}, []string{"steps", "answer", "tag"})
	if err != nil {
		return nil, err
	}
	return &trajectoryJudge{base: b, criteria: criteria}, nil
}

// Score asks the judge models whether the agent's steps and answer meet the
// criteria. A cell without tool calls is judged too: its steps say so.
func (j *trajectoryJudge) Score(ctx context.Context, s scorers.Sample) scorers.Feedback {
	q := question(s)
	steps, raw := StepsText(s.Steps)
	untrusted := append([]string{q, s.Answer, steps}, raw...)
	prompt, err := j.render(map[string]string{"criteria": criteriaText(j.criteria), "question": q, "steps": steps, "answer": s.Answer}, untrusted...)
	if err != nil {
		return scorers.Feedback{Scorer: j.name, Err: err.Error()}
	}
	fb := scorers.Feedback{Scorer: j.name}
	votes := j.ask(ctx, prompt, "result", []string{"yes", "no"}, false, untrusted, &fb)
	return conclude(fb, votes, j.models)
}

// stepLine is one tool call as a trajectory judge sees it.
type stepLine struct {
	Step      int             `json:"step"`
	Tool      string          `json:"tool"`
	Arguments json.RawMessage `json:"arguments"`
	Output    string          `json:"output,omitempty"`
	Truncated bool            `json:"output_truncated,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// StepsText renders a cell's steps for a judge: a summary line, then each
// tool call as one line of JSON (so that nothing a model or a tool wrote can
// start a line of its own), its arguments and result cut at MaxStepOutput
// bytes, at most MaxStepCalls calls. raw holds the texts of the calls as
// they were written (arguments, result excerpts, errors), for the parser to
// recognise a verdict quoted from them.
func StepsText(spans []trace.Span) (text string, raw []string) {
	st := trace.StatsOf(spans)
	var b bytes.Buffer
	switch {
	case st.ToolCalls == 0:
		b.WriteString("(no tool calls: the agent answered without calling a tool)\n")
	default:
		b.WriteString("The agent ")
		if st.Steps > 0 {
			fmt.Fprintf(&b, "took %s and ", count(st.Steps, "step", "steps"))
		}
		fmt.Fprintf(&b, "made %s", count(st.ToolCalls, "tool call", "tool calls"))
		if st.ToolErrors > 0 {
			fmt.Fprintf(&b, ", %d of which failed", st.ToolErrors)
		}
		b.WriteString(".\n")
	}
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	n := 0
	for _, sp := range spans {
		if sp.Kind != trace.KindTool {
			continue
		}
		if n++; n > MaxStepCalls {
			continue
		}
		line := stepLine{Step: sp.Step, Tool: sp.Tool, Arguments: arguments(sp.Args)}
		raw = append(raw, sp.Args)
		if sp.Failed() {
			kind := sp.ErrorKind
			if kind == "" {
				kind = trace.ToolError
			}
			line.Error = kind
			if sp.Error != "" {
				line.Error += ": " + sp.Error
			}
			line.Error, _ = trace.Bound(line.Error, MaxStepOutput)
			raw = append(raw, sp.Error)
		}
		if sp.Output != "" && sp.Output != sp.Error {
			out, cut := trace.Bound(sp.Output, MaxStepOutput)
			line.Output, line.Truncated = out, cut || sp.Truncated
			raw = append(raw, out)
		}
		enc.Encode(line) // cannot fail: strings and valid JSON
	}
	if n > MaxStepCalls {
		fmt.Fprintf(&b, "(%d more tool calls not shown)\n", n-MaxStepCalls)
	}
	return strings.TrimRight(b.String(), "\n"), raw
}

// arguments is a call's arguments as JSON: the model's own when they are a
// valid JSON value short enough to show whole, else its text as a string.
func arguments(args string) json.RawMessage {
	if len(args) <= MaxStepOutput && json.Valid([]byte(args)) {
		var c bytes.Buffer
		if json.Compact(&c, []byte(args)) == nil {
			return c.Bytes()
		}
	}
	cut, _ := trace.Bound(args, MaxStepOutput)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(cut)
	return bytes.TrimRight(b.Bytes(), "\n")
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
