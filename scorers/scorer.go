package scorers

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/trace"
)

// Sample is what a scorer sees of one answer.
type Sample struct {
	RowID  string
	Vars   map[string]string // the dataset row, by normalised column name
	Prompt string            // template name
	Model  string            // model ref, "provider:model"
	System string            // rendered system prompt
	Input  string            // rendered user prompt
	Answer string
	// Latency and Usage of the generation call (an agent's: all its calls).
	Latency time.Duration
	Usage   llm.Usage
	// Steps are the cell's trace: its generation calls and, for an agent,
	// its tool calls (tool, arguments, result, error), in order.
	Steps []trace.Span
}

// Feedback is a scorer's verdict on one answer.
type Feedback struct {
	Scorer string
	// Value is what was measured: a bool, a float64, or a label such as "yes".
	Value any
	// Pass is set by scorers with a pass/fail outcome.
	Pass *bool
	// Score is set by scorers with a numeric outcome (pass/fail scorers use 1/0).
	Score     *float64
	Rationale string
	// Err says why the scorer could not decide; such feedback is neither pass
	// nor fail.
	Err string
	// Skipped marks a scorer that does not apply to this row.
	Skipped bool

	// Set by LLM judges.
	JudgeModel string
	Raw        string // the judge's reply, verbatim
	Usage      llm.Usage
	Latency    time.Duration
	Attempts   int
	// Reused marks feedback kept from an earlier attempt of the same run.
	Reused bool
	// Votes are the verdicts of a judge asked several times (samples,
	// several judge models, pairwise orders); the feedback is their majority.
	Votes []Vote
	// Agreement is the share of votes that agree with the verdict.
	Agreement *float64
	// Spans are the judge calls made for this verdict, with the prompts
	// they sent.
	Spans []trace.Span
}

// Vote is one judge call's verdict.
type Vote struct {
	Judge     string `json:"judge"`
	Sample    int    `json:"sample,omitempty"`
	Order     string `json:"order,omitempty"` // pairwise: "AB" (baseline first) or "BA"
	Fact      string `json:"fact,omitempty"`  // correctness: the fact checked
	Value     string `json:"value"`           // empty when the call failed or its reply had no verdict
	Rationale string `json:"rationale,omitempty"`
	Err       string `json:"error,omitempty"`
}

// Scorer scores answers. Implementations must be safe for concurrent use.
type Scorer interface {
	Name() string
	Score(ctx context.Context, s Sample) Feedback
}

// PairScorer compares an answer with the answer of a baseline cell: the same
// row and repeat under the baseline prompt (same model), or from the
// baseline model (same prompt). The runner pairs the cells and calls
// ScorePair on each candidate once both answers exist; the baseline's own
// cells get skipped feedback.
type PairScorer interface {
	Scorer
	Baseline() (prompt, model string)
	ScorePair(ctx context.Context, baseline, candidate Sample) Feedback
}

// Passed returns pass/fail feedback with score 1 or 0.
func Passed(pass bool, value any, rationale string) Feedback {
	s := 0.0
	if pass {
		s = 1
	}
	return Feedback{Value: value, Pass: &pass, Score: &s, Rationale: rationale}
}

// Errored returns feedback for a scorer that could not decide.
func Errored(format string, args ...any) Feedback {
	return Feedback{Err: fmt.Sprintf(format, args...)}
}

// Func adapts a Go function to a Scorer.
func Func(name string, f func(ctx context.Context, s Sample) Feedback) Scorer {
	return funcScorer{name, f}
}

type funcScorer struct {
	name string
	f    func(context.Context, Sample) Feedback
}

func (s funcScorer) Name() string { return s.name }
func (s funcScorer) Score(ctx context.Context, x Sample) Feedback {
	fb := s.f(ctx, x)
	fb.Scorer = s.name
	return fb
}

// Spec is one scorer's configuration.
type Spec struct {
	Name string
	Type string
	// Where locates the spec in its file ("evalctl.yaml:12"), for errors.
	Where string
	// Decode fills v (a pointer to a struct) from the type-specific fields,
	// rejecting unknown ones. Nil means there are none.
	Decode func(v any) error
}

