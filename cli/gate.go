package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/gates"
	"github.com/evalctl/evalctl/gates/spec"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
)

// GateFlags are the gate options shared by run and gate.
type GateFlags struct {
	FailUnder         []string
	MaxDrop           []string
	NoSignificantDrop []string
	Baseline          string
	Labels            string
}

func addGateFlags(cmd *cobra.Command, g *GateFlags) {
	f := cmd.Flags()
	f.StringArrayVar(&g.FailUnder, "fail-under", nil, "gate: exit 1 when SCORER's pass rate (or mean) is under MIN in any variant, as SCORER=MIN with MIN from 0 to 1; SCORER may be 'overall' and take @PROMPT (or @LABEL, @VARIANT-ID) and /MODEL (repeatable)")
	f.StringArrayVar(&g.MaxDrop, "max-drop", nil, "gate: exit 1 when SCORER fell more than DROP from --baseline, as SCORER=DROP with DROP from 0 to 1 (0.05: 5 points) (repeatable)")
	f.StringArrayVar(&g.NoSignificantDrop, "no-significant-drop", nil, "gate: exit 1 when SCORER fell significantly from --baseline (McNemar p < 0.05, paired by question) (repeatable)")
	f.StringVar(&g.Labels, "labels", "", "human labels (CSV: row_id, prompt, model, scorer, label) for gates with require_judge_kappa (default: labels: in evalctl.yaml)")
	f.StringVar(&g.Baseline, "baseline", "", "baseline for regression gates: a stored run (id, prefix, name or 'last'), or a report.json (max-drop only: it has no per-question outcomes)")
}

// check parses the gate flags alone, so that a malformed one is refused as
// the command line is read.
func (g *GateFlags) check() error {
	_, err := g.gates(&config.Config{})
	return err
}

// gates gathers the config's gates and the flags' into one list.
func (g *GateFlags) gates(cfg *config.Config) ([]spec.Gate, error) {
	var out []spec.Gate
	for _, gc := range cfg.Gates {
		out = append(out, gc.Gate)
	}
	for _, s := range g.FailUnder {
		x, err := spec.ParseFailUnder(s)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		out = append(out, x)
	}
	for _, s := range g.MaxDrop {
		x, err := spec.ParseMaxDrop(s)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		out = append(out, x)
	}
	for _, s := range g.NoSignificantDrop {
		x := spec.Gate{NoSignificantDrop: true, Source: "--no-significant-drop " + s}
		x.Scorer, x.Prompt, x.Model = spec.SplitTarget(s)
		out = append(out, x)
	}
	return out, nil
}

// baseline is what regression gates compare against: a stored run, or a
// JSON report.
type baseline struct {
	run    *store.Run
	report *reports.JSONReport
	// labels are people's verdicts, for gates that require their judge to
	// agree with them.
	labels     []humanLabel
	labelsPath string
}

