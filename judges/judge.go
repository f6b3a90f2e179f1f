package judges

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
)

//go:embed templates/*.txt
var templates embed.FS

func builtin(name string) string {
	b, err := templates.ReadFile("templates/" + name + ".txt")
	if err != nil {
		panic(err) // embedded at build time
	}
	return string(b)
}

// Register adds the judge scorer types to r.
func Register(r *scorers.Registry) {
	r.Register("guidelines", newGuidelines)
	r.Register("expectations", newExpectations)
	r.Register("relevance_to_query", newRelevance)
	r.Register("safety", newSafety)
	r.Register("correctness", newCorrectness)
	r.Register("rubric", newRubric)
	r.Register("pairwise", newPairwise)
	r.Register("trajectory_judge", newTrajectoryJudge)
}

// judgeModel is one judge model and its client.
type judgeModel struct {
	ref    llm.ModelRef
	client llm.Client
	params llm.Params
}

// base is what every judge shares: its template, its judge models, how
// many times each is asked, and the secret its delimiter tags derive from.
type base struct {
	name    string
	tpl     *prompts.Template
	file    string
	models  []judgeModel
	samples int
	salt    []byte
}

// common are the settings every judge takes.
type common struct {
	// Template is a file with a replacement prompt template.
	Template string `yaml:"template"`
	// Judge overrides the run's judge model for this scorer; Judges asks
	// several judge models (the verdict is their majority, and reports show
	// how far they agree).
	Judge  string   `yaml:"judge"`
	Judges []string `yaml:"judges"`
	// Samples asks each judge model this many times (majority vote).
	Samples int `yaml:"samples"`
	// Temperature of this scorer's judge calls (default: the judge's, else
	// 0). Samples differ only above 0.
	Temperature *float64 `yaml:"temperature"`
}

func (c common) build(spec scorers.Spec, env scorers.Env, tplName string, keys, required []string) (*base, error) {
	b := &base{name: spec.Name, salt: env.Salt, samples: max(1, c.Samples)}
	params := env.JudgeParams
	if c.Temperature != nil {
		if err := (llm.Params{Temperature: c.Temperature}).Validate(); err != nil {
			return nil, scorers.SpecError(spec, "%v", err)
		}
		params.Temperature = c.Temperature
	}
	if params.Temperature == nil {
		zero := 0.0
		params.Temperature = &zero // judges decide, they do not create
	}
	if c.Samples < 0 || c.Samples > 15 {
		return nil, scorers.SpecError(spec, "samples must be between 1 and 15 (got %d)", c.Samples)
	}
	refs := c.Judges
	if c.Judge != "" {
		if len(refs) > 0 {
			return nil, scorers.SpecError(spec, "set judge or judges, not both")
		}
		refs = []string{c.Judge}
	}
	if len(refs) == 0 {
		if env.Judge == nil || env.JudgeModel == "" {
			return nil, scorers.SpecError(spec, "is an LLM judge: set a judge model (--judge or judge: in evalctl.yaml, or judge: on the scorer)")
		}
		ref, err := llm.ParseModelRef(env.JudgeModel)
		if err != nil {
			return nil, scorers.SpecError(spec, "%v", err)
		}
		b.models = []judgeModel{{ref, env.Judge, params}}
	}
	seen := map[string]bool{}
	for _, r := range refs {
		ref, err := llm.ParseModelRef(r)
		if err != nil {
			return nil, scorers.SpecError(spec, "%v", err)
		}
		if seen[ref.String()] {
			return nil, scorers.SpecError(spec, "judge %s is listed twice", ref)
		}
		seen[ref.String()] = true
		if env.JudgeClient == nil {
			return nil, scorers.SpecError(spec, "no client for judge %s", ref)
		}
		client, err := env.JudgeClient(ref.String())
		if err != nil {
			return nil, err
		}
		b.models = append(b.models, judgeModel{ref, client, params})
	}
	text, file := builtin(tplName), tplName+".txt (built in)"
	if c.Template != "" {
		path := env.Path(c.Template)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, scorers.SpecError(spec, "template: %v", err)
		}
		text, file = string(data), path
	}
	tpl, err := prompts.Parse(spec.Name, file, text)
	if err != nil {
		return nil, err
	}
	if err := tpl.Check(keys); err != nil {
		return nil, err
	}
	for _, k := range required {
		if !slices.Contains(tpl.Keys(), k) {
			return nil, scorers.SpecError(spec, "judge template %s must use {%s}", file, k)
		}
	}
	b.tpl, b.file = tpl, file
	return b, nil
}

func (b *base) Name() string { return b.name }

// JudgeModels returns the judge models of the scorer ("provider:model").
func (b *base) JudgeModels() []string {
	var out []string
	for _, m := range b.models {
		out = append(out, m.ref.String())
	}
	return out
}

// question is the text a judge sees as the question: the rendered prompt.
func question(s scorers.Sample) string { return s.Input }

// render fills the template, choosing a delimiter tag that none of the
// untrusted texts contains: they cannot close their block.
func (b *base) render(vars map[string]string, untrusted ...string) (string, error) {
	texts := make([]string, 0, len(vars))
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		texts = append(texts, vars[k])
	}
	for n := range 8 {
		tag := b.tag(n, texts...)
		clash := false
		for _, t := range append(untrusted, texts...) {
			if strings.Contains(t, tag) {
				clash = true
			}
		}
		if clash {
			continue
		}
		full := map[string]string{"tag": tag}
		for k, v := range vars {
			full[k] = v
		}
		return b.tpl.Render(full)
	}
	return "", fmt.Errorf("could not choose a delimiter tag absent from the texts")
}

