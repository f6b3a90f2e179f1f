package view

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/stats"
	"github.com/evalctl/evalctl/store"
)

// listQuery is the run page's filter over its answers, as it appears in
// the address (so a filtered list can be linked, reloaded and paged).
type listQuery struct {
	Variant, Scorer, Outcome string
	// Criterion is the scorer whose human labels the list shows and the
	// keyboard sets; Label filters by them.
	Criterion, Label string
	Text             string
	// Order is "" (cell order) or "review" (the review queue).
	Order string
	Page  int
}

const cellsPerPage = 50

func parseListQuery(r *http.Request) (listQuery, error) {
	q := r.URL.Query()
	l := listQuery{Variant: q.Get("variant"), Scorer: q.Get("scorer"), Outcome: q.Get("outcome"), Criterion: q.Get("criterion"),
		Label: q.Get("label"), Text: q.Get("q"), Order: q.Get("order")}
	var err error
	if l.Page, err = intParam(r, "page", 1); err != nil {
		return l, err
	}
	l.Page = max(1, l.Page)
	if l.Page > 1<<30/cellsPerPage {
		return l, badRequestf("page=%d: no run has that many answers", l.Page)
	}
	if l.Order != "" && l.Order != "review" {
		return l, badRequestf("order=%q: want review or nothing", l.Order)
	}
	return l, nil
}

// values returns the query as address parameters.
func (l listQuery) values() url.Values {
	v := url.Values{}
	for k, x := range map[string]string{"variant": l.Variant, "scorer": l.Scorer, "outcome": l.Outcome, "criterion": l.Criterion,
		"label": l.Label, "q": l.Text, "order": l.Order} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if l.Page > 1 {
		v.Set("page", strconv.Itoa(l.Page))
	}
	return v
}

// Encode returns the query for an address ("" when empty).
func (l listQuery) Encode() string { return l.values().Encode() }

// store returns the store's query for the page.
func (l listQuery) store() store.CellQuery {
	return store.CellQuery{Variant: l.Variant, Scorer: l.Scorer, Outcome: l.Outcome, Criterion: l.Criterion, Label: l.Label,
		Text: l.Text, Review: l.Order == "review", Offset: (l.Page - 1) * cellsPerPage, Limit: cellsPerPage}
}

// verdictView is a verdict as pages show it.
type verdictView struct {
	Scorer  string
	Outcome string // pass, fail, error, skip, score
	Value   string
	scorers.Feedback
}

func verdictsOf(r eval.Record) []verdictView {
	out := make([]verdictView, 0, len(r.Feedback))
	for _, fb := range r.Feedback {
		out = append(out, verdictView{Scorer: fb.Scorer, Outcome: outcomeOf(fb), Value: valueText(fb.Value), Feedback: fb})
	}
	return out
}

func outcomeOf(fb scorers.Feedback) string {
	switch {
	case fb.Err != "":
		return "error"
	case fb.Skipped:
		return "skip"
	case fb.Pass != nil && *fb.Pass:
		return "pass"
	case fb.Pass != nil:
		return "fail"
	}
	return "score"
}

func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', 4, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return reports.OneLine(toJSON(v), 80)
}

// answerRow is one answer of the run page's list.
type answerRow struct {
	Pos      int // position in the list, from 0
	Rec      eval.Record
	Verdicts []verdictView
	Variant  string // its name
	Question string
	// Label is the latest human label of the list's criterion.
	Label *eval.HumanLabel
}

// Verdict returns the row's verdict of a scorer.
func (a answerRow) Verdict(scorer string) *verdictView {
	for i := range a.Verdicts {
		if a.Verdicts[i].Scorer == scorer {
			return &a.Verdicts[i]
		}
	}
	return nil
}

// agreement is how the labels people gave one criterion agree with its
// scorer's verdicts on the same answers.
type agreement struct {
	Criterion string
	// Labels counts the answers labelled; Compared those the scorer decided.
	Labels, Compared, Agree int
	stats.Kappa
}

// Accuracy is the share of compared answers where people and scorer agree.
func (a agreement) Accuracy() float64 {
	if a.Compared == 0 {
		return nanValue
	}
	return float64(a.Agree) / float64(a.Compared)
}

