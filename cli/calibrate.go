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

// humanLabel is a person's verdict on one stored answer for one scorer,
// as a labels CSV gives it.
type humanLabel struct {
	Row, Prompt, Model, Scorer string
	// Variant, when the file has the column, names the answer's variant
	// (its ID or label): what tells apart two variants of one prompt and
	// model (a temperature sweep).
	Variant string
	Repeat  int
	Pass    bool
	// Line is the label's line in its file; Comment and Author its
	// optional columns.
	Line            int
	Comment, Author string
}

func (l humanLabel) key() string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%d\x00%s\x00%s", l.Row, l.Prompt, l.Model, l.Repeat, l.Scorer, l.Variant)
}

// matches reports whether the label is of record r's answer (variant by
// ID or label when the label names one).
func (l humanLabel) matches(r eval.Record, label string) bool {
	return l.Row == r.RowID && l.Prompt == r.Variant.Prompt.Name && l.Model == r.Variant.Model.Ref && l.Repeat == r.Repeat &&
		(l.Variant == "" || l.Variant == r.Variant.ID || l.Variant == label)
}

var passWords = map[string]bool{"pass": true, "yes": true, "true": true, "1": true, "y": true, "passed": true}
var failWords = map[string]bool{"fail": true, "no": true, "false": true, "0": true, "n": true, "failed": true}

// readLabels reads a CSV of human labels: row_id, prompt, model, scorer,
// label (pass/fail, yes/no, true/false, 1/0), and optionally repeat,
// variant (an ID or label), comment and author; other columns are ignored.
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
			return nil, fmt.Errorf("%s:1: no %q column (want row_id, prompt, model, scorer, label and optionally repeat, variant, comment, author)", path, need)
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
		l := humanLabel{Row: get("row_id"), Prompt: get("prompt"), Model: get("model"), Scorer: get("scorer"), Variant: get("variant"),
			Line: line, Comment: get("comment"), Author: get("author")}
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

// calPair is a human label beside the verdict of its scorer on the same
// answer: Judge is nil when the scorer did not decide it (an error, a skip)
// or the run does not hold the answer.
type calPair struct {
	Scorer             string
	Human              bool
	Judge              *bool
	Row, Prompt, Model string
	Repeat             int
	Rationale          string
}

