package cli

import (
	"context"

	"github.com/evalctl/evalctl/llm"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/store"
)

// findRun resolves a run reference (id, prefix, name, "last"); with idle set
// it refuses a run that a live process is still writing.
func findRun(st *store.Store, ref string, idle bool) (*store.Run, error) {
	run, err := st.Run(context.Background(), ref)
	if err != nil {
		return nil, exitErr(ExitUsage, err, "")
	}
	if idle && run.Alive() {
		return nil, usageErr("run %s is still running (pid %d); wait for it or stop it first", run.ID, run.PID)
	}
	return run, nil
}

// assessmentHelp documents --assessment.
const assessmentHelp = "read the verdicts of this scoring pass (see evalctl runs show); default: each scorer's latest complete one"

// atAssessment makes run's readers use the verdicts of assessment n (0:
// each scorer's latest), checking that it exists.
func atAssessment(st *store.Store, run *store.Run, n int) error {
	if n == 0 {
		return nil
	}
	run.Assessment = n
	if _, err := st.Verdicts(context.Background(), run); err != nil {
		return exitErr(ExitUsage, err, "")
	}
	return nil
}

// setJudge gives env the config's judge model, through the providers, with
// temperature 0 unless the config says otherwise, and the way to other judge
// models (a scorer's judge: or judges:).
func setJudge(ps *providers, cfg *config.Config, env *scorers.Env) error {
	env.JudgeClient = func(ref string) (llm.Client, error) {
		r, err := llm.ParseModelRef(ref)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		return ps.client(r)
	}
	if cfg.Judge == nil || cfg.Judge.Model == "" {
		return nil
	}
	ref, _ := cfg.Judge.Ref()
	c, err := ps.client(ref)
	if err != nil {
		return err
	}
	env.Judge, env.JudgeModel, env.JudgeParams = c, ref.String(), cfg.Judge.Params
	if env.JudgeParams.Temperature == nil {
		zero := 0.0
		env.JudgeParams.Temperature = &zero
	}
	return nil
}

// compareStored builds a run's comparison by streaming its results from the
// store: memory does not grow with the number of cells.
func compareStored(st *store.Store, run *store.Run) (*reports.Comparison, error) {
	c := reports.NewComparison(run.Spec.Layout)
	err := st.EachRecord(context.Background(), run, false, func(r eval.Record) error {
		c.Add(r)
		return nil
	})
	c.Finish()
	return c, err
}
