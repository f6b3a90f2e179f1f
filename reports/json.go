package reports

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"time"

	"github.com/evalctl/evalctl/llm"
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
	Variant          string       `json:"variant"`
	Label            string       `json:"label,omitempty"`
	Prompt           string       `json:"prompt"`
	PromptVersion    string       `json:"prompt_version"`
	System           string       `json:"system,omitempty"`
	Model            string       `json:"model"`
	Params           *llm.Params  `json:"params,omitempty"`
	Simulated        bool         `json:"simulated"`
	Cells            int          `json:"cells"`
	GenerationErrors int          `json:"generation_errors"`
	PromptTokens     int          `json:"prompt_tokens"`
	CompletionTokens int          `json:"completion_tokens"`
	JudgeTokens      int          `json:"judge_tokens"`
	CostUSD          *float64     `json:"cost_usd"`
	JudgeCostUSD     *float64     `json:"judge_cost_usd"`
	P50LatencyMS     *float64     `json:"p50_latency_ms"`
	Agent            jsonAgent    `json:"agent"`
	Scorers          []jsonScorer `json:"scorers"`
}

// jsonAgent is a group's trace figures (TraceStats).
type jsonAgent struct {
	Tools             bool           `json:"tools"`
	TracedCells       int            `json:"traced_cells"`
	Steps             int            `json:"steps"`
	MeanSteps         *float64       `json:"mean_steps"`
	ToolCalls         int            `json:"tool_calls"`
	MeanToolCalls     *float64       `json:"mean_tool_calls"`
	ToolErrors        int            `json:"tool_errors"`
	ToolErrorsByKind  map[string]int `json:"tool_errors_by_kind"`
	MeanToolLatencyMS *float64       `json:"mean_tool_latency_ms"`
}

func agentJSON(g *Group) jsonAgent {
	t := g.Trace
	a := jsonAgent{Tools: g.Agent, TracedCells: t.Cells, Steps: t.Steps, ToolCalls: t.ToolCalls, ToolErrors: t.ToolErrors,
		ToolErrorsByKind: t.ErrorKinds}
	if a.ToolErrorsByKind == nil {
		a.ToolErrorsByKind = map[string]int{}
	}
	if m, ok := t.MeanSteps(); ok {
		a.MeanSteps = &m
	}
	if m, ok := t.MeanToolCalls(); ok {
		a.MeanToolCalls = &m
	}
	if d, ok := t.MeanToolLatency(); ok {
		ms := float64(d) / float64(time.Millisecond)
		a.MeanToolLatencyMS = &ms
	}
	return a
}

type jsonAgreement struct {
	Scorer   string   `json:"scorer"`
	Judges   []string `json:"judges"`
	Method   string   `json:"method"`
	Answers  int      `json:"answers"`
	Kappa    *float64 `json:"kappa"`
	Lo       *float64 `json:"kappa_lo,omitempty"`
	Hi       *float64 `json:"kappa_hi,omitempty"`
	Observed float64  `json:"observed"`
	Expected float64  `json:"expected"`
}

// jsonHuman is HumanAgreement in report.json.
type jsonHuman struct {
	Criterion string   `json:"criterion"`
	Labels    int      `json:"labels"`
	Compared  int      `json:"compared"`
	Agree     int      `json:"agree"`
	Accuracy  float64  `json:"accuracy"`
	Kappa     *float64 `json:"kappa"`
	Lo        *float64 `json:"kappa_lo,omitempty"`
	Hi        *float64 `json:"kappa_hi,omitempty"`
}

type jsonBias struct {
	Scorer       string  `json:"scorer"`
	Pairs        int     `json:"pairs"`
	Inconsistent int     `json:"inconsistent"`
	Rate         float64 `json:"rate"`
}

// finite returns nil for NaN (JSON has no NaN).
func finite(f float64) *float64 {
	if f != f {
		return nil
	}
	return &f
}

