package eval

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
)

// Model is a model under test.
type Model struct {
	Ref    llm.ModelRef
	Params llm.Params
	Client llm.Client
}

// Variant is what produces an answer: a prompt template at a version, a
// system prompt at a version (or none), and a model with its parameters.
// Two variants may share a prompt name, a model, or both (a temperature
// sweep, two versions of one prompt); their ID tells them apart.
type Variant struct {
	// ID is a digest of the definition (see VariantSpec.Key).
	ID string
	// Label names the variant for people; "" lets readers derive a name.
	Label  string
	Prompt *prompts.Template
	System *prompts.Template // nil for none
	Model  *Model
	// Agent, when set, makes the variant an agent: it answers through a
	// tool loop with the agent's tools.
	Agent *Agent
}

// NewVariant returns a variant with its ID set.
func NewVariant(label string, prompt, system *prompts.Template, m *Model) *Variant {
	return NewAgentVariant(label, prompt, system, m, nil)
}

// NewAgentVariant returns a variant with its ID set, an agent when a is
// not nil.
func NewAgentVariant(label string, prompt, system *prompts.Template, m *Model, a *Agent) *Variant {
	v := &Variant{Label: label, Prompt: prompt, System: system, Model: m, Agent: a}
	v.ID = v.Spec().Key()
	return v
}

