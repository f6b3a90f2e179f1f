package view

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/store"
	"github.com/evalctl/evalctl/trace"
)

var nanValue = math.NaN()

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// spanView is one span of a trace as the cell page shows it.
type spanView struct {
	trace.Span
	// Offset is the start after the first span of its trace.
	Offset time.Duration
}

func spansOf(spans []trace.Span) []spanView {
	out := make([]spanView, 0, len(spans))
	var base time.Time
	for _, sp := range spans {
		if base.IsZero() || (!sp.Start.IsZero() && sp.Start.Before(base)) {
			base = sp.Start
		}
	}
	for _, sp := range spans {
		v := spanView{Span: sp}
		if !sp.Start.IsZero() {
			v.Offset = sp.Start.Sub(base)
		}
		out = append(out, v)
	}
	return out
}

// criterionView is one scorer of a cell: its verdict, the judge calls
// behind it, and what people said.
type criterionView struct {
	verdictView
	Spans []spanView
	// Label is the latest human label; History every one, oldest first.
	Label   *store.Label
	History []store.Label
	// Labelable is set for the scorers people can label here.
	Labelable bool
}

// cellData is the cell page.
type cellData struct {
	Run      *store.Run
	Rec      eval.Record
	Variant  string
	Vars     [][2]string
	Criteria []criterionView
	Steps    []spanView
	// Q is the list the cell was opened from; Pos its place there, with
	// the neighbours' cell numbers (-1 for none) and the list's length.
	Q                 listQuery
	Pos               int
	PrevIdx, NextIdx  int
	PrevPos, NextPos  int
	Total             int
	HasList, InList   bool
	ListQuery, Return string
}

func (s *Server) cellPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	run, err := s.run(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	idx, err := strconv.Atoi(r.PathValue("idx"))
	if err != nil {
		s.fail(w, r, badRequestf("cell %q: want its number", r.PathValue("idx")))
		return
	}
	rec, err := s.st.Cell(ctx, run, idx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q, err := parseListQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lay := run.Spec.Layout
	labels := eval.Labels(lay.AllVariants())
	d := cellData{Run: run, Rec: rec, Variant: variantName(rec.Variant, labels[rec.Variant.ID]), Steps: spansOf(rec.Steps), PrevIdx: -1, NextIdx: -1}
	for k, v := range rec.Vars {
		d.Vars = append(d.Vars, [2]string{k, v})
	}
	slices.SortFunc(d.Vars, func(a, b [2]string) int {
		if a[0] < b[0] {
			return -1
		}
		if a[0] > b[0] {
			return 1
		}
		return 0
	})
	history, err := s.st.LabelHistory(ctx, run.ID, rec.Variant.ID, rec.RowID, rec.Repeat)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	verdicts := verdictsOf(rec)
	for _, sc := range lay.Scorers {
		c := criterionView{verdictView: verdictView{Scorer: sc, Outcome: "none"}}
		for _, v := range verdicts {
			if v.Scorer == sc {
				c.verdictView = v
				c.Spans = spansOf(v.Spans)
			}
		}
		for _, l := range history {
			if l.Criterion == sc {
				c.History = append(c.History, l)
				c.Label = &c.History[len(c.History)-1]
			}
		}
		c.Labelable = rec.Err == nil && c.Outcome != "score"
		d.Criteria = append(d.Criteria, c)
	}
	// The cell's neighbours in the list it was opened from, found from
	// where it stands now: labels re-sort a review queue and move answers
	// out of a "not labelled" list.
	if given, err := intParam(r, "pos", -1); err == nil && given >= 0 {
		sq := q.store()
		if pos, in, err := s.st.Position(ctx, run, sq, rec.Index); err == nil {
			next := pos + 1
			if !in {
				next = pos // the cell left the list: the one now in its place is next
			}
			sq.Offset, sq.Limit = max(0, pos-1), next-max(0, pos-1)+1
			if page, err := s.st.Cells(ctx, run, sq); err == nil {
				d.HasList, d.InList, d.Pos, d.Total = true, in, pos, page.Total
				for i, nb := range page.Records {
					switch p := sq.Offset + i; {
					case p == pos-1 && nb.Index != rec.Index:
						d.PrevIdx, d.PrevPos = nb.Index, p
					case p == next && nb.Index != rec.Index:
						d.NextIdx, d.NextPos = nb.Index, p
					}
				}
			}
			q.Page = pos/cellsPerPage + 1
		}
	}
	d.Q = q
	back := q.values()
	d.Return = "/runs/" + run.ID
	if enc := back.Encode(); enc != "" {
		d.Return += "?" + enc
	}
	back.Del("page")
	d.ListQuery = back.Encode()
	s.render(w, r, "cell", "evalctl view: cell "+strconv.Itoa(rec.Index)+" of "+run.ID, "runs", d)
}

// CellLink returns the address of another cell of the same list.
func (d cellData) CellLink(idx, pos int) string {
	u := "/runs/" + d.Run.ID + "/cells/" + strconv.Itoa(idx) + "?"
	if d.ListQuery != "" {
		u += d.ListQuery + "&"
	}
	return u + "pos=" + strconv.Itoa(pos)
}

// Truncated reports whether a text ends with the trace's cut marker.
func (d cellData) Truncated(s string) bool { return strings.HasSuffix(s, trace.Marker) }

// Self returns the cell's own address (in its list, when it has one).
func (d cellData) Self() string {
	if d.HasList {
		return d.CellLink(d.Rec.Index, d.Pos)
	}
	return "/runs/" + d.Run.ID + "/cells/" + strconv.Itoa(d.Rec.Index)
}