// agreements computes, per criterion, the agreement of people and scorer.
func agreements(lvs []store.LabelVerdict, order []string) []agreement {
	by := map[string]*agreement{}
	pairs := map[string][2][]string{}
	for _, lv := range lvs {
		a := by[lv.Criterion]
		if a == nil {
			a = &agreement{Criterion: lv.Criterion}
			by[lv.Criterion] = a
		}
		a.Labels++
		if lv.Pass == nil {
			continue
		}
		a.Compared++
		judge := store.LabelFail
		if *lv.Pass {
			judge = store.LabelPass
		}
		if judge == lv.Value {
			a.Agree++
		}
		p := pairs[lv.Criterion]
		p[0], p[1] = append(p[0], lv.Value), append(p[1], judge)
		pairs[lv.Criterion] = p
	}
	var out []agreement
	for _, c := range order {
		if a := by[c]; a != nil {
			p := pairs[c]
			a.Kappa = stats.CohenKappa(p[0], p[1])
			out = append(out, *a)
		}
	}
	return out
}

// runData is the run page.
type runData struct {
	Run   *store.Run
	Sum   *summary
	Fresh bool
	Q     listQuery
	Rows  []answerRow
	Total int
	// First and Last number the rows shown (from 1).
	First, Last int
	Pages       []int // page numbers to offer (0: a gap)
	Prev, Next  int   // 0 when none
	// More is the page the keyboard goes to after the last row: the next
	// page, or in a review queue this page again while it held unlabelled
	// answers (the ones labelled here have moved behind the rest).
	More        int
	Variants    []eval.VariantSpec
	Names       map[string]string // variant names by ID
	Scorers     []string
	Criteria    []string
	Agreement   []agreement
	Outcomes    []string
	LabelStates []string
	Took        time.Duration
}

// HasLabels reports whether anyone labelled an answer of the run.
func (d runData) HasLabels() bool { return len(d.Agreement) > 0 }

func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	run, err := s.run(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q, err := parseListQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sum, fresh, err := s.sums.get(ctx, run, summaryBudget)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lay := run.Spec.Layout
	d := runData{Run: run, Sum: sum, Fresh: fresh, Scorers: lay.Scorers, Variants: lay.AllVariants(), Names: map[string]string{},
		Outcomes:    []string{store.OutcomePass, store.OutcomeFail, store.OutcomeError, store.OutcomeSkip, store.OutcomeGenError},
		LabelStates: []string{store.LabelNone, store.LabelAny, store.LabelPass, store.LabelFail, store.LabelDisagree}}
	labels := eval.Labels(d.Variants)
	for _, v := range d.Variants {
		d.Names[v.ID] = variantName(v, labels[v.ID])
	}
	if sum != nil {
		d.Criteria = sum.Criteria()
	} else {
		d.Criteria = lay.Scorers
	}
	if q.Criterion == "" && len(d.Criteria) > 0 {
		// Labels go to the scorer the list is filtered by, when people can
		// label it, else to the first criterion.
		q.Criterion = d.Criteria[0]
		if slices.Contains(d.Criteria, q.Scorer) {
			q.Criterion = q.Scorer
		}
	}
	if q.Criterion != "" && !slices.Contains(lay.Scorers, q.Criterion) {
		s.fail(w, r, badRequestf("criterion=%q: the run has no such scorer", q.Criterion))
		return
	}
	if q.Scorer != "" && !slices.Contains(lay.Scorers, q.Scorer) {
		s.fail(w, r, badRequestf("scorer=%q: the run has no such scorer", q.Scorer))
		return
	}
	d.Q = q
	page, err := s.st.Cells(ctx, run, q.store())
	if err != nil {
		s.fail(w, r, badRequest{err})
		return
	}
	d.Total = page.Total
	if last := (d.Total + cellsPerPage - 1) / cellsPerPage; len(page.Records) == 0 && d.Total > 0 && q.Page > last {
		// Past the end (the list shrank, or an old link): the last page.
		http.Redirect(w, r, d.PageHref(last), http.StatusSeeOther)
		return
	}
	offset := (q.Page - 1) * cellsPerPage
	for i, rec := range page.Records {
		row := answerRow{Pos: offset + i, Rec: rec, Verdicts: verdictsOf(rec), Variant: d.Names[rec.Variant.ID], Question: questionOf(rec.Vars)}
		if l, ok := rec.HumanOf(q.Criterion); ok { // records carry the latest label of each criterion
			row.Label = &l
		}
		d.Rows = append(d.Rows, row)
	}
	if len(d.Rows) > 0 {
		d.First, d.Last = offset+1, offset+len(d.Rows)
	}
	pages := (d.Total + cellsPerPage - 1) / cellsPerPage
	d.Pages = pageList(q.Page, pages)
	if q.Page > 1 {
		d.Prev = q.Page - 1
	}
	if q.Page < pages {
		d.Next = q.Page + 1
	}
	d.More = d.Next
	if q.Order == "review" {
		for _, row := range d.Rows {
			if row.Rec.Err == nil && (row.Label == nil || row.Label.Value == "") {
				d.More = q.Page
				break
			}
		}
	}
	lvs, err := s.st.LabelVerdicts(ctx, run)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Agreement = agreements(lvs, lay.Scorers)
	d.Took = time.Since(start)
	s.render(w, r, "run", "evalctl view: run "+run.ID, "runs", d)
}

