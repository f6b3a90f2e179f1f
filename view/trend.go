package view

import (
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/evalctl/evalctl/store"
)

// trendPoint is one run of a trend.
type trendPoint struct {
	Run *store.Run
	Sum *summary // nil while it is counted
}

// Rate returns the run's pooled rate of a scorer ("overall" for every
// pass/fail scorer).
func (p trendPoint) Rate(scorer string) rate {
	if p.Sum == nil {
		return rate{}
	}
	if scorer == "overall" {
		return p.Sum.Overall
	}
	for _, r := range p.Sum.Rates {
		if r.Scorer == scorer {
			return r
		}
	}
	return rate{}
}

// trendChart is the chart's data: a line per scorer, a point per run.
type trendChart struct {
	Labels []string    `json:"labels"`
	Runs   []string    `json:"runs"`
	Series []trendLine `json:"series"`
}

type trendLine struct {
	Scorer string `json:"scorer"`
	// Rates are pass rates, null where the run has none.
	Rates []*float64 `json:"rates"`
}

// trendData is the trend page.
type trendData struct {
	Name, Tag string
	Points    []trendPoint
	Scorers   []string
	Chart     trendChart
	Pending   int // runs whose figures are still counted
	Names     []string
	Tags      []string
	Dropped   int // older runs left out
}

// maxTrend is the most runs a trend shows (the newest).
const maxTrend = 60

func (s *Server) trendPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	d := trendData{Name: strings.TrimSpace(q.Get("name")), Tag: strings.TrimSpace(q.Get("tag"))}
	runs, err := s.st.Runs(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, run := range runs {
		if run.Name != "" && !slices.Contains(d.Names, run.Name) {
			d.Names = append(d.Names, run.Name)
		}
		for k, v := range run.Tags {
			if t := k + "=" + v; !slices.Contains(d.Tags, t) {
				d.Tags = append(d.Tags, t)
			}
		}
	}
	slices.Sort(d.Names)
	slices.Sort(d.Tags)
	if d.Name == "" && d.Tag == "" {
		s.render(w, r, "trend", "evalctl view: trend", "trend", d)
		return
	}
	f := runFilter{Tag: d.Tag}
	var kept []*store.Run
	for _, run := range runs {
		if (d.Name == "" || run.Name == d.Name) && f.keep(run) {
			kept = append(kept, run)
		}
	}
	if len(kept) > maxTrend {
		d.Dropped = len(kept) - maxTrend
		kept = kept[:maxTrend] // newest first
	}
	kept = sortedRuns(kept)
	deadline := time.Now().Add(10 * time.Second)
	for _, run := range kept {
		sum, _, err := s.sums.get(ctx, run, max(0, time.Until(deadline)))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if sum == nil {
			d.Pending++
		} else {
			for _, sc := range sum.Scorers {
				if !slices.Contains(d.Scorers, sc) {
					d.Scorers = append(d.Scorers, sc)
				}
			}
		}
		d.Points = append(d.Points, trendPoint{Run: run, Sum: sum})
	}
	lines := append([]string{"overall"}, d.Scorers...)
	for _, sc := range lines {
		line := trendLine{Scorer: sc}
		any := false
		for _, p := range d.Points {
			var v *float64
			if rt := p.Rate(sc); rt.Kind() == "pass" {
				x := math.Round(rt.Value()*10000) / 10000
				v, any = &x, true
			}
			line.Rates = append(line.Rates, v)
		}
		if any {
			d.Chart.Series = append(d.Chart.Series, line)
		}
	}
	for _, p := range d.Points {
		l := p.Run.StartedAt.Local().Format("01-02 15:04")
		if p.Run.Name != "" && d.Name == "" {
			l += " " + p.Run.Name
		}
		d.Chart.Labels = append(d.Chart.Labels, l)
		d.Chart.Runs = append(d.Chart.Runs, p.Run.ID)
	}
	title := d.Name
	if title == "" {
		title = d.Tag
	}
	s.render(w, r, "trend", "evalctl view: trend of "+title, "trend", d)
}
