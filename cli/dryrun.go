package cli

import (
	"context"
	"fmt"
	"sync"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
)

// Completion lengths assumed when the store has no history for a model.
const (
	assumeAnswerTokens  = 400
	assumeVerdictTokens = 60
)

// dryRun prints what a run would do and cost, sending nothing: the plan
// runs through an estimator that builds every request a real run would
// send and counts its tokens offline; completion lengths come from earlier
// runs in the store (or an assumption, said so), and calls the response
// cache already holds are counted as free.
func dryRun(a *app, cfg *config.Config, st *store.Store, opts *RunOptions) error {
	ctx := context.Background()
	hist, err := st.CompletionHistory(ctx)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	basis := map[eval.TallyKey]string{}
	note := func(k eval.TallyKey, s string) {
		mu.Lock()
		if _, ok := basis[k]; !ok {
			basis[k] = s
		}
		mu.Unlock()
	}
	// Where completion lengths come from, by kind of call: the mean for the
	// model with this prompt (or scorer), else for the model, else assumed.
	type source struct {
		exact      map[[2]string]store.Mean
		model      map[string]store.Mean
		exactNote  string
		modelNote  string
		assume     int
		assumeNote string
	}
	sources := map[string]source{
		"generation": {hist.Generation, hist.GenerationModel, "mean of stored answers", "mean of stored answers (other prompts)",
			assumeAnswerTokens, fmt.Sprintf("assumed %d an answer (no history)", assumeAnswerTokens)},
		"judge": {hist.Judge, hist.JudgeModel, "mean of stored verdicts", "mean of stored verdicts",
			assumeVerdictTokens, fmt.Sprintf("assumed %d a verdict (no history)", assumeVerdictTokens)},
	}
	completion := func(model string, c eval.Call, req llm.Request) int {
		kind, detail := "generation", c.Prompt
		if c.Kind == "judge" {
			kind, detail = "judge", c.Scorer
		}
		src, k := sources[kind], eval.TallyKey{Kind: kind, Model: model}
		n := float64(src.assume)
		if m, ok := src.exact[[2]string{model, detail}]; ok {
			n = m.Value
			note(k, src.exactNote)
		} else if m, ok := src.model[model]; ok {
			n = m.Value
			note(k, src.modelNote)
		} else {
			note(k, src.assumeNote)
		}
		if mt := req.Params.MaxTokens; mt > 0 && n > float64(mt) {
			n = float64(mt)
		}
		return int(n + 0.5)
	}
	tally := &eval.Tally{}
	p, err := prepare(a, cfg, st, !opts.NoCache, func(ps *providers) {
		ps.dry = func(provider string) llm.Client {
			return &eval.Estimator{Provider: provider, Completion: completion}
		}
		ps.tally = tally
	})
	if err != nil {
		return err
	}
	defer p.providers.Close()
	if err := p.withBudget(opts.MaxCost); err != nil {
		return err
	}
	sum, err := (&eval.Runner{Limit: p.limit}).Run(ctx, p.plan, eval.Discard{})
	if err != nil {
		return err
	}

	rows := [][]string{}
	var total llm.Usage
	var calls, cached, gen, judge int
	cost, priced := 0.0, true
	for _, k := range tally.Keys() {
		l := tally.Lines[k]
		c, ok := p.plan.Price(k.Model, l.Usage)
		price := fmt.Sprintf("%.4f", c)
		if !ok {
			price, priced = "no price", false
		}
		cost += c
		total = total.Add(l.Usage)
		calls += l.Calls
		cached += l.Cached
		if k.Kind == "judge" {
			judge += l.Calls
		} else {
			gen += l.Calls
		}
		rows = append(rows, []string{k.Kind, k.Model, reports.FormatInt(l.Calls), reports.FormatInt(l.Cached),
			reports.FormatInt(l.Usage.PromptTokens), reports.FormatInt(l.Usage.CompletionTokens), price, basis[k]})
	}
	if err := writeListing(a, []string{"KIND", "MODEL", "CALLS", "CACHED", "PROMPT_TOKENS", "COMPLETION_TOKENS", "COST_USD", "COMPLETION_ESTIMATE"}, rows); err != nil {
		return err
	}
	costText := fmt.Sprintf("$%.4f", cost)
	if !priced {
		costText += " (some models have no price: add them under prices:)"
	}
	fmt.Fprintf(a.io.Stderr, "dry run: %s cells (%d rows × %s × %d repeat); %s LLM calls (%s generation, %s judge), %s from the cache; estimated %s prompt + %s completion tokens, %s. Nothing was sent.\n",
		reports.FormatInt(sum.Total), len(p.plan.Rows), variantsText(p.plan), max(1, p.plan.Repeat),
		reports.FormatInt(calls), reports.FormatInt(gen), reports.FormatInt(judge), reports.FormatInt(cached),
		reports.FormatInt(total.PromptTokens), reports.FormatInt(total.CompletionTokens), costText)
	if p.budget > 0 && cost > p.budget {
		fmt.Fprintf(a.io.Stderr, "the estimate exceeds --max-cost %.2f: the run would stop when the budget is spent\n", p.budget)
	}
	return nil
}