// WriteJSON writes the comparison as one JSON document.
func WriteJSON(w io.Writer, meta RunMeta, c *Comparison) error {
	doc := struct {
		Run            RunMeta         `json:"run"`
		CellsPlanned   int             `json:"cells_planned"`
		Scorers        []string        `json:"scorers"`
		Groups         []jsonGroup     `json:"groups"`
		JudgeAgreement []jsonAgreement `json:"judge_agreement"`
		PositionBias   []jsonBias      `json:"position_bias"`
		HumanAgreement []jsonHuman     `json:"human_agreement,omitempty"`
	}{Run: meta, CellsPlanned: c.Planned, Scorers: c.Scorers, JudgeAgreement: []jsonAgreement{}, PositionBias: []jsonBias{}}
	for _, a := range c.JudgeAgreements() {
		doc.JudgeAgreement = append(doc.JudgeAgreement, jsonAgreement{Scorer: a.Scorer, Judges: a.Judges, Method: a.Method,
			Answers: a.N, Kappa: finite(a.Kappa.Kappa), Lo: finite(a.Lo), Hi: finite(a.Hi), Observed: a.Observed, Expected: a.Expected})
	}
	for _, h := range c.HumanAgreements() {
		doc.HumanAgreement = append(doc.HumanAgreement, jsonHuman{Criterion: h.Criterion, Labels: h.Labels, Compared: h.Compared, Agree: h.Agree,
			Accuracy: h.Accuracy(), Kappa: finite(h.Kappa.Kappa), Lo: finite(h.Lo), Hi: finite(h.Hi)})
	}
	for _, b := range c.PositionBiases() {
		doc.PositionBias = append(doc.PositionBias, jsonBias{Scorer: b.Scorer, Pairs: b.Pairs, Inconsistent: b.Inconsistent, Rate: b.Rate()})
	}
	for _, g := range c.Groups {
		jg := jsonGroup{Variant: g.Variant, Label: g.Label, Prompt: g.Prompt, PromptVersion: g.PromptVersion, System: g.System,
			Model: g.Model, Simulated: g.Simulated(),
			Cells: g.Cells, GenerationErrors: g.GenErrors, PromptTokens: g.Usage.PromptTokens,
			CompletionTokens: g.Usage.CompletionTokens, JudgeTokens: g.JudgeUsage.Total(), P50LatencyMS: g.P50MS(),
			Agent: agentJSON(g)}
		if g.Params != (llm.Params{}) {
			p := g.Params
			jg.Params = &p
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

// JSONReport is a report.json read back (the parts a baseline needs).
type JSONReport struct {
	Run    RunMeta `json:"run"`
	Groups []struct {
		Variant string `json:"variant"`
		Label   string `json:"label"`
		Prompt  string `json:"prompt"`
		Model   string `json:"model"`
		Scorers []struct {
			Name     string   `json:"name"`
			Pass     int      `json:"pass"`
			Fail     int      `json:"fail"`
			PassRate *float64 `json:"pass_rate"`
			Mean     *float64 `json:"mean"`
		} `json:"scorers"`
	} `json:"groups"`
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(r io.Reader) (*JSONReport, error) {
	var rep JSONReport
	dec := json.NewDecoder(r)
	if err := dec.Decode(&rep); err != nil {
		return nil, err
	}
	if rep.Run.ID == "" || rep.Groups == nil {
		return nil, errors.New("not an evalctl JSON report (evalctl report --format json)")
	}
	return &rep, nil
}

// CompareToReport compares a run with a baseline known only by its JSON
// report: rates against rates, unpaired, so without intervals or tests.
func CompareToReport(base *JSONReport, c *Comparison) *RunComparison {
	rc := &RunComparison{A: base.Run}
	for _, g := range c.Groups {
		// The same variant (ID); else the one of the same label, or
		// unlabelled of the same prompt and model, when there is one only.
		match := -1
		for i, bg := range base.Groups {
			if bg.Variant != "" && bg.Variant == g.Variant {
				match = i
			}
		}
		if match < 0 {
			n := 0
			for i, bg := range base.Groups {
				if bg.Label == g.Label && bg.Prompt == g.Prompt && bg.Model == g.Model {
					match, n = i, n+1
				}
			}
			if n != 1 {
				continue
			}
		}
		{
			bg := base.Groups[match]
			for _, s := range g.Scorers {
				for _, bs := range bg.Scorers {
					if bs.Name != s.Name {
						continue
					}
					d := Difference{Variant: g.Variant, Label: g.Label, Prompt: g.Prompt, Model: g.Model, Scorer: s.Name, Kind: "pass", Unpaired: true,
						P: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), TooFew: true}
					b, okB := s.PassRate()
					if bs.PassRate == nil || !okB {
						m, okM := s.Mean()
						if bs.Mean == nil || !okM {
							continue
						}
						d.Kind, b = "score", m
						d.A = *bs.Mean
					} else {
						d.A = *bs.PassRate
					}
					d.B, d.Delta, d.Pairs = b, b-d.A, s.Pass+s.Fail+s.N
					rc.Differences = append(rc.Differences, d)
				}
			}
		}
	}
	return rc
}
