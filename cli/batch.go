package cli

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/batch"
	llmproviders "github.com/evalctl/evalctl/llm/providers"
	"github.com/evalctl/evalctl/store"
)

// Batch runs. A provider with batch: (or every provider, with --batch)
// gets a batch.Collector in place of its interactive client: the run asks
// every cell at once (eval.Runner.InFlight), the collector sends the
// requests asked together as one batch per model, and the judges, which
// wait for the answers, go as a second batch. The collector records each
// batch in the run store's ledger (store.BatchLedger) as soon as it is
// created; a run started again after a kill waits for those batches
// instead of paying for their requests again, and their answers go to the
// response cache when they are read. Batched models are priced at the batch
// price.

// maxBatchInFlight bounds the cells of a batch run in flight at once: two
// batches' worth (OpenAI takes 50,000 requests in one).
const maxBatchInFlight = 100_000

// batchOf returns a provider's batch settings: its batch:, or --batch's
// defaults; nil when it is asked interactively.
func (p *providers) batchOf(provider string) *config.BatchConfig {
	bc := p.cfg.Providers[provider].Batch
	if bc == nil && p.batchAll {
		bc = &config.BatchConfig{Enabled: true}
	}
	if !bc.On() {
		return nil
	}
	return bc
}

// batched reports whether any of the refs goes through a Batch API.
func (p *providers) batched(refs []string) bool {
	for _, r := range refs {
		if ref, err := llm.ParseModelRef(r); err == nil && p.batchOf(ref.Provider) != nil {
			return true
		}
	}
	return false
}

// batchedProviders names the providers of the run that go through their
// Batch API.
func (p *providers) batchedProviders() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, nc := range p.collectors {
		if !slices.Contains(out, nc.provider) {
			out = append(out, nc.provider)
		}
	}
	return out
}

// batchPrices sets the batch price of the batched models among prices.
func (p *providers) batchPrices(prices map[string]llm.Price) {
	for r, pr := range prices {
		if ref, err := llm.ParseModelRef(r); err == nil && p.batchOf(ref.Provider) != nil {
			prices[r] = pr.Batch()
		}
	}
}

// collector builds the batch collector of a provider whose endpoint is ep,
// over the provider's transport; interactive is its interactive client, for
// the requests a batch did not answer.
func (p *providers) collector(provider string, bc *config.BatchConfig, ep llmproviders.Endpoint, hc *http.Client, interactive llm.Client) *batch.Collector {
	opts := batch.Options{
		Key:     func(r llm.Request) string { return store.CacheKey(ep.Cache, r) },
		Collect: bc.Collect,
		Poll:    bc.Poll,
		OnState: func(string, batch.State) { p.batchNote() },
	}
	// An in-process simulator's batches end with the process: nothing to
	// re-attach to.
	if p.ledger != nil && ep.Close == nil {
		opts.Ledger = p.ledger(ep.Cache)
	}
	if bc.OnFailure != config.BatchError {
		opts.Fallback = p.limit.Bound(&perModel{provider: provider, base: interactive, limits: p.cfg.Limits, clients: map[string]llm.Client{}})
	}
	col := batch.NewCollector(batch.New(batch.Config{Provider: provider, BaseURL: ep.BaseURL, APIKey: ep.APIKey,
		HTTPClient: hc, Redactor: p.a.redactor, Metadata: map[string]string{"created_by": "evalctl"}}), opts)
	p.mu.Lock()
	p.collectors = append(p.collectors, namedCollector{provider, col})
	p.mu.Unlock()
	p.closers = append(p.closers, func() error { col.Close(); return nil })
	return col
}

// toolsApart sends requests offering tools (an agent's steps) to
// interactive, and the others to batch.
type toolsApart struct{ batch, interactive llm.Client }

func (t toolsApart) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	if len(req.Tools) > 0 {
		return t.interactive.Complete(ctx, req)
	}
	return t.batch.Complete(ctx, req)
}

type namedCollector struct {
	provider string
	c        *batch.Collector
}

// perModel sends each request through its model's limits (limits: in
// evalctl.yaml), as the interactive clients of those models do.
type perModel struct {
	provider string
	base     llm.Client
	limits   map[string]llm.Limits
	mu       sync.Mutex
	clients  map[string]llm.Client
}

func (m *perModel) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	m.mu.Lock()
	c, ok := m.clients[req.Model]
	if !ok {
		c = m.base
		if l, found := m.limits[m.provider+":"+req.Model]; found {
			c = llm.Limit(c, l)
		}
		m.clients[req.Model] = c
	}
	m.mu.Unlock()
	return c.Complete(ctx, req)
}

// batching says where the run's batches stand ("" when there are none):
// "batches: 1 in_progress (1200/2000), 1 completed". key is the same
// without the counts, to notice a change of state.
func (p *providers) batching() (text, key string) {
	p.mu.Lock()
	cols := slices.Clone(p.collectors)
	p.mu.Unlock()
	type tally struct{ n, done, total int }
	by := map[string]*tally{}
	for _, nc := range cols {
		for _, b := range nc.c.Batches() {
			t := by[b.State.Status]
			if t == nil {
				t = &tally{}
				by[b.State.Status] = t
			}
			t.n++
			t.done += b.State.Completed + b.State.Failed
			t.total += b.State.Total
		}
	}
	if len(by) == 0 {
		return "", ""
	}
	statuses := make([]string, 0, len(by))
	for s := range by {
		statuses = append(statuses, s)
	}
	sort.Slice(statuses, func(i, j int) bool { return batchOrder(statuses[i]) < batchOrder(statuses[j]) })
	var parts, keys []string
	for _, s := range statuses {
		t := by[s]
		part := fmt.Sprintf("%d %s", t.n, s)
		if s != batch.StatusCompleted && t.total > 0 {
			part += fmt.Sprintf(" (%d/%d requests)", t.done, t.total)
		}
		parts = append(parts, part)
		keys = append(keys, fmt.Sprintf("%d %s", t.n, s))
	}
	return "batches: " + strings.Join(parts, ", "), strings.Join(keys, ", ")
}

// batchOrder sorts statuses from the earliest to the last.
func batchOrder(s string) int {
	i := slices.Index([]string{batch.StatusValidating, batch.StatusInProgress, batch.StatusFinalizing, batch.StatusCancelling,
		batch.StatusCompleted, batch.StatusExpired, batch.StatusFailed, batch.StatusCancelled}, s)
	if i < 0 {
		return 99
	}
	return i
}

// batchNote tells the progress when the batches' states change.
func (p *providers) batchNote() {
	text, key := p.batching()
	p.mu.Lock()
	note := p.onBatch
	changed := key != p.lastBatchKey
	p.lastBatchKey = key
	p.mu.Unlock()
	if changed && note != nil && text != "" {
		note(text)
	}
}

// openBatches counts the batches the run waits for that have not ended.
func (p *providers) openBatches() int {
	p.mu.Lock()
	cols := slices.Clone(p.collectors)
	p.mu.Unlock()
	n := 0
	for _, nc := range cols {
		for _, b := range nc.c.Batches() {
			if !b.State.Done() {
				n++
			}
		}
	}
	return n
}
