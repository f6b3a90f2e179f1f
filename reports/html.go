package reports

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/stats"
	"github.com/evalctl/evalctl/trace"
)

//go:embed assets/chart-4.5.1.umd.min.js assets/report.css assets/report.js
var assets embed.FS

func asset(name string) string {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return string(b)
}

type htmlStat struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"` // "pass" or "score"
	Pass    int      `json:"pass"`
	Fail    int      `json:"fail"`
	Errors  int      `json:"errors"`
	Skipped int      `json:"skipped"`
	Rate    *float64 `json:"rate"` // pass rate, or mean for "score"
	Lo      *float64 `json:"lo,omitempty"`
	Hi      *float64 `json:"hi,omitempty"`
}

type htmlGroup struct {
	Variant          string     `json:"variant"`
	Label            string     `json:"label,omitempty"`
	Prompt           string     `json:"prompt"`
	PromptVersion    string     `json:"prompt_version"`
	Model            string     `json:"model"`
	Simulated        bool       `json:"simulated"`
	Cells            int        `json:"cells"`
	GenerationErrors int        `json:"generation_errors"`
	ScorerErrors     int        `json:"scorer_errors"`
	PromptTokens     int        `json:"prompt_tokens"`
	CompletionTokens int        `json:"completion_tokens"`
	JudgeTokens      int        `json:"judge_tokens"`
	CostUSD          *float64   `json:"cost_usd"`
	P50LatencyMS     *float64   `json:"p50_latency_ms"`
	Overall          htmlStat   `json:"overall"`
	Scorers          []htmlStat `json:"scorers"`
	// Agent is set in runs with agents (Comparison.Agents).
	Agent *jsonAgent `json:"agent,omitempty"`
}

type htmlRow struct {
	ID   string            `json:"id"`
	Vars map[string]string `json:"vars"`
}

type htmlAnswer struct {
	I  int     `json:"i"`
	R  int     `json:"r"`
	P  string  `json:"p"`
	V  string  `json:"v"`
	M  string  `json:"m"`
	K  int     `json:"k,omitempty"`
	G  int     `json:"g"` // the variant: its group's position
	S  *int    `json:"s"`
	In int     `json:"in"`
	A  int     `json:"a"`
	E  *int    `json:"e"`
	T  [2]int  `json:"t"`
	L  int64   `json:"l"`
	N  int     `json:"n"`
	C  bool    `json:"c,omitempty"`
	F  [][]any `json:"f"`
	// H is what people said, per scorer position: [value, author, comment
	// id or null]; null where nobody labelled.
	H [][]any `json:"h,omitempty"`
	// X is the answer's trace (agents only), XM how many of its spans the
	// page leaves out (over maxPageSpans).
	X  []htmlSpan `json:"x,omitempty"`
	XM int        `json:"xm,omitempty"`
	// D defines the strings this answer uses first: [id, text] pairs.
	D [][2]any `json:"d,omitempty"`
}

// htmlSpan is one span of a trace as the page shows it. Texts are string
// ids, cut at pageExcerpt; the full texts stay in the store (evalctl trace).
type htmlSpan struct {
	K string `json:"k"`           // kind: generation, tool, judge
	S int    `json:"s,omitempty"` // step
	// O is the start in µs after the cell's first span; D the duration in µs.
	O  int64  `json:"o"`
	D  int64  `json:"d"`
	M  string `json:"m,omitempty"`  // model
	T  string `json:"t,omitempty"`  // tool
	Sv string `json:"sv,omitempty"` // tool server
	A  *int   `json:"a,omitempty"`  // tool arguments
	In *int   `json:"in,omitempty"` // what was sent (a judge's prompt)
	Ou *int   `json:"out,omitempty"`
	// X is set when a text was cut, for the page or earlier.
	X  bool   `json:"x,omitempty"`
	E  *int   `json:"e,omitempty"`  // the error
	EK string `json:"ek,omitempty"` // its kind
	U  [2]int `json:"u,omitzero"`   // prompt and completion tokens
	N  int    `json:"n,omitempty"`  // tool calls a generation asked for
	F  string `json:"f,omitempty"`  // finish reason
	C  bool   `json:"c,omitempty"`  // from the cache
}

// The page's bounds on traces: the data it embeds stays proportional to the
// answers whatever the tools returned. Span bodies are already bounded by
// the runner (trace.DefaultMaxBody); the page keeps a shorter excerpt.
const (
	pageExcerpt  = 2 << 10
	maxPageSpans = 100
)