// systemPrompt renders the system prompt with the agent's addendum, if
// any ("" for none).
func (v *Variant) systemPrompt(vars map[string]string) (string, error) {
	var parts []string
	if v.System != nil {
		s, err := v.System.Render(vars)
		if err != nil {
			return "", err
		}
		parts = append(parts, s)
	}
	if v.Agent != nil && v.Agent.Addendum != nil {
		s, err := v.Agent.Addendum.Render(vars)
		if err != nil {
			return "", err
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "\n\n"), nil
}

// Product returns every prompt × model as variants (prompt-major), all
// with the same system prompt: what prompts: and models: in evalctl.yaml
// mean.
func Product(system *prompts.Template, templates []*prompts.Template, models []*Model) []*Variant {
	var out []*Variant
	for _, t := range templates {
		for _, m := range models {
			out = append(out, NewVariant("", t, system, m))
		}
	}
	return out
}

// Spec returns the variant's stored definition.
func (v *Variant) Spec() VariantSpec {
	s := VariantSpec{ID: v.ID, Label: v.Label, Prompt: PromptRef{v.Prompt.Name, v.Prompt.Version},
		Model: ModelSpec{v.Model.Ref.String(), v.Model.Params}}
	if v.System != nil {
		s.System = &PromptRef{v.System.Name, v.System.Version}
	}
	if v.Agent != nil {
		a := v.Agent.Spec
		if v.Agent.Addendum != nil {
			a.Addendum = &PromptRef{v.Agent.Addendum.Name, v.Agent.Addendum.Version}
		}
		s.Agent = &a
	}
	return s
}

// MaxCells bounds a plan: a run of more cells is a typo, not an evaluation.
const MaxCells = 50_000_000

// Plan is everything a run will do.
type Plan struct {
	Dataset *datasets.Dataset
	// Rows are the dataset rows to evaluate (all of them, or the first N).
	Rows     []datasets.Row
	Variants []*Variant
	Scorers  []scorers.Scorer
	Repeat   int // runs per cell, at least 1
	// Prices price the run's models and judge (see llm.Prices).
	Prices map[string]llm.Price
	// TraceBody bounds the input and output a span keeps, in bytes (0:
	// trace.DefaultMaxBody; below 0: unbounded).
	TraceBody int
	// ByLine, when set, numbers the cells by dataset line, as a merge of
	// shards numbers them (LineIndex), instead of 0, 1, 2, ...
	ByLine bool
}

// LineIndex numbers a cell by its row's dataset line, its variant's
// position and its repeat: the order of the whole evaluation, which the
// shards of a run can each compute alone.
func LineIndex(line, variant, repeat, variants, repeats int) int {
	return (line*variants+variant)*max(1, repeats) + repeat
}

// Cell is one unit of work: a row, a variant and a repeat index.
type Cell struct {
	Index   int
	Row     *datasets.Row
	Variant *Variant
	Repeat  int
}

// Validate checks the plan before anything is spent: every template's
// placeholders against the dataset columns, that there is work to do, and
// that no two variants are the same.
func (p *Plan) Validate() error {
	switch {
	case len(p.Rows) == 0:
		return errors.New("no dataset rows to evaluate")
	case len(p.Variants) == 0:
		return errors.New("no variants: select prompt templates and models")
	case p.Len() > MaxCells:
		return fmt.Errorf("the plan has %d cells (rows × variants × repeats), over %d: split it (--limit, --shard) or repeat less", p.Len(), MaxCells)
	}
	ids := map[string]*Variant{}
	labels := map[string]bool{}
	for _, v := range p.Variants {
		if v.System != nil {
			if err := v.System.Check(p.Dataset.Columns); err != nil {
				return err
			}
		}
		if err := v.Prompt.Check(p.Dataset.Columns); err != nil {
			return err
		}
		if v.Agent != nil && v.Agent.Addendum != nil {
			if err := v.Agent.Addendum.Check(p.Dataset.Columns); err != nil {
				return err
			}
		}
		if o := ids[v.ID]; o != nil {
			return fmt.Errorf("variant %s is listed twice (the same prompt version, system prompt, model and parameters): drop one, or change its parameters", VariantName(v.Spec()))
		}
		ids[v.ID] = v
		if v.Label != "" {
			if labels[v.Label] {
				return fmt.Errorf("two variants are labelled %q; labels name one variant each", v.Label)
			}
			labels[v.Label] = true
		}
	}
	seen := map[string]bool{}
	for _, s := range p.Scorers {
		if seen[s.Name()] {
			return fmt.Errorf("two scorers are named %q; give each a distinct name", s.Name())
		}
		seen[s.Name()] = true
	}
	return validatePairs(p)
}

// Models returns the plan's distinct models, in order of first use.
func (p *Plan) Models() []*Model {
	var out []*Model
	seen := map[*Model]bool{}
	for _, v := range p.Variants {
		if !seen[v.Model] {
			seen[v.Model] = true
			out = append(out, v.Model)
		}
	}
	return out
}

// repeats returns the repeat count, at least 1.
func (p *Plan) repeats() int { return max(1, p.Repeat) }

// Len returns the number of cells.
func (p *Plan) Len() int { return len(p.Rows) * len(p.Variants) * p.repeats() }

// Cells lists the cells row by row, so that an interrupted run holds every
// variant for the rows it reached.
func (p *Plan) Cells() []Cell {
	cells := make([]Cell, 0, p.Len())
	for i := range p.Rows {
		for vi, v := range p.Variants {
			for r := 0; r < p.repeats(); r++ {
				c := Cell{Index: len(cells), Row: &p.Rows[i], Variant: v, Repeat: r}
				if p.ByLine {
					c.Index = LineIndex(p.Rows[i].Line, vi, r, len(p.Variants), p.repeats())
				}
				cells = append(cells, c)
			}
		}
	}
	return cells
}

// Layout is the shape of a run: what a report needs to lay out its results
// without the plan's clients and templates.
type Layout struct {
	// Variants are the run's variants in plan order. Runs recorded before
	// variants existed have none: their variants are Prompts × Models (see
	// AllVariants).
	Variants []VariantSpec `json:"variants,omitempty"`
	Prompts  []PromptRef   `json:"prompts,omitempty"`
	Models   []ModelSpec   `json:"models,omitempty"`
	Scorers  []string      `json:"scorers"`
	Rows     int           `json:"rows"`
	Repeat   int           `json:"repeat"`
	Columns  []string      `json:"columns"`
	// Prices are the prices in effect for the run's models and judge.
	Prices map[string]llm.Price `json:"prices,omitempty"`
}

// VariantSpec is a variant as stored: what produced its answers.
type VariantSpec struct {
	ID     string     `json:"id"`
	Label  string     `json:"label,omitempty"`
	Prompt PromptRef  `json:"prompt"`
	System *PromptRef `json:"system,omitempty"`
	Model  ModelSpec  `json:"model"`
	// Agent is set for a variant that answers with tools.
	Agent *AgentSpec `json:"agent,omitempty"`
}

// Key returns the digest that identifies the variant's definition (label
// excluded): 12 hex digits of the SHA-256 of its canonical JSON.
func (v VariantSpec) Key() string {
	v.ID, v.Label = "", ""
	b, _ := json.Marshal(v)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:6])
}

