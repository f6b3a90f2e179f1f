package view

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/store"
)

// runFilter is the runs page's filter.
type runFilter struct {
	Name, Tag, Status, Dataset string
	// Since and Until bound the start day (YYYY-MM-DD, inclusive).
	Since, Until string
	since, until time.Time
	Page         int
}

func parseRunFilter(r *http.Request) (runFilter, error) {
	q := r.URL.Query()
	f := runFilter{Name: strings.TrimSpace(q.Get("name")), Tag: strings.TrimSpace(q.Get("tag")), Status: q.Get("status"),
		Dataset: strings.TrimSpace(q.Get("dataset")), Since: q.Get("since"), Until: q.Get("until")}
	var err error
	for _, d := range []struct {
		s string
		t *time.Time
	}{{f.Since, &f.since}, {f.Until, &f.until}} {
		if d.s == "" {
			continue
		}
		if *d.t, err = time.ParseInLocation("2006-01-02", d.s, time.Local); err != nil {
			return f, badRequestf("date %q: want YYYY-MM-DD", d.s)
		}
	}
	if !f.until.IsZero() {
		f.until = f.until.AddDate(0, 0, 1)
	}
	if f.Page, err = intParam(r, "page", 1); err != nil {
		return f, err
	}
	f.Page = max(1, f.Page)
	return f, nil
}

// keep reports whether run passes the filter.
func (f runFilter) keep(run *store.Run) bool {
	if f.Name != "" && !strings.Contains(strings.ToLower(run.Name), strings.ToLower(f.Name)) && !strings.HasPrefix(run.ID, f.Name) {
		return false
	}
	if f.Tag != "" {
		k, v, hasValue := strings.Cut(f.Tag, "=")
		got, ok := run.Tags[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	if f.Status != "" && string(run.Status) != f.Status {
		return false
	}
	if f.Dataset != "" && !strings.Contains(strings.ToLower(run.DatasetPath), strings.ToLower(f.Dataset)) {
		return false
	}
	if !f.since.IsZero() && run.StartedAt.Before(f.since) {
		return false
	}
	if !f.until.IsZero() && !run.StartedAt.Before(f.until) {
		return false
	}
	return true
}

// runRow is a run as the runs page lists it.
type runRow struct {
	Run *store.Run
	Sum *summary // nil while it is counted
	// Fresh is false when Sum is of an earlier state of the run.
	Fresh bool
}

// Live reports whether the run is being written, so the page follows it.
func (r runRow) Live() bool { return r.Run.Status == eval.StatusRunning }

// Pending reports whether the row's figures are still being counted.
func (r runRow) Pending() bool { return r.Sum == nil || !r.Fresh }

// runsData is the runs page.
type runsData struct {
	Filter   runFilter
	Rows     []runRow
	Total    int // runs that pass the filter
	All      int // runs in the store
	Statuses []eval.Status
	Pages    []int
	Store    string
}

const runsPerPage = 50

// summaryBudget is how long a page waits for summaries before it shows
// what it has and lets the script fetch the rest.
const summaryBudget = 300 * time.Millisecond

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) {
	f, err := parseRunFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	runs, err := s.st.Runs(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := runsData{Filter: f, All: len(runs), Store: s.st.Path,
		Statuses: []eval.Status{eval.StatusRunning, eval.StatusComplete, eval.StatusIncomplete, eval.StatusInterrupted}}
	var kept []*store.Run
	for _, run := range runs {
		if f.keep(run) {
			kept = append(kept, run)
		}
	}
	d.Total = len(kept)
	for p := 1; (p-1)*runsPerPage < len(kept); p++ {
		d.Pages = append(d.Pages, p)
	}
	from := min(len(kept), (f.Page-1)*runsPerPage)
	kept = kept[from:min(len(kept), from+runsPerPage)]
	deadline := time.Now().Add(summaryBudget)
	for _, run := range kept {
		sum, fresh, _ := s.sums.get(r.Context(), run, max(0, time.Until(deadline)))
		d.Rows = append(d.Rows, runRow{Run: run, Sum: sum, Fresh: fresh})
	}
	s.render(w, r, "runs", "evalctl view: runs", "runs", d)
}

// runRow serves one row of the runs page, for the script to put in place
// when its figures are counted or while the run is written.
func (s *Server) runRow(w http.ResponseWriter, r *http.Request) {
	run, err := s.run(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wait := 30 * time.Second
	if run.Status == eval.StatusRunning {
		wait = 2 * time.Second
	}
	sum, fresh, err := s.sums.get(r.Context(), run, wait)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderFragment(w, r, "runrow", runRow{Run: run, Sum: sum, Fresh: fresh})
}

// renderFragment writes a template without the page around it.
func (s *Server) renderFragment(w http.ResponseWriter, r *http.Request, name string, data any) {
	s.render(w, r, name, "", "", data)
}

// sortedRuns returns runs oldest first.
func sortedRuns(runs []*store.Run) []*store.Run {
	out := slices.Clone(runs)
	slices.SortStableFunc(out, func(a, b *store.Run) int { return a.StartedAt.Compare(b.StartedAt) })
	return out
}

// PageLink returns the address of another page of the filtered runs.
func (f runFilter) PageLink(p int) string {
	return link("/", "name", f.Name, "tag", f.Tag, "status", f.Status, "dataset", f.Dataset, "since", f.Since, "until", f.Until, "page", strconv.Itoa(p))
}