// traced reports whether the page shows an answer's trace: an agent's, or
// any with more than its one generation call.
func traced(g *Group, steps []trace.Span) bool {
	if len(steps) == 0 {
		return false
	}
	return (g != nil && g.Agent) || len(steps) > 1 || steps[0].Kind != trace.KindGeneration
}

// spansOf converts spans for the page, offsets counted from base.
func spansOf(spans []trace.Span, base time.Time, st *strtab, defs *[][2]any) []htmlSpan {
	text := func(s string, cut *bool) *int {
		if s == "" {
			return nil
		}
		s, c := trace.Bound(s, pageExcerpt)
		*cut = *cut || c
		id := st.id(s, defs)
		return &id
	}
	out := make([]htmlSpan, 0, len(spans))
	for _, sp := range spans {
		h := htmlSpan{K: sp.Kind, S: sp.Step, D: sp.Duration().Microseconds(),
			M: sp.Model, T: sp.Tool, Sv: sp.Server, EK: sp.ErrorKind, U: [2]int{sp.Usage.PromptTokens, sp.Usage.CompletionTokens},
			N: sp.ToolCalls, F: sp.FinishReason, C: sp.Cached, X: sp.Truncated}
		if !base.IsZero() {
			h.O = sp.Start.Sub(base).Microseconds()
		}
		h.A, h.In, h.Ou = text(sp.Args, &h.X), text(sp.Input, &h.X), text(sp.Output, &h.X)
		if sp.Error != "" {
			e := st.id(sp.Error, defs)
			h.E = &e
		}
		out = append(out, h)
	}
	return out
}

// htmlHead is the part of the page's data known before the answers stream.
type htmlHead struct {
	Run          RunMeta     `json:"run"`
	CellsPlanned int         `json:"cells_planned"`
	Scorers      []string    `json:"scorers"`
	Groups       []htmlGroup `json:"groups"`
	// Notes on judge agreement and position bias.
	Notes []string `json:"notes"`
}

// htmlTail is the part known after them.
type htmlTail struct {
	Rows           []htmlRow `json:"rows"`
	FilterColumns  []string  `json:"filter_columns"`
	QuestionColumn string    `json:"question_column"`
}

// strtab numbers strings so that repeated texts (system prompts, rationales,
// errors) are written once: the first answer using a string defines it. It
// remembers at most maxInterned strings, by digest, so memory stays bounded
// on any run; a string seen after that is defined again where it is used.
type strtab struct {
	next  int
	index map[[16]byte]int
}

const maxInterned = 50_000

func (t *strtab) id(s string, defs *[][2]any) int {
	k := sha256.Sum256([]byte(s))
	var key [16]byte
	copy(key[:], k[:16])
	if i, ok := t.index[key]; ok {
		return i
	}
	i := t.next
	t.next++
	if len(t.index) < maxInterned {
		t.index[key] = i
	}
	*defs = append(*defs, [2]any{i, s})
	return i
}

func statOf(s ScorerStat) htmlStat {
	h := htmlStat{Name: s.Name, Kind: "pass", Pass: s.Pass, Fail: s.Fail, Errors: s.Errors, Skipped: s.Skipped}
	if r, ok := s.PassRate(); ok {
		lo, hi := stats.Wilson(s.Pass, s.Pass+s.Fail, stats.Z95)
		h.Rate, h.Lo, h.Hi = &r, &lo, &hi
	} else if m, ok := s.Mean(); ok {
		h.Kind, h.Rate = "score", &m
	}
	return h
}

func htmlHeadOf(meta RunMeta, c *Comparison) htmlHead {
	d := htmlHead{Run: meta, CellsPlanned: c.Planned, Scorers: c.Scorers, Groups: []htmlGroup{}, Notes: c.Notes()}
	if d.Notes == nil {
		d.Notes = []string{}
	}
	for _, g := range c.Groups {
		hg := htmlGroup{Variant: g.Variant, Label: g.Label, Prompt: g.Prompt, PromptVersion: g.PromptVersion, Model: g.Model, Simulated: g.Simulated(),
			Cells: g.Cells, GenerationErrors: g.GenErrors, PromptTokens: g.Usage.PromptTokens,
			CompletionTokens: g.Usage.CompletionTokens, JudgeTokens: g.JudgeUsage.Total(), P50LatencyMS: g.P50MS()}
		if g.Priced {
			cost := g.Cost + g.JudgeCost
			hg.CostUSD = &cost
		}
		overall := ScorerStat{Name: "overall"}
		for _, s := range g.Scorers {
			hg.Scorers = append(hg.Scorers, statOf(s))
			hg.ScorerErrors += s.Errors
			overall.Pass += s.Pass
			overall.Fail += s.Fail
			overall.Errors += s.Errors
		}
		hg.Overall = statOf(overall)
		if c.Agents() {
			a := agentJSON(g)
			hg.Agent = &a
		}
		d.Groups = append(d.Groups, hg)
	}
	return d
}

