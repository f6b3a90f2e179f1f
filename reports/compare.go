package reports

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/stats"
)

// MinPairs is the fewest paired questions on which a difference is tested;
// below it the comparison says "too few pairs".
const MinPairs = 10

// Difference compares one prompt × model × scorer between two runs, paired
// by question.
type Difference struct {
	// Variant is run B's variant (its ID); Label names it when the prompt
	// and model do not.
	Variant string `json:"variant,omitempty"`
	Label   string `json:"label,omitempty"`
	Prompt  string `json:"prompt"`
	// VersionA and VersionB are the prompt's versions in each run.
	VersionA string `json:"version_a"`
	VersionB string `json:"version_b"`
	Model    string `json:"model"`
	Scorer   string `json:"scorer"`
	// Kind is "pass" (pass rates, McNemar's exact test) or "score" (means,
	// paired bootstrap).
	Kind string `json:"kind"`
	// A and B are the pass rates (or means) over the paired questions.
	A     float64 `json:"a"`
	B     float64 `json:"b"`
	Pairs int     `json:"pairs"`
	// Delta is B − A with its 95% paired-bootstrap interval.
	Delta float64 `json:"delta"`
	Lo    float64 `json:"delta_lo"`
	Hi    float64 `json:"delta_hi"`
	// P is McNemar's exact p-value (pass/fail scorers only; NaN otherwise).
	P           float64 `json:"-"`
	Significant bool    `json:"significant"`
	TooFew      bool    `json:"too_few_pairs"`
	// Unpaired is set against a baseline known only by its JSON report: the
	// rates are compared, with no interval and no test.
	Unpaired bool `json:"unpaired,omitempty"`
	// Regressed lists questions that passed in A and fail in B; Improved the reverse.
	Regressed []Question `json:"regressed"`
	Improved  []Question `json:"improved"`
}

// Question identifies a dataset row in a comparison.
type Question struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// RunComparison is the paired comparison of run B against run A.
type RunComparison struct {
	A, B        RunMeta
	Differences []Difference
}

type outcome struct {
	passes, fails int
	scores        []float64
}

// cellKey is a variant (its ID) and a scorer.
type cellKey struct{ variant, scorer string }

// outcomes aggregates a run's feedback per question: across repeats a
// question passes when most of its decided outcomes pass, and a numeric score
// is averaged. Errors and skips are left out.
func outcomes(results Each) (map[cellKey]map[string]*outcome, map[string]string, error) {
	out := map[cellKey]map[string]*outcome{}
	texts := map[string]string{}
	err := results(func(r eval.Record) error {
		if r.Err != nil {
			return nil
		}
		if _, ok := texts[r.RowID]; !ok {
			texts[r.RowID] = questionText(r.Vars)
		}
		for _, fb := range r.Feedback {
			if fb.Err != "" || fb.Skipped {
				continue
			}
			k := cellKey{r.Variant.ID, fb.Scorer}
			if out[k] == nil {
				out[k] = map[string]*outcome{}
			}
			o := out[k][r.RowID]
			if o == nil {
				o = &outcome{}
				out[k][r.RowID] = o
			}
			switch {
			case fb.Pass != nil && *fb.Pass:
				o.passes++
			case fb.Pass != nil:
				o.fails++
			case fb.Score != nil:
				o.scores = append(o.scores, *fb.Score)
			}
		}
		return nil
	})
	return out, texts, err
}

func questionText(vars map[string]string) string {
	for _, k := range []string{"question", "input", "prompt", "query"} {
		if v, ok := vars[k]; ok {
			return v
		}
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		return vars[keys[0]]
	}
	return ""
}