// summaryFragment serves the run page's summary once it is counted.
func (s *Server) summaryFragment(w http.ResponseWriter, r *http.Request) {
	run, err := s.run(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wait := 60 * time.Second
	if run.Status == eval.StatusRunning {
		wait = 2 * time.Second
	}
	sum, fresh, err := s.sums.get(r.Context(), run, wait)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderFragment(w, r, "summary", runData{Run: run, Sum: sum, Fresh: fresh})
}

// pageList returns the page numbers to offer around cur: the first, the
// last, and two either side, with 0 for a gap.
func pageList(cur, n int) []int {
	var out []int
	for p := 1; p <= n; p++ {
		if p == 1 || p == n || (p >= cur-2 && p <= cur+2) {
			out = append(out, p)
		} else if len(out) > 0 && out[len(out)-1] != 0 {
			out = append(out, 0)
		}
	}
	return out
}

// questionOf picks the row's question (as the reports do).
func questionOf(vars map[string]string) string {
	for _, k := range []string{"question", "input", "prompt", "query"} {
		if v, ok := vars[k]; ok {
			return v
		}
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 0 {
		return vars[keys[0]]
	}
	return ""
}

// Simulated reports whether a variant of the run answers from the simulator.
func (d runData) Simulated() bool {
	for _, v := range d.Run.Spec.Layout.AllVariants() {
		if strings.HasPrefix(v.Model.Ref, "sim:") {
			return true
		}
	}
	return false
}

// chartData is what the run page's charts draw, per variant.
type chartData struct {
	Labels           []string  `json:"labels"`
	PromptTokens     []int     `json:"prompt_tokens"`
	CompletionTokens []int     `json:"completion_tokens"`
	JudgeTokens      []int     `json:"judge_tokens"`
	P50MS            []float64 `json:"p50_ms"`
	GenErrors        []int     `json:"generation_errors"`
	VerdictErrors    []int     `json:"verdict_errors"`
}

// ChartData returns the charts' data (the template writes it as JSON).
func (d runData) ChartData() chartData {
	var c chartData
	if d.Sum == nil {
		return c
	}
	for _, v := range d.Sum.Variants {
		errs := 0
		for _, r := range v.Rates {
			errs += r.Errors
		}
		c.Labels = append(c.Labels, v.Name())
		c.PromptTokens = append(c.PromptTokens, v.PromptTokens)
		c.CompletionTokens = append(c.CompletionTokens, v.CompletionTokens)
		c.JudgeTokens = append(c.JudgeTokens, v.JudgeTokens)
		c.P50MS = append(c.P50MS, float64(v.P50.Microseconds())/1000)
		c.GenErrors = append(c.GenErrors, v.GenErrors)
		c.VerdictErrors = append(c.VerdictErrors, errs)
	}
	return c
}

// Live reports whether the run is being written: the page follows it.
func (d runData) Live() bool { return d.Run.Status == eval.StatusRunning }

// PageHref returns the address of another page of the list.
func (d runData) PageHref(p int) string {
	q := d.Q
	q.Page = p
	u := "/runs/" + d.Run.ID
	if enc := q.Encode(); enc != "" {
		u += "?" + enc
	}
	return u + "#answers"
}

// CellHref returns the address of an answer's page, which knows the list
// it was opened from and its place there.
func (d runData) CellHref(a answerRow) string {
	v := d.Q.values()
	v.Del("page")
	v.Set("pos", strconv.Itoa(a.Pos))
	return "/runs/" + d.Run.ID + "/cells/" + strconv.Itoa(a.Rec.Index) + "?" + v.Encode()
}
