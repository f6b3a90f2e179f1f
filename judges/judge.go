package judges

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
)

//go:embed templates/guidelines.txt
var guidelinesTemplate string

// Register adds the judge scorer types to r.
func Register(r *scorers.Registry) {
	r.Register("guidelines", newGuidelines)
	r.Register("relevance_to_query", newRelevance)
}

// RelevanceCriterion is the criterion of the relevance_to_query judge.
const RelevanceCriterion = "The answer is relevant to the question asked: it addresses what the question asks, rather than a different topic."

// judge is an LLM judge that decides yes/no against criteria.
type judge struct {
	name     string
	client   llm.Client
	model    llm.ModelRef
	params   llm.Params
	tpl      *prompts.Template
	criteria []string // fixed criteria
	column   string   // per-row criteria column
	salt     []byte
}

type judgeParams struct {
	// Template is a file with a replacement prompt template, using the
	// placeholders {criteria}, {question}, {answer} and {tag}.
	Template string `yaml:"template"`
}

func (p judgeParams) build(spec scorers.Spec, env scorers.Env, name string) (*judge, error) {
	j := &judge{name: name, client: env.Judge, params: env.JudgeParams, salt: env.Salt}
	model := env.JudgeModel
	if j.client == nil || model == "" {
		return nil, scorers.SpecError(spec, "is an LLM judge: set a judge model (--judge or judge: in evalctl.yaml)")
	}
	ref, err := llm.ParseModelRef(model)
	if err != nil {
		return nil, scorers.SpecError(spec, "%v", err)
	}
	j.model = ref
	text, file := guidelinesTemplate, "guidelines.txt (built in)"
	if p.Template != "" {
		path := env.Path(p.Template)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, scorers.SpecError(spec, "template: %v", err)
		}
		text, file = string(b), path
	}
	tpl, err := prompts.Parse(name, file, text)
	if err != nil {
		return nil, err
	}
	if err := tpl.Check([]string{"criteria", "question", "answer", "tag"}); err != nil {
		return nil, err
	}
	for _, k := range []string{"answer", "tag"} {
		if !contains(tpl.Keys(), k) {
			return nil, scorers.SpecError(spec, "judge template %s must use {%s}", file, k)
		}
	}
	j.tpl = tpl
	return j, nil
}

func newGuidelines(spec scorers.Spec, env scorers.Env) (scorers.Scorer, error) {
	var p struct {
		judgeParams `yaml:",inline"`
		Guidelines  stringList `yaml:"guidelines"`
		Column      string     `yaml:"column"`
	}
	if err := scorers.Decode(spec, &p); err != nil {
		return nil, err
	}
	if (len(p.Guidelines) == 0) == (p.Column == "") {
		return nil, scorers.SpecError(spec, "guidelines needs either guidelines (text) or column (a dataset column of per-row guidelines)")
	}
	if p.Column != "" && !env.HasColumn(p.Column) {
		return nil, scorers.SpecError(spec, "column %q is not in the dataset (columns: %s)", p.Column, strings.Join(env.Columns, ", "))
	}
	j, err := p.judgeParams.build(spec, env, spec.Name)
	if err != nil {
		return nil, err
	}
	j.criteria, j.column = p.Guidelines, p.Column
	return j, nil
}

func newRelevance(spec scorers.Spec, env scorers.Env) (scorers.Scorer, error) {
	var p judgeParams
	if err := scorers.Decode(spec, &p); err != nil {
		return nil, err
	}
	j, err := p.build(spec, env, spec.Name)
	if err != nil {
		return nil, err
	}
	j.criteria = []string{RelevanceCriterion}
	return j, nil
}

func (j *judge) Name() string { return j.name }

// Score asks the judge model for a verdict.
func (j *judge) Score(ctx context.Context, s scorers.Sample) scorers.Feedback {
	criteria := j.criteria
	if j.column != "" {
		c := strings.TrimSpace(s.Vars[j.column])
		if c == "" {
			return scorers.Feedback{Scorer: j.name, Skipped: true, Rationale: fmt.Sprintf("no guidelines in column %q for this row", j.column)}
		}
		criteria = []string{c}
	}
	prompt, err := j.render(criteria, s)
	if err != nil {
		fb := scorers.Errored("%v", err)
		fb.Scorer = j.name
		return fb
	}
	fb := scorers.Feedback{Scorer: j.name, JudgeModel: j.model.String()}
	msgs := []llm.Message{{Role: "user", Content: prompt}}
	allowed := []string{"yes", "no"}
	for try := 0; try < 2; try++ {
		resp, err := j.client.Complete(ctx, llm.Request{Model: j.model.Model, Messages: msgs, Params: j.params, Schema: VerdictSchema(allowed)})
		fb.Usage = fb.Usage.Add(resp.Usage)
		fb.Latency += resp.Latency
		fb.Attempts += resp.Attempts
		if err != nil {
			fb.Err = "judge call failed: " + err.Error()
			return fb
		}
		fb.Raw = resp.Text
		v, perr := ParseVerdict(resp.Text, allowed)
		if perr == nil {
			pass := v.Result == "yes"
			score := map[bool]float64{true: 1, false: 0}[pass]
			fb.Value, fb.Pass, fb.Score, fb.Rationale = v.Result, &pass, &score, v.Rationale
			fb.Err = ""
			return fb
		}
		fb.Err = "unparseable verdict: " + perr.Error()
		// One repair turn: show the judge its reply and ask for the format.
		msgs = append(msgs,
			llm.Message{Role: "assistant", Content: resp.Text},
			llm.Message{Role: "user", Content: `Your reply did not contain a valid verdict. Reply with only this JSON object: {"rationale": "<why>", "result": "yes" or "no"}`})
	}
	return fb
}

// render fills the judge template, choosing a tag that the texts do not contain.
func (j *judge) render(criteria []string, s scorers.Sample) (string, error) {
	var crit string
	if len(criteria) == 1 {
		crit = criteria[0]
	} else {
		var b strings.Builder
		for i, c := range criteria {
			fmt.Fprintf(&b, "%d. %s\n", i+1, c)
		}
		crit = strings.TrimRight(b.String(), "\n")
	}
	question := s.Input
	for n := range 8 {
		tag := j.tag(n, crit, question, s.Answer)
		if strings.Contains(s.Answer, tag) || strings.Contains(question, tag) || strings.Contains(crit, tag) {
			continue
		}
		return j.tpl.Render(map[string]string{"criteria": crit, "question": question, "answer": s.Answer, "tag": tag})
	}
	return "", fmt.Errorf("could not choose a delimiter tag absent from the texts")
}

// tag returns the delimiter tag for a request: an HMAC of the texts under the
// secret salt (so it is stable across runs, yet unpredictable to the answer),
// or random bits without a salt.
func (j *judge) tag(attempt int, texts ...string) string {
	if j.salt == nil {
		var b [8]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	m := hmac.New(sha256.New, j.salt)
	fmt.Fprintf(m, "%d", attempt)
	for _, t := range texts {
		m.Write([]byte{0})
		m.Write([]byte(t))
	}
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// stringList accepts a string or a list of strings.
type stringList []string

// UnmarshalYAML implements yaml.Unmarshaler without importing the yaml package.
func (l *stringList) UnmarshalYAML(unmarshal func(any) error) error {
	var one string
	if err := unmarshal(&one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := unmarshal(&many); err != nil {
		return fmt.Errorf("guidelines: want a string or a list of strings")
	}
	*l = many
	return nil
}
