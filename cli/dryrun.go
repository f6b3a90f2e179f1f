package cli

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
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

// What an agent's cell is assumed to do when the store has no history of
// its variant or of its model with tools: two steps (a tool call, then the
// answer), and tool results of this many tokens.
const (
	assumeAgentSteps   = 2
	assumeResultTokens = 250
	// bytesPerToken turns stored tool result sizes into tokens: English
	// text and JSON run at about 4 bytes a token.
	bytesPerToken = 4
)

// dryRun prints what a run would do and cost, sending nothing: the plan
// runs through an estimator that builds every request a real run would
// send and counts its tokens offline; completion lengths come from earlier
// runs in the store (or an assumption, said so), and calls the response
// cache already holds are counted as free. An agent's tool loop is not
// run: its steps, tool calls and growing prompts are estimated from the
// store's history of the variant (dryEstimate.agent).
func dryRun(a *app, cfg *config.Config, st *store.Store, opts *RunOptions) error {
	ctx := context.Background()
	d, err := newDryEstimate(ctx, st)
	if err != nil {
		return err
	}
	p, err := prepare(a, cfg, st, !opts.NoCache, func(ps *providers) {
		ps.dry = d.client
		ps.tally = d.tally
		ps.batchAll = opts.Batch
	})
	if err != nil {
		return err
	}
	defer p.providers.Close()
	if err := p.withBudget(opts.MaxCost); err != nil {
		return err
	}
	sum, err := d.run(ctx, p.plan, p.limit)
	if err != nil {
		return err
	}
	return d.write(a, p.plan, sum, p.budget, func(model string) bool { return p.providers.batched([]string{model}) })
}

// dryEstimate is what a dry run knows and assumes: the store's history of
// completion lengths and of agents' tool loops, the tally of the calls the
// plan makes through its estimator, and the basis of each line's figures.
type dryEstimate struct {
	hist   store.History
	agents store.AgentHistory
	tally  *eval.Tally
	// variants are the plan's, by ID: set by run, before any call.
	variants map[string]*eval.Variant

	mu sync.Mutex
	// basis says where a line's completion lengths come from; steps where
	// an agent line's steps and tool calls do.
	basis, steps map[eval.TallyKey]string
}

func newDryEstimate(ctx context.Context, st *store.Store) (*dryEstimate, error) {
	hist, err := st.CompletionHistory(ctx)
	if err != nil {
		return nil, err
	}
	agents, err := st.AgentHistory(ctx)
	if err != nil {
		return nil, err
	}
	d := &dryEstimate{hist: hist, agents: agents, basis: map[eval.TallyKey]string{}, steps: map[eval.TallyKey]string{}}
	d.tally = &eval.Tally{Agent: d.agent}
	return d, nil
}

// client returns the estimator standing for a provider.
func (d *dryEstimate) client(provider string) llm.Client {
	return &eval.Estimator{Provider: provider, Completion: d.completion, Agent: d.agent}
}

// note records the first basis given for a line.
func (d *dryEstimate) note(m map[eval.TallyKey]string, k eval.TallyKey, s string) {
	d.mu.Lock()
	if _, ok := m[k]; !ok {
		m[k] = s
	}
	d.mu.Unlock()
}

// completion returns the completion tokens to expect of a call: the mean
// for the model with this prompt (or scorer), else for the model, else
// assumed.
func (d *dryEstimate) completion(model string, c eval.Call, req llm.Request) int {
	type source struct {
		exact      map[[2]string]store.Mean
		model      map[string]store.Mean
		exactNote  string
		modelNote  string
		assume     int
		assumeNote string
	}
	kind, detail := "generation", c.Prompt
	src := source{d.hist.Generation, d.hist.GenerationModel, "mean of stored answers", "mean of stored answers (other prompts)",
		assumeAnswerTokens, fmt.Sprintf("assumed %d an answer (no history)", assumeAnswerTokens)}
	if c.Kind == "judge" {
		kind, detail = "judge", c.Scorer
		src = source{d.hist.Judge, d.hist.JudgeModel, "mean of stored verdicts", "mean of stored verdicts",
			assumeVerdictTokens, fmt.Sprintf("assumed %d a verdict (no history)", assumeVerdictTokens)}
	} else if _, ok := d.agentVariant(c); ok && len(req.Tools) > 0 {
		kind = "agent"
	}
	k := eval.TallyKey{Kind: kind, Model: model}
	n := float64(src.assume)
	if m, ok := src.exact[[2]string{model, detail}]; ok {
		n = m.Value
		d.note(d.basis, k, src.exactNote)
	} else if m, ok := src.model[model]; ok {
		n = m.Value
		d.note(d.basis, k, src.modelNote)
	} else {
		d.note(d.basis, k, src.assumeNote)
	}
	if mt := req.Params.MaxTokens; mt > 0 && n > float64(mt) && kind != "agent" {
		n = float64(mt)
	}
	return int(n + 0.5)
}