// Env is what factories may use to build a scorer.
type Env struct {
	// Columns of the dataset (normalised names).
	Columns []string
	// Prompts and Models of the run (template names, model refs), for
	// scorers that refer to them (a pairwise baseline). Empty when unknown.
	Prompts, Models []string
	// BaseDir resolves relative file paths in scorer settings (the config's directory).
	BaseDir string
	// Judge is the default LLM judge client and model ref.
	Judge       llm.Client
	JudgeModel  string
	JudgeParams llm.Params
	// JudgeClient returns the client for another judge model (a scorer's own
	// judge: or judges:), through the run's providers.
	JudgeClient func(ref string) (llm.Client, error)
	// Salt is a secret from which judges derive their delimiter tags: equal
	// judge requests then stay equal (and cacheable) while no answer can
	// predict its tag. Nil means a fresh random tag per request.
	Salt []byte
}

// HasColumn reports whether the dataset has column c.
func (e Env) HasColumn(c string) bool {
	for _, x := range e.Columns {
		if x == c {
			return true
		}
	}
	return false
}

// Path resolves p against BaseDir unless it is absolute.
func (e Env) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || e.BaseDir == "" {
		return p
	}
	return filepath.Join(e.BaseDir, p)
}

// Factory builds a scorer from its spec.
type Factory func(spec Spec, env Env) (Scorer, error)

// Registry maps scorer types to factories.
type Registry struct{ m map[string]Factory }

// NewRegistry returns a registry holding the built-in code scorers.
func NewRegistry() *Registry {
	r := &Registry{m: map[string]Factory{}}
	registerBuiltins(r)
	return r
}

// Register adds or replaces a scorer type.
func (r *Registry) Register(typ string, f Factory) { r.m[typ] = f }

// RegisterScorer makes a ready scorer available as a type named after it.
func (r *Registry) RegisterScorer(s Scorer) {
	r.m[s.Name()] = func(spec Spec, env Env) (Scorer, error) {
		if err := decode(spec, &struct{}{}); err != nil {
			return nil, err
		}
		if spec.Name == s.Name() {
			return s, nil
		}
		return renamed{s, spec.Name}, nil
	}
}

type renamed struct {
	Scorer
	name string
}

func (r renamed) Name() string { return r.name }
func (r renamed) Score(ctx context.Context, s Sample) Feedback {
	fb := r.Scorer.Score(ctx, s)
	fb.Scorer = r.name
	return fb
}

// Types returns the registered type names, sorted.
func (r *Registry) Types() []string {
	var out []string
	for t := range r.m {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Build makes a scorer from spec. The scorer's feedback carries spec.Name.
func (r *Registry) Build(spec Spec, env Env) (Scorer, error) {
	if spec.Name == "" {
		spec.Name = spec.Type
	}
	f, ok := r.m[spec.Type]
	if !ok {
		if spec.Type == "" {
			return nil, specErr(spec, "missing type (one of: %s)", strings.Join(r.Types(), ", "))
		}
		return nil, specErr(spec, "unknown scorer type %q (one of: %s)", spec.Type, strings.Join(r.Types(), ", "))
	}
	s, err := f(spec, env)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func specErr(spec Spec, format string, args ...any) error {
	where := spec.Where
	if where != "" {
		where += ": "
	}
	return fmt.Errorf("%sscorer %q: %s", where, spec.Name, fmt.Sprintf(format, args...))
}

// SpecError formats an error about spec, naming where it is.
func SpecError(spec Spec, format string, args ...any) error { return specErr(spec, format, args...) }

func decode(spec Spec, v any) error {
	if spec.Decode == nil {
		return nil
	}
	return spec.Decode(v) // the decoder names the file, line and scorer
}

// Decode fills v from the spec's type-specific fields.
func Decode(spec Spec, v any) error { return decode(spec, v) }