// tag returns the delimiter tag for a request: an HMAC of the texts under the
// secret salt (so it is stable across runs, yet unpredictable to the answer),
// or random bits without a salt.
func (b *base) tag(attempt int, texts ...string) string {
	if b.salt == nil {
		var r [8]byte
		rand.Read(r[:])
		return hex.EncodeToString(r[:])
	}
	m := hmac.New(sha256.New, b.salt)
	fmt.Fprintf(m, "%d", attempt)
	for _, t := range texts {
		m.Write([]byte{0})
		m.Write([]byte(t))
	}
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// ask is one question put to every judge model, samples times each. It
// returns a vote per call (Value empty when the call failed or its reply had
// no verdict even after one repair turn) and adds the calls' usage, latency
// and attempts to fb. The first raw reply is kept in fb.Raw.
func (b *base) ask(ctx context.Context, prompt, field string, allowed []string, numeric bool, untrusted []string, fb *scorers.Feedback) []scorers.Vote {
	var votes []scorers.Vote
	for _, m := range b.models {
		for s := 0; s < b.samples; s++ {
			v := b.call(ctx, m, s, prompt, field, allowed, numeric, untrusted, fb)
			votes = append(votes, v)
		}
	}
	return votes
}

func (b *base) call(ctx context.Context, m judgeModel, sample int, prompt, field string, allowed []string, numeric bool, untrusted []string, fb *scorers.Feedback) scorers.Vote {
	vote := scorers.Vote{Judge: m.ref.String(), Sample: sample}
	msgs := []llm.Message{{Role: "user", Content: prompt}}
	schema := schemaFor(field, allowed, numeric)
	for try := 0; try < 2; try++ {
		resp, err := m.client.Complete(ctx, llm.Request{Model: m.ref.Model, Messages: msgs, Params: m.params, Schema: schema, Sample: sample})
		fb.Usage = fb.Usage.Add(resp.Usage)
		fb.Latency += resp.Latency
		fb.Attempts += resp.Attempts
		if err != nil {
			vote.Err = "judge call failed: " + err.Error()
			return vote
		}
		if fb.Raw == "" {
			fb.Raw = resp.Text
		}
		v, perr := parseReply(resp.Text, field, allowed, untrusted)
		if perr == nil {
			vote.Value, vote.Rationale, vote.Err = v.Result, v.Rationale, ""
			return vote
		}
		vote.Err = "unparseable verdict: " + perr.Error()
		// One repair turn: show the judge its reply and ask for the format.
		want := `"yes" or "no"`
		if len(allowed) != 2 || allowed[0] != "yes" {
			want = "one of " + strings.Join(allowed, ", ")
		}
		msgs = append(msgs,
			llm.Message{Role: "assistant", Content: resp.Text},
			llm.Message{Role: "user", Content: fmt.Sprintf(`Your reply did not contain a valid verdict. Reply with only this JSON object: {"rationale": "<why>", %q: %s}`, field, want)})
	}
	return vote
}

// majority returns the most common value among the votes that have one, the
// share of those votes that agree with it, and the rationale of the first
// of them. ok is false when no vote has a value. A tie goes to the first of
// order that is tied (callers list the cautious outcome first).
func majority(votes []scorers.Vote, order []string) (value string, agreement float64, rationale string, ok bool) {
	counts := map[string]int{}
	n := 0
	for _, v := range votes {
		if v.Value != "" {
			counts[v.Value]++
			n++
		}
	}
	if n == 0 {
		return "", 0, "", false
	}
	best := -1
	for _, o := range order {
		if counts[o] > best {
			value, best = o, counts[o]
		}
	}
	for _, v := range votes {
		if v.Value == value {
			rationale = v.Rationale
			break
		}
	}
	return value, float64(best) / float64(n), rationale, true
}

// firstErr returns the first vote error (all votes failed).
func firstErr(votes []scorers.Vote) string {
	for _, v := range votes {
		if v.Err != "" {
			return v.Err
		}
	}
	return "no verdict"
}

// conclude turns yes/no votes into feedback: the majority (a tie is "no"),
// the agreement, and the votes themselves when there are several.
func conclude(fb scorers.Feedback, votes []scorers.Vote, models []judgeModel) scorers.Feedback {
	fb.JudgeModel = judgeNames(models)
	if len(votes) > 1 {
		fb.Votes = votes
	}
	value, agree, why, ok := majority(votes, []string{"no", "yes"})
	if !ok {
		fb.Err = firstErr(votes)
		return fb
	}
	pass := value == "yes"
	score := map[bool]float64{true: 1, false: 0}[pass]
	fb.Value, fb.Pass, fb.Score, fb.Rationale = value, &pass, &score, why
	if len(votes) > 1 {
		fb.Agreement = &agree
		fb.Rationale = fmt.Sprintf("%s (%d of %d votes)", why, int(agree*float64(countValued(votes))+0.5), countValued(votes))
	}
	return fb
}

func countValued(votes []scorers.Vote) int {
	n := 0
	for _, v := range votes {
		if v.Value != "" {
			n++
		}
	}
	return n
}

func judgeNames(models []judgeModel) string {
	var names []string
	for _, m := range models {
		names = append(names, m.ref.String())
	}
	return strings.Join(names, "+")
}