// CompareRuns pairs run B's outcomes with run A's by variant (its label, or
// its prompt name and model with its parameters: eval.VariantSpec.Slot),
// scorer and question, for every combination present in both. The runs are
// streamed: what is kept is one outcome per question, not the answers.
func CompareRuns(a RunMeta, la eval.Layout, ra Each, b RunMeta, lb eval.Layout, rb Each) (*RunComparison, error) {
	oa, texts, err := outcomes(ra)
	if err != nil {
		return nil, err
	}
	ob, textsB, err := outcomes(rb)
	if err != nil {
		return nil, err
	}
	for k, v := range textsB {
		if _, ok := texts[k]; !ok {
			texts[k] = v
		}
	}
	rc := &RunComparison{A: a, B: b}
	inB := func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	va, vb := la.AllVariants(), lb.AllVariants()
	pairs := PairVariants(va, vb)
	versionA := map[string]string{}
	for _, v := range va {
		versionA[v.ID] = v.Prompt.Version
	}
	labels := eval.Labels(vb)
	for _, v := range vb {
		aID, ok := pairs[v.ID]
		if !ok {
			continue
		}
		for _, sc := range lb.Scorers {
			if !inB(la.Scorers, sc) {
				continue
			}
			ka, kb := cellKey{aID, sc}, cellKey{v.ID, sc}
			if oa[ka] == nil || ob[kb] == nil {
				continue
			}
			d := difference(kb, v.Prompt.Name, v.Model.Ref, oa[ka], ob[kb], texts)
			d.Variant, d.Label = v.ID, labels[v.ID]
			d.VersionA, d.VersionB = versionA[aID], v.Prompt.Version
			rc.Differences = append(rc.Differences, d)
		}
	}
	return rc, nil
}

// PairVariants pairs each variant of run B with its counterpart in run A,
// by ID: the same variant (the same prompt version, system prompt, model
// and parameters); else, where each run has exactly one variant of a slot
// (its label, or its prompt name, model and parameters: eval.VariantSpec.Slot),
// by slot, so that a new version of a prompt or system prompt compares with
// the old. Variants that pair with nothing are left out.
func PairVariants(a, b []eval.VariantSpec) map[string]string {
	ids := map[string]bool{}
	slotsA, slotsB := map[string][]string{}, map[string]int{}
	for _, v := range a {
		ids[v.ID] = true
		slotsA[v.Slot()] = append(slotsA[v.Slot()], v.ID)
	}
	for _, v := range b {
		slotsB[v.Slot()]++
	}
	out := map[string]string{}
	for _, v := range b {
		switch s := v.Slot(); {
		case ids[v.ID]:
			out[v.ID] = v.ID
		case len(slotsA[s]) == 1 && slotsB[s] == 1:
			out[v.ID] = slotsA[s][0]
		}
	}
	return out
}