// calibrate compares a run's judge verdicts with the human labels of a
// file, per scorer.
func calibrate(ctx context.Context, st *store.Store, run *store.Run, labels []humanLabel) ([]*calibration, error) {
	byAnswer := map[string][]int{} // row, prompt, model, repeat → labels
	answerKey := func(row, prompt, model string, repeat int) string {
		return fmt.Sprintf("%s\x00%s\x00%s\x00%d", row, prompt, model, repeat)
	}
	for i, l := range labels {
		k := answerKey(l.Row, l.Prompt, l.Model, l.Repeat)
		byAnswer[k] = append(byAnswer[k], i)
	}
	names := eval.Labels(run.Spec.Layout.AllVariants())
	judged := make([]*calPair, len(labels))
	err := st.EachRecord(ctx, run, true, func(r eval.Record) error {
		for _, i := range byAnswer[answerKey(r.RowID, r.Variant.Prompt.Name, r.Variant.Model.Ref, r.Repeat)] {
			l := labels[i]
			if !l.matches(r, names[r.Variant.ID]) {
				continue
			}
			for _, fb := range r.Feedback {
				if fb.Scorer != l.Scorer || fb.Pass == nil || fb.Err != "" || fb.Skipped {
					continue
				}
				p := *fb.Pass
				judged[i] = &calPair{Judge: &p, Rationale: fb.Rationale}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	pairs := make([]calPair, len(labels))
	for i, l := range labels {
		pairs[i] = calPair{Scorer: l.Scorer, Human: l.Pass, Row: l.Row, Prompt: l.Prompt, Model: l.Model, Repeat: l.Repeat}
		if j := judged[i]; j != nil {
			pairs[i].Judge, pairs[i].Rationale = j.Judge, j.Rationale
		}
	}
	return calibrations(pairs), nil
}

// calibrateStored compares a run's judge verdicts with the labels people
// gave its answers (evalctl view, or imported), the latest of each.
func calibrateStored(ctx context.Context, st *store.Store, run *store.Run) ([]*calibration, int, error) {
	lvs, err := st.LabelVerdicts(ctx, run)
	if err != nil {
		return nil, 0, err
	}
	pairs := make([]calPair, 0, len(lvs))
	for _, lv := range lvs {
		human, _ := lv.Label.Pass()
		pairs = append(pairs, calPair{Scorer: lv.Criterion, Human: human, Judge: lv.Pass, Row: lv.RowID, Prompt: lv.Prompt,
			Model: lv.Model, Repeat: lv.Repeat, Rationale: lv.Rationale})
	}
	return calibrations(pairs), len(lvs), nil
}

// calibrations computes, per scorer, how its verdicts agree with people's.
func calibrations(pairs []calPair) []*calibration {
	byScorer := map[string]*calibration{}
	type hj struct{ human, judge bool }
	got := map[string][]hj{}
	for _, p := range pairs {
		c := byScorer[p.Scorer]
		if c == nil {
			c = &calibration{Scorer: p.Scorer}
			byScorer[p.Scorer] = c
		}
		if p.Judge == nil {
			c.Unjudged++
			continue
		}
		got[p.Scorer] = append(got[p.Scorer], hj{p.Human, *p.Judge})
		if p.Human != *p.Judge {
			c.Disagreements = append(c.Disagreements, disagreement{Row: p.Row, Prompt: p.Prompt, Model: p.Model, Repeat: p.Repeat,
				Human: passFail(p.Human), Judge: passFail(*p.Judge), Rationale: p.Rationale})
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
	return out
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
		Long: `Compare the verdicts of a stored run's judges (default: the last run) with the labels people
gave the same answers: those stored with the run (labelled in evalctl view, or imported with
evalctl judge labels import), the latest of each answer and criterion; or, with --labels, those
of a CSV file with the columns row_id, prompt, model, scorer and label (pass or fail; yes/no,
true/false and 1/0 are understood), and optionally repeat and variant.

Per scorer it prints the answers compared, the accuracy, the precision and recall of "fail"
(how often the judge's fails are real, and how many real fails it catches), Cohen's kappa with a
95% interval, and every disagreement with the judge's rationale. A gate with
require_judge_kappa refuses to gate on a judge whose kappa is lower.

` + exitCodesHelp,
		Example: `  evalctl judge calibrate last                     # the labels given in evalctl view
  evalctl judge calibrate last --labels human.csv  # or those of a file`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Run = "last"
			if len(args) == 1 {
				opts.Run = args[0]
			}
			return runCalibrate(a, opts)
		},
	}
	addStoreFlags(cal, &opts.StoreOptions)
	cal.Flags().IntVar(&opts.Assessment, "assessment", 0, assessmentHelp)
	cal.Flags().StringVar(&opts.Labels, "labels", "", "CSV of human labels (row_id, prompt, model, scorer, label [, repeat, variant]) instead of the stored ones")
	cal.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	cmd.AddCommand(cal, newCmdLabels(a))
	return cmd
}

func runCalibrate(a *app, opts *CalibrateOptions) error {
	var labels []humanLabel
	if opts.Labels != "" {
		var err error
		if labels, err = readLabels(opts.Labels); err != nil {
			return exitErr(ExitUsage, err, "")
		}
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
	source := opts.Labels
	var cals []*calibration
	if labels != nil {
		cals, err = calibrate(context.Background(), st, run, labels)
	} else {
		var n int
		cals, n, err = calibrateStored(context.Background(), st, run)
		if err == nil && n == 0 {
			return usageErr("run %s has no human labels: label its answers in evalctl view, import a CSV (evalctl judge labels import FILE %s), or pass --labels FILE", run.ID, run.ID)
		}
		source = fmt.Sprintf("the labels stored with it (%d)", n)
	}
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
	if labels != nil {
		source = fmt.Sprintf("%s (%d labels)", opts.Labels, len(labels))
	}
	fmt.Fprintf(w, "run %s against %s\n", run.ID, source)
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