// agentVariant returns the variant of a generation call when it is an agent.
func (d *dryEstimate) agentVariant(c eval.Call) (*eval.Variant, bool) {
	v := d.variants[c.Variant]
	return v, v != nil && v.Agent != nil
}

// agent returns what a cell of an agent variant is expected to do: the
// mean steps and tool calls of the variant's stored cells, else of the
// model's with tools, else an assumption (said so); tool results are as
// long as the stored ones, else assumed. Steps never exceed max_steps.
func (d *dryEstimate) agent(model string, c eval.Call) (eval.AgentEstimate, bool) {
	v, ok := d.agentVariant(c)
	if !ok {
		return eval.AgentEstimate{}, false
	}
	var est eval.AgentEstimate
	var basis string
	if m, ok := d.agents.Variant[v.ID]; ok && m.Cells > 0 {
		est.Steps, est.ToolCalls = m.Steps, m.ToolCalls
		basis = fmt.Sprintf("mean of %s stored cells of the variant", reports.FormatInt(m.Cells))
	} else if m, ok := d.agents.Model[model]; ok && m.Cells > 0 {
		est.Steps, est.ToolCalls = m.Steps, m.ToolCalls
		basis = fmt.Sprintf("mean of %s stored agent cells of the model", reports.FormatInt(m.Cells))
	} else {
		est.Steps, est.ToolCalls = assumeAgentSteps, assumeAgentSteps-1
		basis = fmt.Sprintf("assumed %d steps, %d tool call a cell (no history)", assumeAgentSteps, assumeAgentSteps-1)
	}
	maxSteps := v.Agent.Spec.MaxSteps
	if maxSteps <= 0 {
		maxSteps = eval.DefaultMaxSteps
	}
	est.Steps = max(1, est.Steps)
	if m := float64(maxSteps); est.Steps > m {
		// A cell that would take more steps ends at max_steps (an error),
		// every one of them asking for tools.
		est.ToolCalls = est.ToolCalls / (est.Steps - 1) * m
		est.Steps = m
	}
	switch vm, mm := d.agents.Variant[v.ID], d.agents.Model[model]; {
	case vm.Results > 0:
		est.ResultTokens = vm.ResultBytes / bytesPerToken
		basis += "; tool results as stored"
	case mm.Results > 0:
		est.ResultTokens = mm.ResultBytes / bytesPerToken
		basis += "; tool results as stored for the model"
	default:
		est.ResultTokens = assumeResultTokens
		basis += fmt.Sprintf("; assumed %d tokens a tool result", assumeResultTokens)
	}
	d.note(d.steps, eval.TallyKey{Kind: "agent", Model: model}, basis)
	return est, true
}

// run runs the plan through the estimator.
func (d *dryEstimate) run(ctx context.Context, plan *eval.Plan, limit *eval.CallLimit) (eval.Summary, error) {
	d.variants = map[string]*eval.Variant{}
	for _, v := range plan.Variants {
		d.variants[v.ID] = v
	}
	return (&eval.Runner{Limit: limit}).Run(ctx, plan, eval.Discard{})
}

