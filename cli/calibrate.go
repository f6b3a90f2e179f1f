package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/stats"
	"github.com/evalctl/evalctl/store"
)

// humanLabel is a person's verdict on one stored answer for one scorer.
type humanLabel struct {
	Row, Prompt, Model, Scorer string
	Repeat                     int
	Pass                       bool
}

func (l humanLabel) key() string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%d\x00%s", l.Row, l.Prompt, l.Model, l.Repeat, l.Scorer)
}

var passWords = map[string]bool{"pass": true, "yes": true, "true": true, "1": true, "y": true, "passed": true}
var failWords = map[string]bool{"fail": true, "no": true, "false": true, "0": true, "n": true, "failed": true}

// readLabels reads a CSV of human labels: row_id, prompt, model, scorer,
// label (pass/fail, yes/no, true/false, 1/0), and optionally repeat.
// Header names match case- and space-insensitively; errors name the line.
func readLabels(path string) ([]humanLabel, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: no header: %v", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		col[strings.ReplaceAll(h, " ", "_")] = i
	}
	for _, need := range []string{"row_id", "prompt", "model", "scorer", "label"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%s:1: no %q column (want row_id, prompt, model, scorer, label and optionally repeat)", path, need)
		}
	}
	var out []humanLabel
	seen := map[string]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		get := func(c string) string {
			if i, ok := col[c]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		l := humanLabel{Row: get("row_id"), Prompt: get("prompt"), Model: get("model"), Scorer: get("scorer")}
		if l.Row == "" || l.Prompt == "" || l.Model == "" || l.Scorer == "" {
			return nil, fmt.Errorf("%s:%d: row_id, prompt, model and scorer must all be set", path, line)
		}
		if s := get("repeat"); s != "" {
			if l.Repeat, err = strconv.Atoi(s); err != nil || l.Repeat < 0 {
				return nil, fmt.Errorf("%s:%d: field repeat: %q is not a repeat index", path, line, s)
			}
		}
		v := strings.ToLower(get("label"))
		switch {
		case passWords[v]:
			l.Pass = true
		case failWords[v]:
		default:
			return nil, fmt.Errorf("%s:%d: field label: %q is not pass or fail (or yes/no, true/false, 1/0)", path, line, get("label"))
		}
		if first, dup := seen[l.key()]; dup {
			return nil, fmt.Errorf("%s:%d: the same answer and scorer were labelled on line %d", path, line, first)
		}
		seen[l.key()] = line
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no labels", path)
	}
	return out, nil
}

// calibration is how one scorer's judge agrees with human labels.
type calibration struct {
	Scorer string
	// N is the labelled answers found in the run with a judge verdict.
	N         int
	Accuracy  float64
	Precision float64 // of the judge's "fail"
	Recall    float64 // of the humans' "fail"
	Kappa     float64
	KappaLo   float64
	KappaHi   float64
	// Unjudged counts labels whose answer is not in the run, or that the
	// judge could not decide (errors, skipped).
	Unjudged      int
	Disagreements []disagreement
}

type disagreement struct {
	Row       string `json:"row_id"`
	Prompt    string `json:"prompt"`
	Model     string `json:"model"`
	Repeat    int    `json:"repeat,omitempty"`
	Human     string `json:"human"`
	Judge     string `json:"judge"`
	Rationale string `json:"rationale"`
}