// LegacyVariantID is the ID given to the variants of runs recorded before
// variants existed (a prompt × a model); the store's migration uses the same.
func LegacyVariantID(prompt, version, model string) string {
	return prompt + "@" + version + " " + model
}

// AllVariants returns the layout's variants: its own, or for runs recorded
// before variants existed, every prompt × model.
func (l Layout) AllVariants() []VariantSpec {
	if len(l.Variants) > 0 || len(l.Prompts) == 0 {
		return l.Variants
	}
	var out []VariantSpec
	for _, p := range l.Prompts {
		for _, m := range l.Models {
			out = append(out, VariantSpec{ID: LegacyVariantID(p.Name, p.Version, m.Ref), Prompt: p, Model: m})
		}
	}
	return out
}

// Slot is what pairs a variant with its counterpart in another run: its
// label, or its prompt name and model with its parameters. Versions, of the
// prompt and of the system prompt, are left out: comparing them is the
// point (and runs recorded before variants do not know their system prompt).
func (v VariantSpec) Slot() string {
	if v.Label != "" {
		return "label " + v.Label
	}
	v.ID, v.Prompt.Version, v.System = "", "", nil
	b, _ := json.Marshal(v)
	return string(b)
}

// Labels returns, by variant ID, the label of each variant that has one,
// and for variants that the prompt version and model would not tell apart
// (a temperature sweep), a label derived from what differs.
func Labels(variants []VariantSpec) map[string]string {
	alike := map[string]int{}
	for _, v := range variants {
		alike[v.Prompt.Name+"@"+v.Prompt.Version+"\x00"+v.Model.Ref]++
	}
	agents := map[string]bool{}
	for _, v := range variants {
		if v.Agent != nil {
			agents[v.Prompt.Name+"@"+v.Prompt.Version+"\x00"+v.Model.Ref] = true
		}
	}
	out := map[string]string{}
	for _, v := range variants {
		k := v.Prompt.Name + "@" + v.Prompt.Version + "\x00" + v.Model.Ref
		switch {
		case v.Label != "":
			out[v.ID] = v.Label
		case alike[k] > 1:
			l := derivedLabel(v)
			if l == v.ID && v.Agent == nil && agents[k] {
				l = "no tools"
			}
			out[v.ID] = l
		}
	}
	return out
}

// derivedLabel names a variant by its parameters and system prompt.
func derivedLabel(v VariantSpec) string {
	var parts []string
	p := v.Model.Params
	if p.Temperature != nil {
		parts = append(parts, "temperature="+strconv.FormatFloat(*p.Temperature, 'g', -1, 64))
	}
	if p.TopP != nil {
		parts = append(parts, "top_p="+strconv.FormatFloat(*p.TopP, 'g', -1, 64))
	}
	if p.MaxTokens != 0 {
		parts = append(parts, "max_tokens="+strconv.Itoa(p.MaxTokens))
	}
	if p.Seed != nil {
		parts = append(parts, "seed="+strconv.Itoa(*p.Seed))
	}
	if v.System != nil {
		parts = append(parts, "system="+v.System.Name+"@"+v.System.Version)
	}
	if v.Agent != nil {
		var names []string
		for _, t := range v.Agent.Tools {
			names = append(names, t.Name)
		}
		parts = append(parts, "tools="+strings.Join(names, "+"))
	}
	if len(parts) == 0 {
		return v.ID
	}
	return strings.Join(parts, " ")
}

// VariantName names a variant for people: its label, or its prompt version
// and model.
func VariantName(v VariantSpec) string {
	if v.Label != "" {
		return v.Label
	}
	return v.Prompt.Name + "@" + v.Prompt.Version + " " + v.Model.Ref
}

// PromptRef names a template version.
type PromptRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ModelSpec is a model with its parameters.
type ModelSpec struct {
	Ref    string     `json:"ref"`
	Params llm.Params `json:"params"`
}

// Planned returns the number of cells.
func (l Layout) Planned() int { return l.Rows * len(l.AllVariants()) * max(1, l.Repeat) }

// Layout returns the plan's layout.
func (p *Plan) Layout() Layout {
	l := Layout{Rows: len(p.Rows), Repeat: p.repeats(), Columns: p.Dataset.Columns, Prices: p.Prices}
	for _, v := range p.Variants {
		l.Variants = append(l.Variants, v.Spec())
	}
	for _, s := range p.Scorers {
		l.Scorers = append(l.Scorers, s.Name())
	}
	return l
}