func difference(k cellKey, prompt, model string, a, b map[string]*outcome, texts map[string]string) Difference {
	d := Difference{Prompt: prompt, Model: model, Scorer: k.scorer, Kind: "pass", P: math.NaN()}
	var ids []string
	for id := range a {
		if _, ok := b[id]; ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	numeric := false
	for _, id := range ids {
		if len(a[id].scores) > 0 && a[id].passes+a[id].fails == 0 {
			numeric = true
		}
	}
	var diffs []float64
	var sumA, sumB float64
	disA, disB := 0, 0 // passed only in A / only in B
	for _, id := range ids {
		oa, ob := a[id], b[id]
		var va, vb float64
		if numeric {
			if len(oa.scores) == 0 || len(ob.scores) == 0 {
				continue
			}
			va, vb = stats.Mean(oa.scores), stats.Mean(ob.scores)
		} else {
			if oa.passes+oa.fails == 0 || ob.passes+ob.fails == 0 {
				continue
			}
			pa, pb := oa.passes > oa.fails, ob.passes > ob.fails
			va, vb = b2f(pa), b2f(pb)
			q := Question{ID: id, Text: texts[id]}
			switch {
			case pa && !pb:
				disA++
				d.Regressed = append(d.Regressed, q)
			case !pa && pb:
				disB++
				d.Improved = append(d.Improved, q)
			}
		}
		sumA += va
		sumB += vb
		diffs = append(diffs, vb-va)
	}
	d.Pairs = len(diffs)
	if numeric {
		d.Kind = "score"
	}
	if d.Pairs == 0 {
		d.TooFew = true
		return d
	}
	d.A, d.B = sumA/float64(d.Pairs), sumB/float64(d.Pairs)
	h := fnv.New64a()
	fmt.Fprint(h, prompt, "\x00", model, "\x00", k.scorer)
	d.Delta, d.Lo, d.Hi = stats.PairedBootstrap(diffs, 0.95, 2000, h.Sum64())
	if d.Pairs < MinPairs {
		d.TooFew = true
		return d
	}
	if numeric {
		d.Significant = d.Lo > 0 || d.Hi < 0
	} else {
		d.P = stats.McNemarExact(disA, disB)
		d.Significant = d.P < 0.05
	}
	return d
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WriteCompareTable renders a run comparison: a row per prompt × model ×
// scorer, then the questions that went from pass to fail.
func WriteCompareTable(w io.Writer, rc *RunComparison) error {
	fmt.Fprintf(w, "A: %s\nB: %s\n", describe(rc.A), describe(rc.B))
	if len(rc.Differences) == 0 {
		fmt.Fprintln(w, "The runs share no prompt × model × scorer with decided outcomes.")
		return nil
	}
	t := tablewriter.NewTable(w)
	t.Configure(func(c *tablewriter.Config) {
		c.Header.Formatting.AutoFormat = tw.Off
		c.Header.Alignment.Global = tw.AlignLeft
		c.Row.Alignment.Global = tw.AlignRight
		c.Row.Alignment.PerColumn = []tw.Align{tw.AlignLeft, tw.AlignLeft, tw.AlignLeft}
	})
	t.Header("prompt", "model", "scorer", "A", "B", "B − A (95% CI)", "test", "pairs", "pass→fail")
	for _, d := range rc.Differences {
		prompt := d.Prompt
		if d.VersionA != d.VersionB {
			prompt += "@" + d.VersionA + "→" + d.VersionB
		}
		if d.Label != "" {
			prompt = d.Label + ": " + prompt
		}
		t.Append(prompt, d.Model, d.Scorer, value(d.Kind, d.A), value(d.Kind, d.B), delta(d), verdict(d),
			fmt.Sprint(d.Pairs), fmt.Sprint(len(d.Regressed)))
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintln(w, "Paired by question. Pass/fail: McNemar's exact test; scores: paired bootstrap. * marks p < 0.05 (or an interval excluding 0).")
	for _, d := range rc.Differences {
		if len(d.Regressed) == 0 {
			continue
		}
		where := d.Prompt + " × " + d.Model
		if d.Label != "" {
			where = d.Label + " (" + where + ")"
		}
		fmt.Fprintf(w, "\n%s · %s: %d passed in A and fail in B\n", d.Scorer, where, len(d.Regressed))
		for i, q := range d.Regressed {
			if i == 10 {
				fmt.Fprintf(w, "  … and %d more\n", len(d.Regressed)-10)
				break
			}
			fmt.Fprintf(w, "  %s  %s\n", q.ID, OneLine(q.Text, 90))
		}
	}
	return nil
}

func describe(m RunMeta) string {
	s := m.ID
	if m.Name != "" {
		s += " (" + m.Name + ")"
	}
	return s + " " + m.StartedAt.Local().Format("2006-01-02 15:04")
}

func value(kind string, v float64) string {
	if kind == "pass" {
		return fmt.Sprintf("%.1f%%", 100*v)
	}
	return fmt.Sprintf("%.3g", v)
}

func delta(d Difference) string {
	if d.Pairs == 0 {
		return "-"
	}
	if d.Kind == "pass" {
		return fmt.Sprintf("%+.1f pp [%+.1f, %+.1f]", 100*d.Delta, 100*d.Lo, 100*d.Hi)
	}
	return fmt.Sprintf("%+.3g [%+.3g, %+.3g]", d.Delta, d.Lo, d.Hi)
}

func verdict(d Difference) string {
	switch {
	case d.TooFew:
		return "too few pairs"
	case d.Kind == "pass" && d.Significant:
		return fmt.Sprintf("p=%.3g *", d.P)
	case d.Kind == "pass":
		return fmt.Sprintf("p=%.3g", d.P)
	case d.Significant:
		return "CI excludes 0 *"
	}
	return "CI includes 0"
}

// OneLine folds s onto one line of at most n characters (an ellipsis marks
// a cut).
func OneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// WriteCompareJSON writes the comparison as JSON.
func WriteCompareJSON(w io.Writer, rc *RunComparison) error {
	type diffJSON struct {
		Difference
		P *float64 `json:"p_value"`
	}
	doc := struct {
		A           RunMeta    `json:"a"`
		B           RunMeta    `json:"b"`
		Differences []diffJSON `json:"differences"`
	}{A: rc.A, B: rc.B}
	for _, d := range rc.Differences {
		dj := diffJSON{Difference: d}
		if !math.IsNaN(d.P) {
			p := d.P
			dj.P = &p
		}
		if dj.Regressed == nil {
			dj.Regressed = []Question{}
		}
		if dj.Improved == nil {
			dj.Improved = []Question{}
		}
		doc.Differences = append(doc.Differences, dj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