// write prints the estimate: a line per kind of call and model, then the
// totals. Agent lines count their estimated steps as calls, and add their
// tool calls and steps per cell (columns shown when the plan has agents).
func (d *dryEstimate) write(a *app, plan *eval.Plan, sum eval.Summary, budget float64, batched func(model string) bool) error {
	tally := d.tally
	agents := false
	for _, k := range tally.Keys() {
		agents = agents || k.Kind == "agent"
	}
	rows := [][]string{}
	var total llm.Usage
	var calls, cached, gen, agentSteps, judge, toolCalls float64
	cost, priced := 0.0, true
	var interactive float64
	var batchModels []string
	for _, k := range tally.Keys() {
		l := tally.Lines[k]
		c, ok := plan.Price(k.Model, l.Usage)
		price := fmt.Sprintf("%.4f", c)
		if !ok {
			price, priced = "no price", false
		}
		cost += c
		if batched(k.Model) {
			interactive += 2 * c // llm.Price.Batch is half of each price
			if !slices.Contains(batchModels, k.Model) {
				batchModels = append(batchModels, k.Model)
			}
		} else {
			interactive += c
		}
		total = total.Add(l.Usage)
		calls += l.Calls
		cached += l.Cached
		switch k.Kind {
		case "judge":
			judge += l.Calls
		case "agent":
			agentSteps += l.Calls
			toolCalls += l.ToolCalls
		default:
			gen += l.Calls
		}
		row := []string{k.Kind, k.Model, callCount(l.Calls), callCount(l.Cached),
			reports.FormatInt(l.Usage.PromptTokens), reports.FormatInt(l.Usage.CompletionTokens), price, d.basis[k]}
		if agents {
			steps, tools := "", ""
			if k.Kind == "agent" {
				steps, tools = fmt.Sprintf("%.1f", l.StepsPerCell()), callCount(l.ToolCalls)
			}
			row = append(row, steps, tools, d.steps[k])
		}
		rows = append(rows, row)
	}
	header := []string{"KIND", "MODEL", "CALLS", "CACHED", "PROMPT_TOKENS", "COMPLETION_TOKENS", "COST_USD", "COMPLETION_ESTIMATE"}
	if agents {
		header = append(header, "STEPS_PER_CELL", "TOOL_CALLS", "STEPS_ESTIMATE")
	}
	if err := writeListing(a, header, rows); err != nil {
		return err
	}
	costText := fmt.Sprintf("$%.4f", cost)
	if !priced {
		costText += " (some models have no price: add them under prices:)"
	}
	kinds := fmt.Sprintf("%s generation, %s judge", callCount(gen), callCount(judge))
	if agents {
		kinds = fmt.Sprintf("%s generation, %s agent steps, %s judge", callCount(gen), callCount(agentSteps), callCount(judge))
	}
	fmt.Fprintf(a.io.Stderr, "dry run: %s cells (%d rows × %s × %d repeat); %s LLM calls (%s), %s from the cache; estimated %s prompt + %s completion tokens, %s. Nothing was sent.\n",
		reports.FormatInt(sum.Total), len(plan.Rows), variantsText(plan), max(1, plan.Repeat),
		callCount(calls), kinds, callCount(cached),
		reports.FormatInt(total.PromptTokens), reports.FormatInt(total.CompletionTokens), costText)
	if agents {
		fmt.Fprintf(a.io.Stderr, "agents: about %s tool calls; steps and tool calls a cell are estimated as STEPS_ESTIMATE says, and each step resends the conversation with the tool results so far. Tool calls themselves are not priced. A dry run starts no tool server: the tools' definitions are not counted, and scorers' tool names are checked when the run starts.\n",
			callCount(toolCalls))
	}
	if len(batchModels) > 0 {
		fmt.Fprintf(a.io.Stderr, "batch: %s go through the Batch API, priced at half the interactive price (the whole run would cost $%.4f interactively); answers come within 24h, and the judges go as a second batch once they are in.\n",
			strings.Join(batchModels, ", "), interactive)
	}
	if budget > 0 && cost > budget {
		fmt.Fprintf(a.io.Stderr, "the estimate exceeds --max-cost %.2f: the run would stop when the budget is spent\n", budget)
	}
	return nil
}

// callCount formats a number of calls, whole but for agents' estimates.
func callCount(n float64) string {
	return reports.FormatInt(int(math.Round(n)))
}