// resolveGates validates gates against a layout and finds the baseline.
func resolveGates(st *store.Store, cfg *config.Config, flags *GateFlags, lay eval.Layout) ([]spec.Gate, *baseline, error) {
	gates, err := flags.gates(cfg)
	if err != nil {
		return nil, nil, err
	}
	gp := spec.Plan{Scorers: lay.Scorers}
	variants := lay.AllVariants()
	names := eval.Labels(variants)
	for _, v := range variants {
		// english@PROMPT, english@LABEL or english@VARIANT-ID.
		for _, n := range []string{v.Prompt.Name, names[v.ID], v.ID} {
			if n != "" && !slices.Contains(gp.Prompts, n) {
				gp.Prompts = append(gp.Prompts, n)
			}
		}
		if !slices.Contains(gp.Models, v.Model.Ref) {
			gp.Models = append(gp.Models, v.Model.Ref)
		}
	}
	needBase, needLabels := false, false
	for _, g := range gates {
		if err := g.Validate(gp); err != nil {
			return nil, nil, usageErr("%v", err)
		}
		needBase = needBase || g.NeedsBaseline()
		needLabels = needLabels || g.RequireJudgeKappa != nil
	}
	var labels []humanLabel
	labelsPath := flags.Labels
	if labelsPath == "" && cfg.Labels != "" {
		labelsPath = cfg.Resolve(cfg.Labels)
	}
	if needLabels {
		if labelsPath == "" {
			return nil, nil, usageErr("require_judge_kappa needs human labels: labels: FILE in evalctl.yaml, or --labels FILE")
		}
		if labels, err = readLabels(labelsPath); err != nil {
			return nil, nil, exitErr(ExitUsage, err, "")
		}
	}
	withLabels := func(b *baseline) *baseline {
		if labels == nil {
			return b
		}
		if b == nil {
			b = &baseline{}
		}
		b.labels, b.labelsPath = labels, labelsPath
		return b
	}
	if needBase && flags.Baseline == "" {
		return nil, nil, usageErr("regression gates need --baseline RUN (a stored run to compare against)")
	}
	if flags.Baseline == "" {
		return gates, withLabels(nil), nil
	}
	if strings.HasSuffix(flags.Baseline, ".json") {
		f, err := os.Open(flags.Baseline)
		if err != nil {
			return nil, nil, usageErr("--baseline: %v", err)
		}
		defer f.Close()
		rep, err := reports.ReadJSON(f)
		if err != nil {
			return nil, nil, usageErr("--baseline %s: %v", flags.Baseline, err)
		}
		for _, g := range gates {
			if g.NoSignificantDrop {
				return nil, nil, usageErr("%s needs per-question outcomes: use a stored run as --baseline, not %s", g, flags.Baseline)
			}
		}
		return gates, withLabels(&baseline{report: rep}), nil
	}
	run, err := st.Run(context.Background(), flags.Baseline)
	if err != nil {
		return nil, nil, exitErr(ExitUsage, fmt.Errorf("--baseline: %w", err), "")
	}
	return gates, withLabels(&baseline{run: run}), nil
}

// withGates validates the run's gates before any model call.
func (p *prepared) withGates(st *store.Store, cfg *config.Config, flags *GateFlags) error {
	gates, base, err := resolveGates(st, cfg, flags, p.plan.Layout())
	if err != nil {
		return err
	}
	for _, g := range gates {
		if g.MaxCost == nil {
			continue
		}
		what := "a max_cost gate"
		if g.Source != "" {
			what = g.Source + ": max_cost"
		}
		if err := p.needPrices(what); err != nil {
			return err // the gate could only fail with "cannot tell"
		}
	}
	p.gates, p.baseline = gates, base
	return nil
}

// checkGates evaluates gates on a stored run, prints the failures to stderr,
// and returns an exit-1 error when any gate failed.
func checkGates(a *app, st *store.Store, gs []spec.Gate, base *baseline, run *store.Run, cmp *reports.Comparison) error {
	if len(gs) == 0 {
		return nil
	}
	if run.Status != eval.StatusComplete {
		// A pass rate over part of the answers, or over answers whose
		// verdicts failed, is not evidence: never gate on it.
		e := run.Errors()
		return exitErr(ExitGate, fmt.Errorf("gates refused: run %s is %s (%d of %d cells; %d generation errors, %d of %d verdicts are errors)",
			run.ID, run.Status, run.Done, run.Planned, e.GenErrors, e.VerdictErrors, e.Verdicts), "finish it with: evalctl run --resume "+run.ID)
	}
	if run.Assessment != 0 {
		as, err := st.Assessments(context.Background(), run.ID)
		if err != nil {
			return err
		}
		for _, x := range as {
			if x.ID == run.Assessment && x.Status != eval.StatusComplete && x.Kind != "run" {
				return exitErr(ExitGate, fmt.Errorf("gates refused: assessment %d of run %s is %s: its verdicts cover part of the answers", x.ID, run.ID, x.Status),
					"score it again: evalctl score "+run.ID)
			}
		}
	}
	var refused []string
	if base != nil && base.labels != nil {
		var err error
		if gs, refused, err = judgeTrust(st, run, gs, base); err != nil {
			return err
		}
	}
	var rc *reports.RunComparison
	switch {
	case base != nil && base.run != nil:
		// A paired comparison needs both runs' outcomes, question by question.
		ctx := context.Background()
		var err error
		rc, err = reports.CompareRuns(reportMeta(base.run), base.run.Spec.Layout, eachStored(ctx, st, base.run),
			reportMeta(run), run.Spec.Layout, eachStored(ctx, st, run))
		if err != nil {
			return err
		}
	case base != nil && base.report != nil:
		rc = reports.CompareToReport(base.report, cmp)
	}
	failures := gates.Check(gs, cmp, rc)
	total := len(gs) + len(refused)
	if len(failures) == 0 && len(refused) == 0 {
		fmt.Fprintf(a.io.Stderr, "evalctl: all %d gates passed\n", total)
		return nil
	}
	for _, r := range refused {
		fmt.Fprintf(a.io.Stderr, "evalctl: %s\n", r)
	}
	for _, f := range failures {
		fmt.Fprintf(a.io.Stderr, "evalctl: %s\n", f)
	}
	return exitErr(ExitGate, fmt.Errorf("%d gate failures from %d gates (listed above)", len(failures)+len(refused), total), "")
}

