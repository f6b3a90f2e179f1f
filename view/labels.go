package view

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evalctl/evalctl/store"
)

// labelRequest is a label as the page posts it: the answer by its cell
// number, the criterion, pass or fail (or "" with a comment), a comment.
type labelRequest struct {
	Cell      int    `json:"cell"`
	Criterion string `json:"criterion"`
	Value     string `json:"value"`
	Comment   string `json:"comment"`
}

// labelJSON is a stored label as the page reads it back.
type labelJSON struct {
	ID        int64  `json:"id"`
	Cell      int    `json:"cell"`
	Criterion string `json:"criterion"`
	Value     string `json:"value"`
	Comment   string `json:"comment"`
	Author    string `json:"author"`
	At        string `json:"at"`
}

// postLabel records a label, from the page's script (JSON, answered with
// the label) or from its form (answered with a way back to the page).
func (s *Server) postLabel(w http.ResponseWriter, r *http.Request) {
	run, err := s.run(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req labelRequest
	isJSON := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	if isJSON {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			s.fail(w, r, badRequestf("label: %v", err))
			return
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, badRequestf("label: %v", err))
			return
		}
		if req.Cell, err = strconv.Atoi(r.PostForm.Get("cell")); err != nil {
			s.fail(w, r, badRequestf("label: cell %q is not a cell number", r.PostForm.Get("cell")))
			return
		}
		req.Criterion, req.Value, req.Comment = r.PostForm.Get("criterion"), r.PostForm.Get("value"), r.PostForm.Get("comment")
	}
	rec, err := s.st.Cell(r.Context(), run, req.Cell)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case rec.Err != nil:
		s.fail(w, r, badRequestf("cell %d has no answer to label (its generation failed)", rec.Index))
		return
	case !slices.Contains(run.Spec.Layout.Scorers, req.Criterion):
		s.fail(w, r, badRequestf("criterion %q: the run has no such scorer", req.Criterion))
		return
	case req.Value != store.LabelPass && req.Value != store.LabelFail && req.Value != "":
		s.fail(w, r, badRequestf("label %q: want pass or fail", req.Value))
		return
	case req.Value == "" && strings.TrimSpace(req.Comment) == "":
		s.fail(w, r, badRequestf("a label needs pass, fail or a comment"))
		return
	}
	if req.Value == "" {
		// A comment keeps the answer's verdict: the new entry, the latest,
		// must not read as "no verdict".
		history, err := s.st.LabelHistory(r.Context(), run.ID, rec.Variant.ID, rec.RowID, rec.Repeat)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, h := range history {
			if h.Criterion == req.Criterion {
				req.Value = h.Value
			}
		}
	}
	l := &store.Label{Variant: rec.Variant.ID, RowID: rec.RowID, Repeat: rec.Repeat, Criterion: req.Criterion, Value: req.Value,
		Comment: strings.TrimSpace(req.Comment), Author: s.opts.Author}
	if err := s.st.AddLabels(r.Context(), run, []*store.Label{l}); err != nil {
		s.fail(w, r, err)
		return
	}
	if !isJSON {
		http.Redirect(w, r, localPath(r.PostForm.Get("back"), "/runs/"+run.ID+"/cells/"+strconv.Itoa(rec.Index)), http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(labelJSON{ID: l.ID, Cell: rec.Index, Criterion: l.Criterion, Value: l.Value, Comment: l.Comment,
		Author: l.Author, At: l.CreatedAt.Local().Format(time.DateTime)})
}
