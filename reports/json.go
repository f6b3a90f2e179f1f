package reports

import (
	"encoding/json"
	"io"
	"time"
)

// RunMeta describes the run a report is about.
type RunMeta struct {
	ID          string            `json:"id"`
	Name        string            `json:"name,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Status      string            `json:"status"`
	StartedAt   time.Time         `json:"started_at"`
	EndedAt     time.Time         `json:"ended_at,omitzero"`
	GitCommit   string            `json:"git_commit,omitempty"`
	GitDirty    bool              `json:"git_dirty,omitempty"`
	DatasetPath string            `json:"dataset"`
	DatasetHash string            `json:"dataset_sha256"`
	Version     string            `json:"evalctl_version"`
}

type jsonScorer struct {
	Name     string   `json:"name"`
	Pass     int      `json:"pass"`
	Fail     int      `json:"fail"`
	Errors   int      `json:"errors"`
	Skipped  int      `json:"skipped"`
	PassRate *float64 `json:"pass_rate"`
	Mean     *float64 `json:"mean"`
}

type jsonGroup struct {
	Prompt           string       `json:"prompt"`
	PromptVersion    string       `json:"prompt_version"`
	Model            string       `json:"model"`
	Simulated        bool         `json:"simulated"`
	Cells            int          `json:"cells"`
	GenerationErrors int          `json:"generation_errors"`
	PromptTokens     int          `json:"prompt_tokens"`
	CompletionTokens int          `json:"completion_tokens"`
	JudgeTokens      int          `json:"judge_tokens"`
	CostUSD          *float64     `json:"cost_usd"`
	JudgeCostUSD     *float64     `json:"judge_cost_usd"`
	P50LatencyMS     *float64     `json:"p50_latency_ms"`
	Scorers          []jsonScorer `json:"scorers"`
}

// WriteJSON writes the comparison as one JSON document.
func WriteJSON(w io.Writer, meta RunMeta, c *Comparison) error {
	doc := struct {
		Run          RunMeta     `json:"run"`
		CellsPlanned int         `json:"cells_planned"`
		Scorers      []string    `json:"scorers"`
		Groups       []jsonGroup `json:"groups"`
	}{Run: meta, CellsPlanned: c.Planned, Scorers: c.Scorers}
	for _, g := range c.Groups {
		jg := jsonGroup{Prompt: g.Prompt, PromptVersion: g.PromptVersion, Model: g.Model, Simulated: g.Simulated(),
			Cells: g.Cells, GenerationErrors: g.GenErrors, PromptTokens: g.Usage.PromptTokens,
			CompletionTokens: g.Usage.CompletionTokens, JudgeTokens: g.JudgeUsage.Total()}
		if d, ok := g.P50(); ok {
			ms := float64(d) / float64(time.Millisecond)
			jg.P50LatencyMS = &ms
		}
		if g.Priced {
			cost, judge := g.Cost, g.JudgeCost
			jg.CostUSD, jg.JudgeCostUSD = &cost, &judge
		}
		for _, s := range g.Scorers {
			js := jsonScorer{Name: s.Name, Pass: s.Pass, Fail: s.Fail, Errors: s.Errors, Skipped: s.Skipped}
			if r, ok := s.PassRate(); ok {
				js.PassRate = &r
			}
			if m, ok := s.Mean(); ok {
				js.Mean = &m
			}
			jg.Scorers = append(jg.Scorers, js)
		}
		doc.Groups = append(doc.Groups, jg)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