// judgeTrust takes out the gates whose judge does not agree with people well
// enough (Cohen's kappa on this run's labelled answers, below the gate's
// require_judge_kappa, or unknown) and says why each was refused.
func judgeTrust(st *store.Store, run *store.Run, gates []spec.Gate, base *baseline) ([]spec.Gate, []string, error) {
	cals, err := calibrate(context.Background(), st, run, base.labels)
	if err != nil {
		return nil, nil, err
	}
	by := map[string]*calibration{}
	for _, c := range cals {
		by[c.Scorer] = c
	}
	var keep []spec.Gate
	var refused []string
	for _, g := range gates {
		if g.RequireJudgeKappa == nil {
			keep = append(keep, g)
			continue
		}
		c := by[g.Scorer]
		switch {
		case c == nil || c.N == 0:
			refused = append(refused, fmt.Sprintf("gate %s refused: no answer of this run labelled in %s has a verdict of %s, so its judge cannot be trusted", g, base.labelsPath, g.Scorer))
		case c.Kappa != c.Kappa || c.Kappa < *g.RequireJudgeKappa:
			refused = append(refused, fmt.Sprintf("gate %s refused: the judge of %s agrees with the people of %s at κ = %s [%s, %s] over %d answers, under %s (see evalctl judge calibrate)",
				g, g.Scorer, base.labelsPath, fmtNum(c.Kappa), fmtNum(c.KappaLo), fmtNum(c.KappaHi), c.N, strconv.FormatFloat(*g.RequireJudgeKappa, 'g', -1, 64)))
		default:
			keep = append(keep, g)
		}
	}
	return keep, refused, nil
}

// GateOptions are the inputs of `evalctl gate`.
type GateOptions struct {
	StoreOptions
	// Assessment picks the scoring pass whose verdicts are read (0: latest).
	Assessment int
	Run        string
	GateFlags
}

// NewCmdGate returns `evalctl gate`.
func NewCmdGate(a *app, runF func(*GateOptions) error) *cobra.Command {
	opts := &GateOptions{}
	cmd := &cobra.Command{
		Use:   "gate [RUN]",
		Short: "Check a stored run (default: the last) against the config's gates and the gate flags",
		Long: `Check a stored run against gates without calling any model: the gates: list of evalctl.yaml
and the --fail-under, --max-drop and --no-significant-drop flags. Exit 1 when one fails, listing
each failure with the measured value and the threshold.`,
		Example: "  evalctl gate last --fail-under english=0.95 --fail-under overall=0.8\n  evalctl gate last --baseline main --max-drop overall=0.05 --no-significant-drop english",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Run = "last"
			if len(args) == 1 {
				opts.Run = args[0]
			}
			if err := opts.GateFlags.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return gateRun(a, opts)
		},
	}
	addStoreFlags(cmd, &opts.StoreOptions)
	cmd.Flags().IntVar(&opts.Assessment, "assessment", 0, assessmentHelp)
	addGateFlags(cmd, &opts.GateFlags)
	return cmd
}

func gateRun(a *app, opts *GateOptions) error {
	cfg := &config.Config{}
	path := a.configPath(opts.ConfigPath)
	if path != "" {
		c, err := config.Load(path, a.io.LookupEnv)
		if err != nil {
			return exitErr(ExitUsage, err, "")
		}
		cfg = c
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
	gates, base, err := resolveGates(st, cfg, &opts.GateFlags, run.Spec.Layout)
	if err != nil {
		return err
	}
	if len(gates) == 0 {
		return usageErr("no gates: add gates: to evalctl.yaml or pass --fail-under, --max-drop or --no-significant-drop")
	}
	cmp, err := compareStored(st, run)
	if err != nil {
		return err
	}
	return checkGates(a, st, gates, base, run, cmp)
}