// writeHTMLData streams the page's data as JSON to w: the head, each answer
// as it comes (with the strings it defines), then the rows and filters.
func writeHTMLData(w io.Writer, meta RunMeta, l eval.Layout, results Each, c *Comparison) error {
	head, err := json.Marshal(htmlHeadOf(meta, c))
	if err != nil {
		return err
	}
	w.Write(head[:len(head)-1]) // the object stays open
	io.WriteString(w, `,"answers":[`)
	st := &strtab{index: map[[16]byte]int{}}
	tail := htmlTail{Rows: []htmlRow{}}
	rows := map[string]int{}
	distinct := map[string]map[string]bool{}
	for _, col := range l.Columns {
		distinct[col] = map[string]bool{}
	}
	first := true
	err = results(func(r eval.Record) error {
		ri, ok := rows[r.RowID]
		if !ok {
			ri = len(tail.Rows)
			rows[r.RowID] = ri
			vars := r.Vars
			if vars == nil {
				vars = map[string]string{} // the page indexes it
			}
			tail.Rows = append(tail.Rows, htmlRow{ID: r.RowID, Vars: vars})
			for k, v := range r.Vars {
				if m := distinct[k]; m != nil && len(m) <= 50 {
					m[v] = true
				}
			}
		}
		a := htmlAnswer{I: r.Index, R: ri, P: r.Variant.Prompt.Name, V: r.Variant.Prompt.Version, M: r.Variant.Model.Ref, K: r.Repeat,
			G: c.groupIndex(r.Variant.ID),
			T: [2]int{r.Usage.PromptTokens, r.Usage.CompletionTokens},
			L: r.Latency.Milliseconds(), N: r.Attempts, C: r.Cached, F: make([][]any, len(c.Scorers))}
		a.In, a.A = st.id(r.Input, &a.D), st.id(r.Answer, &a.D)
		if r.System != "" {
			s := st.id(r.System, &a.D)
			a.S = &s
		}
		if r.Err != nil {
			e := st.id(r.Err.Error(), &a.D)
			a.E = &e
		}
		var g *Group
		if a.G >= 0 {
			g = c.Groups[a.G]
		}
		showTrace := traced(g, r.Steps)
		if showTrace {
			steps := r.Steps
			if len(steps) > maxPageSpans {
				a.XM, steps = len(steps)-maxPageSpans, steps[:maxPageSpans]
			}
			a.X = spansOf(steps, r.Steps[0].Start, st, &a.D)
		}
		for _, fb := range r.Feedback {
			i := -1
			for j, name := range c.Scorers {
				if name == fb.Scorer {
					i = j
				}
			}
			if i < 0 {
				continue
			}
			outcome := "score"
			var value any = fb.Value
			switch {
			case fb.Err != "":
				outcome, value = "error", nil
			case fb.Skipped:
				outcome = "skip"
			case fb.Pass != nil && *fb.Pass:
				outcome = "pass"
			case fb.Pass != nil:
				outcome = "fail"
			}
			var why any
			if text := fb.Rationale; fb.Err != "" {
				why = st.id(fb.Err, &a.D)
			} else if text != "" {
				why = st.id(text, &a.D)
			}
			a.F[i] = []any{fb.Scorer, outcome, value, why, fb.JudgeModel, fb.Usage.Total(), fb.Latency.Milliseconds()}
			if showTrace && len(fb.Spans) > 0 {
				// The verdict's judge calls, with their prompts: shown with
				// the traces of agents only, so that the page of a large
				// plain run does not carry every judge prompt.
				spans := fb.Spans
				if len(spans) > maxPageSpans {
					spans = spans[:maxPageSpans]
				}
				a.F[i] = append(a.F[i], spansOf(spans, time.Time{}, st, &a.D))
			}
		}
		for _, h := range r.Human {
			i := slices.Index(c.Scorers, h.Criterion)
			if i < 0 {
				continue
			}
			if a.H == nil {
				a.H = make([][]any, len(c.Scorers))
			}
			var note any
			if h.Comment != "" {
				note = st.id(h.Comment, &a.D)
			}
			a.H[i] = []any{h.Value, h.Author, note}
		}
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if !first {
			io.WriteString(w, ",")
		}
		first = false
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	// Filter on columns that group rows (a category, a difficulty), not on
	// free text such as the question itself.
	tail.QuestionColumn = questionColumn(l.Columns)
	tail.FilterColumns = []string{}
	for _, col := range l.Columns {
		if n := len(distinct[col]); col != tail.QuestionColumn && n >= 2 && n <= 30 && 2*n <= len(tail.Rows) {
			tail.FilterColumns = append(tail.FilterColumns, col)
		}
	}
	sort.Strings(tail.FilterColumns)
	b, err := json.Marshal(tail)
	if err != nil {
		return err
	}
	io.WriteString(w, "],")
	_, err = w.Write(b[1:]) // closes the object
	return err
}

func questionColumn(cols []string) string {
	for _, k := range []string{"question", "input", "prompt", "query"} {
		for _, c := range cols {
			if c == k {
				return c
			}
		}
	}
	if len(cols) > 0 {
		return cols[0]
	}
	return ""
}

// WriteHTML writes a self-contained report: CSS, JavaScript, the pinned chart
// library and the run's data (gzip-compressed JSON, base64) all inline, so the
// file works offline from file://. Every text from the run is placed in the
// page with textContent by the script, never parsed as HTML.
func WriteHTML(w io.Writer, meta RunMeta, l eval.Layout, results Each, c *Comparison) error {
	top := `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="evalctl">
<title>evalctl report</title>
<style>
` + asset("report.css") + `</style>
</head>
<body>
<h1 id="title">evalctl report</h1>
<div class="meta" id="meta"></div>
<p class="note" id="totals"></p>
<div id="notes"></div>
<div class="sim" id="simnote" hidden>sim:* models are answered by evalctl's built-in simulator: their scores say nothing about any real model.</div>
<h2>Pass rates by variant</h2>
<p class="note">Each cell: the pass rate over decided outcomes, its 95% Wilson interval, and errors (counted apart). Numeric scorers show their mean.</p>
<div class="heatmaps" id="heatmaps"></div>
<h2>Tokens, latency, errors and cost</h2>
<div class="charts">
<div class="chart"><canvas id="chart-tokens"></canvas></div>
<div class="chart"><canvas id="chart-latency"></canvas></div>
<div class="chart"><canvas id="chart-errors"></canvas></div>
<div class="chart"><canvas id="chart-cost"></canvas></div>
</div>
<div id="agents" hidden>
<h2>Agents</h2>
<p class="note">Per variant: generation calls (steps) per cell, tool calls in all and per cell, failed tool calls by kind, and the mean wall time of a tool call. Open an answer for its trace.</p>
<table class="agents"><thead><tr><th>variant</th><th>steps / cell</th><th>tool calls</th><th>tool calls / cell</th><th>tool errors</th><th>tool latency</th></tr></thead><tbody id="agent-rows"></tbody></table>
</div>
<h2>Answers<span id="count"></span></h2>
<div class="filters" id="filters">
<label>prompt <select id="f-prompt"></select></label>
<label>model <select id="f-model"></select></label>
<label>scorer <select id="f-scorer"></select></label>
<label>outcome <select id="f-outcome"></select></label>
<label>search <input id="f-search" type="search" placeholder="text in answers and data"></label>
</div>
<table class="answers">
<thead><tr><th>row</th><th>prompt</th><th>model</th><th>scores</th><th>question</th><th>answer</th></tr></thead>
<tbody id="rows"></tbody>
</table>
<p><button id="more" hidden>Show more</button></p>
<aside id="detail" hidden></aside>
<script type="application/octet-stream" id="evalctl-data">
`
	bottom := `
</script>
<script>
` + asset("chart-4.5.1.umd.min.js") + `
</script>
<script>
` + asset("report.js") + `</script>
</body>
</html>
`
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(top)
	b64 := base64.NewEncoder(base64.StdEncoding, bw)
	zw, _ := gzip.NewWriterLevel(b64, gzip.BestCompression)
	if err := writeHTMLData(zw, meta, l, results, c); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := b64.Close(); err != nil {
		return err
	}
	bw.WriteString(bottom)
	return bw.Flush()
}
