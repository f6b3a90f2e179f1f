package eval

import (
	"errors"
	"fmt"

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

// Plan is everything a run will do.
type Plan struct {
	Dataset *datasets.Dataset
	// Rows are the dataset rows to evaluate (all of them, or the first N).
	Rows    []datasets.Row
	System  *prompts.Template // nil for none
	Prompts []*prompts.Template
	Models  []*Model
	Scorers []scorers.Scorer
	Repeat  int // runs per cell, at least 1
	// Prices price the run's models and judge (see llm.Prices).
	Prices map[string]llm.Price
}

// Cell is one unit of work: a row, a prompt, a model and a repeat index.
type Cell struct {
	Index  int
	Row    *datasets.Row
	Prompt *prompts.Template
	Model  *Model
	Repeat int
}

// Validate checks the plan before anything is spent: every template's
// placeholders against the dataset columns, and that there is work to do.
func (p *Plan) Validate() error {
	switch {
	case len(p.Rows) == 0:
		return errors.New("no dataset rows to evaluate")
	case len(p.Prompts) == 0:
		return errors.New("no prompt templates selected")
	case len(p.Models) == 0:
		return errors.New("no models selected")
	}
	if p.System != nil {
		if err := p.System.Check(p.Dataset.Columns); err != nil {
			return err
		}
	}
	for _, t := range p.Prompts {
		if err := t.Check(p.Dataset.Columns); err != nil {
			return err
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

// repeats returns the repeat count, at least 1.
func (p *Plan) repeats() int { return max(1, p.Repeat) }

// Len returns the number of cells.
func (p *Plan) Len() int { return len(p.Rows) * len(p.Prompts) * len(p.Models) * p.repeats() }

// Cells lists the cells row by row, so that an interrupted run holds every
// prompt × model for the rows it reached.
func (p *Plan) Cells() []Cell {
	cells := make([]Cell, 0, p.Len())
	for i := range p.Rows {
		for _, t := range p.Prompts {
			for _, m := range p.Models {
				for r := 0; r < p.repeats(); r++ {
					cells = append(cells, Cell{Index: len(cells), Row: &p.Rows[i], Prompt: t, Model: m, Repeat: r})
				}
			}
		}
	}
	return cells
}

// Layout is the shape of a run: what a report needs to lay out its results
// without the plan's clients and templates.
type Layout struct {
	Prompts []PromptRef `json:"prompts"`
	Models  []ModelSpec `json:"models"`
	Scorers []string    `json:"scorers"`
	Rows    int         `json:"rows"`
	Repeat  int         `json:"repeat"`
	Columns []string    `json:"columns"`
	// Prices are the prices in effect for the run's models and judge.
	Prices map[string]llm.Price `json:"prices,omitempty"`
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
func (l Layout) Planned() int { return l.Rows * len(l.Prompts) * len(l.Models) * max(1, l.Repeat) }

// Layout returns the plan's layout.
func (p *Plan) Layout() Layout {
	l := Layout{Rows: len(p.Rows), Repeat: p.repeats(), Columns: p.Dataset.Columns, Prices: p.Prices}
	for _, t := range p.Prompts {
		l.Prompts = append(l.Prompts, PromptRef{t.Name, t.Version})
	}
	for _, m := range p.Models {
		l.Models = append(l.Models, ModelSpec{m.Ref.String(), m.Params})
	}
	for _, s := range p.Scorers {
		l.Scorers = append(l.Scorers, s.Name())
	}
	return l
}