// calibrate compares a run's judge verdicts with human labels, per scorer.
func calibrate(ctx context.Context, st *store.Store, run *store.Run, labels []humanLabel) ([]*calibration, error) {
	want := map[string]humanLabel{}
	for _, l := range labels {
		want[l.key()] = l
	}
	type pair struct{ human, judge bool }
	got := map[string][]pair{}
	found := map[string]bool{}
	byScorer := map[string]*calibration{}
	cal := func(s string) *calibration {
		if byScorer[s] == nil {
			byScorer[s] = &calibration{Scorer: s}
		}
		return byScorer[s]
	}
	err := st.EachRecord(ctx, run, true, func(r eval.Record) error {
		for _, fb := range r.Feedback {
			l, ok := want[humanLabel{Row: r.RowID, Prompt: r.Variant.Prompt.Name, Model: r.Variant.Model.Ref, Repeat: r.Repeat, Scorer: fb.Scorer}.key()]
			if !ok || fb.Pass == nil || fb.Err != "" {
				continue
			}
			found[l.key()] = true
			got[fb.Scorer] = append(got[fb.Scorer], pair{l.Pass, *fb.Pass})
			if l.Pass != *fb.Pass {
				c := cal(fb.Scorer)
				c.Disagreements = append(c.Disagreements, disagreement{Row: l.Row, Prompt: l.Prompt, Model: l.Model, Repeat: l.Repeat,
					Human: passFail(l.Pass), Judge: passFail(*fb.Pass), Rationale: fb.Rationale})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, l := range labels {
		if !found[l.key()] {
			cal(l.Scorer).Unjudged++
		}
	}
	var out []*calibration
	for s, c := range byScorer {
		ps := got[s]
		c.N = len(ps)
		var h, j []string
		tp, fp, fn, agree := 0, 0, 0, 0
		for _, p := range ps {
			h, j = append(h, passFail(p.human)), append(j, passFail(p.judge))
			if p.human == p.judge {
				agree++
			}
			switch {
			case !p.judge && !p.human:
				tp++
			case !p.judge && p.human:
				fp++
			case p.judge && !p.human:
				fn++
			}
		}
		c.Accuracy = ratio(agree, c.N)
		c.Precision, c.Recall = ratio(tp, tp+fp), ratio(tp, tp+fn)
		k := stats.CohenKappa(h, j)
		c.Kappa, c.KappaLo, c.KappaHi = k.Kappa, k.Lo, k.Hi
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Scorer < out[j].Scorer })
	return out, nil
}

func passFail(p bool) string { return map[bool]string{true: "pass", false: "fail"}[p] }

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func fmtNum(f float64) string {
	if math.IsNaN(f) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", f)
}

// CalibrateOptions are the inputs of `evalctl judge calibrate`.
type CalibrateOptions struct {
	StoreOptions
	// Assessment picks the scoring pass whose verdicts are read (0: latest).
	Assessment int
	Run        string
	Labels     string
	JSON       bool
}

func newCmdJudge(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "judge", Short: "Check LLM judges against people"}
	opts := &CalibrateOptions{}
	cal := &cobra.Command{
		Use:   "calibrate [RUN]",
		Short: "Compare a run's judge verdicts with human labels: accuracy, precision and recall of fail, Cohen's kappa",
		Long: `Compare the verdicts of a stored run's judges (default: the last run) with labels people gave
the same answers. The labels file is a CSV with the columns row_id, prompt, model, scorer and
label (pass or fail; yes/no, true/false and 1/0 are understood), and optionally repeat.

Per scorer it prints the answers compared, the accuracy, the precision and recall of "fail"
(how often the judge's fails are real, and how many real fails it catches), Cohen's kappa with a
95% interval, and every disagreement with the judge's rationale. A gate with
require_judge_kappa refuses to gate on a judge whose kappa is lower.

` + exitCodesHelp,
		Example: "  evalctl judge calibrate last --labels human.csv",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Run = "last"
			if len(args) == 1 {
				opts.Run = args[0]
			}
			if opts.Labels == "" {
				return usageErr("--labels FILE is required (a CSV: row_id, prompt, model, scorer, label)")
			}
			return runCalibrate(a, opts)
		},
	}
	addStoreFlags(cal, &opts.StoreOptions)
	cal.Flags().IntVar(&opts.Assessment, "assessment", 0, assessmentHelp)
	cal.Flags().StringVar(&opts.Labels, "labels", "", "CSV of human labels: row_id, prompt, model, scorer, label [, repeat]")
	cal.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	cmd.AddCommand(cal)
	return cmd
}

func runCalibrate(a *app, opts *CalibrateOptions) error {
	labels, err := readLabels(opts.Labels)
	if err != nil {
		return exitErr(ExitUsage, err, "")
	}
	st, err := opts.open(a)
	if err != nil {
		return err
	}
	defer st.Close()
	run, err := findRun(st, opts.Run, false)
	if err != nil {
		return err
	}
	if err := atAssessment(st, run, opts.Assessment); err != nil {
		return err
	}
	cals, err := calibrate(context.Background(), st, run, labels)
	if err != nil {
		return err
	}
	if opts.JSON {
		type jsonCal struct {
			Scorer        string         `json:"scorer"`
			N             int            `json:"answers"`
			Unjudged      int            `json:"unjudged"`
			Accuracy      *float64       `json:"accuracy"`
			Precision     *float64       `json:"fail_precision"`
			Recall        *float64       `json:"fail_recall"`
			Kappa         *float64       `json:"kappa"`
			KappaLo       *float64       `json:"kappa_lo"`
			KappaHi       *float64       `json:"kappa_hi"`
			Disagreements []disagreement `json:"disagreements"`
		}
		out := []jsonCal{}
		for _, c := range cals {
			out = append(out, jsonCal{c.Scorer, c.N, c.Unjudged, nanNil(c.Accuracy), nanNil(c.Precision), nanNil(c.Recall),
				nanNil(c.Kappa), nanNil(c.KappaLo), nanNil(c.KappaHi), append([]disagreement{}, c.Disagreements...)})
		}
		enc := json.NewEncoder(a.io.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	w := a.io.Stdout
	fmt.Fprintf(w, "run %s against %s (%d labels)\n", run.ID, opts.Labels, len(labels))
	for _, c := range cals {
		fmt.Fprintf(w, "\n%s: %d answers compared", c.Scorer, c.N)
		if c.Unjudged > 0 {
			fmt.Fprintf(w, " (%d labels without a judge verdict in this run)", c.Unjudged)
		}
		fmt.Fprintf(w, "\n  accuracy %s · fail precision %s · fail recall %s · Cohen's κ %s [%s, %s]\n",
			fmtNum(c.Accuracy), fmtNum(c.Precision), fmtNum(c.Recall), fmtNum(c.Kappa), fmtNum(c.KappaLo), fmtNum(c.KappaHi))
		for _, d := range c.Disagreements {
			fmt.Fprintf(w, "  %s %s × %s: human %s, judge %s: %s\n", d.Row, d.Prompt, d.Model, d.Human, d.Judge, reports.OneLine(d.Rationale, 120))
		}
	}
	return nil
}

func nanNil(f float64) *float64 {
	if math.IsNaN(f) {
		return nil
	}
	return &f
}
