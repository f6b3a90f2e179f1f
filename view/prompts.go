package view

import (
	"net/http"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/evalctl/evalctl/store"
)

// promptName is a template name with its number of stored versions.
type promptName struct {
	Name     string
	Versions int
	Latest   string
}

// promptVersion is a stored version and the runs that used it.
type promptVersion struct {
	store.PromptVersion
	Runs []*store.Run
}

// diffLine is a line of a unified diff: Kind is "add", "del", "hunk",
// "file" or "" (context).
type diffLine struct {
	Kind, Text string
}

// promptsData is the prompts page.
type promptsData struct {
	Names    []promptName
	Name     string
	Versions []promptVersion
	A, B     *store.PromptVersion
	Diff     []diffLine
	Same     bool
}

func (s *Server) promptsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	all, err := s.st.PromptVersions(ctx, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := promptsData{Name: q.Get("name")}
	for _, v := range all { // by name, newest first
		if n := len(d.Names); n > 0 && d.Names[n-1].Name == v.Name {
			d.Names[n-1].Versions++
			continue
		}
		d.Names = append(d.Names, promptName{Name: v.Name, Versions: 1, Latest: v.Version})
	}
	if d.Name == "" {
		s.render(w, r, "prompts", "evalctl view: prompts", "prompts", d)
		return
	}
	runs, err := s.st.Runs(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, v := range all {
		if v.Name != d.Name {
			continue
		}
		pv := promptVersion{PromptVersion: v}
		for _, run := range runs {
			for _, vs := range run.Spec.Layout.AllVariants() {
				used := vs.Prompt.Name == v.Name && vs.Prompt.Version == v.Version
				used = used || (vs.System != nil && vs.System.Name == v.Name && vs.System.Version == v.Version)
				if used {
					pv.Runs = append(pv.Runs, run)
					break
				}
			}
		}
		d.Versions = append(d.Versions, pv)
	}
	if len(d.Versions) == 0 {
		s.fail(w, r, store.ErrNoPrompt)
		return
	}
	// Compare a with b: by default the version before the latest with the latest.
	ra, rb := q.Get("a"), q.Get("b")
	if rb == "" {
		rb = d.Versions[0].Version
	}
	if ra == "" && len(d.Versions) > 1 {
		ra = d.Versions[1].Version
	}
	if ra == "" {
		s.render(w, r, "prompts", "evalctl view: prompt "+d.Name, "prompts", d)
		return
	}
	if d.A, err = s.st.PromptVersion(ctx, d.Name, ra); err != nil {
		s.fail(w, r, err)
		return
	}
	if d.B, err = s.st.PromptVersion(ctx, d.Name, rb); err != nil {
		s.fail(w, r, err)
		return
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(d.A.Text), B: difflib.SplitLines(d.B.Text),
		FromFile: d.Name + "@" + d.A.Version, ToFile: d.Name + "@" + d.B.Version, Context: 3})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Same = text == ""
	for _, line := range strings.SplitAfter(text, "\n") {
		if line == "" {
			continue
		}
		kind := ""
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			kind = "file"
		case strings.HasPrefix(line, "@@"):
			kind = "hunk"
		case strings.HasPrefix(line, "+"):
			kind = "add"
		case strings.HasPrefix(line, "-"):
			kind = "del"
		}
		d.Diff = append(d.Diff, diffLine{Kind: kind, Text: strings.TrimRight(line, "\n")})
	}
	s.render(w, r, "prompts", "evalctl view: prompt "+d.Name, "prompts", d)
}
