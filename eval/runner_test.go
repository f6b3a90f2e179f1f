package eval_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/openai"
	"github.com/evalctl/evalctl/llm/sim"
	"github.com/evalctl/evalctl/llm/transport"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
)

// memSink keeps results and checks the Sink protocol.
type memSink struct {
	mu      sync.Mutex
	began   bool
	results []eval.Result
	status  eval.Status
	onPut   func(n int)
}

func (m *memSink) Begin(*eval.Plan) error { m.began = true; return nil }
func (m *memSink) Put(r eval.Result) error {
	m.mu.Lock()
	m.results = append(m.results, r)
	n := len(m.results)
	m.mu.Unlock()
	if m.onPut != nil {
		m.onPut(n)
	}
	return nil
}
func (m *memSink) End(s eval.Status) error { m.status = s; return nil }

type fixture struct {
	srv  *sim.Running
	plan *eval.Plan
	gate *eval.CallLimit
}

// limits pace every call of a fixture (generation and judge), as
// providers.NAME.rpm and .tpm do.
type limits struct {
	rpm *rate.Limiter
	tpm *llm.TokenLimiter
}

// newFixture builds a 2-prompt × 2-model plan over a simulator.
func newFixture(t *testing.T, rows, concurrency int, opts sim.Options, policy transport.Policy, lim ...limits) *fixture {
	t.Helper()
	srv, err := sim.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var b strings.Builder
	b.WriteString("category,question\n")
	for i := range rows {
		fmt.Fprintf(&b, "Git,What is commit number %d?\n", i)
	}
	ds, err := datasets.ParseCSV("q.csv", []byte(b.String()), ',')
	if err != nil {
		t.Fatal(err)
	}
	basic, _ := prompts.Parse("basic", "", "Category: {category}\nQuestion: {question}\nBe concise but comprehensive.")
	academic, _ := prompts.Parse("academic", "", "Question: {question}\nProvide a rigorous, academic answer.")
	system, _ := prompts.Parse("system", "", "You are a professor.")
	gate := eval.NewCallLimit(concurrency)
	tr := transport.New(nil, policy)
	var c llm.Client = openai.New(openai.Config{Provider: "sim", BaseURL: srv.URL, HTTPClient: &http.Client{Transport: tr}})
	for _, l := range lim {
		if l.rpm != nil {
			tr.Limiter = l.rpm
		}
		if l.tpm != nil {
			c = l.tpm.Wrap(c)
		}
	}
	c = gate.Wrap(c)
	reg := scorers.NewRegistry()
	wc, _ := reg.Build(scorers.Spec{Name: "enough_words", Type: "word_count", Decode: func(v any) error {
		n := 11
		v.(*struct {
			Min *int `yaml:"min"`
			Max *int `yaml:"max"`
		}).Min = &n
		return nil
	}}, scorers.Env{})
	judgeLike := scorers.Func("echo_judge", func(ctx context.Context, s scorers.Sample) scorers.Feedback {
		resp, err := c.Complete(ctx, llm.Request{Model: "judge", Messages: []llm.Message{{Role: "user", Content: "Rate: " + s.Answer}}})
		if err != nil {
			return scorers.Errored("judge call failed: %v", err)
		}
		fb := scorers.Passed(len(resp.Text) > 0, true, "")
		fb.Usage = resp.Usage
		return fb
	})
	plan := &eval.Plan{Dataset: ds, Rows: ds.Rows, Variants: eval.Product(system, []*prompts.Template{basic, academic},
		[]*eval.Model{{Ref: llm.ModelRef{Provider: "sim", Model: "a"}, Client: c}, {Ref: llm.ModelRef{Provider: "sim", Model: "b"}, Client: c}}),
		Scorers: []scorers.Scorer{wc, judgeLike}}
	if err := plan.Validate(); err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, plan: plan, gate: gate}
}

var fast = transport.Policy{MaxAttempts: 6, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond, MaxWait: time.Second, AttemptTimeout: 5 * time.Second}

// checkAccounted asserts that every cell has exactly one result.
func checkAccounted(t *testing.T, plan *eval.Plan, results []eval.Result, want int) {
	t.Helper()
	seen := map[int]bool{}
	for _, r := range results {
		if seen[r.Index] {
			t.Fatalf("cell %d reported twice", r.Index)
		}
		seen[r.Index] = true
		if r.Err == nil && len(r.Feedback) != len(plan.Scorers) {
			t.Fatalf("cell %d has %d feedback, want %d", r.Index, len(r.Feedback), len(plan.Scorers))
		}
		if r.Err != nil && (r.Answer != "" || r.Feedback != nil) {
			t.Fatalf("cell %d: an error must carry no answer or feedback: %+v", r.Index, r)
		}
	}
	if len(seen) != want {
		t.Fatalf("%d cells reported, want %d", len(seen), want)
	}
}

func TestRunComplete(t *testing.T) {
	f := newFixture(t, 25, 8, sim.Options{Latency: 2 * time.Millisecond}, fast)
	sink := &memSink{}
	sum, err := (&eval.Runner{Limit: f.gate}).Run(context.Background(), f.plan, sink)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != eval.StatusComplete || sink.status != eval.StatusComplete || !sink.began {
		t.Fatalf("status %s / %s", sum.Status, sink.status)
	}
	checkAccounted(t, f.plan, sink.results, 100)
	st := f.srv.Stats()
	if st.Requests != 200 || st.Status[200] != 200 || f.gate.Calls() != 200 {
		t.Errorf("server saw %+v, gate %d calls; want 100 generations + 100 judge calls", st, f.gate.Calls())
	}
	if st.MaxInFlight > 8 {
		t.Errorf("%d requests in flight, -j is 8", st.MaxInFlight)
	}
	for _, r := range sink.results {
		if r.Err != nil || r.Answer == "" || r.System != "You are a professor." || !strings.Contains(r.Input, "Question: What is commit") {
			t.Fatalf("result %+v", r)
		}
		if r.Usage.CompletionTokens == 0 || r.Attempts != 1 {
			t.Fatalf("usage/attempts not recorded: %+v", r)
		}
	}
	if sum.Done != 100 || sum.GenErrors != 0 || sum.Usage.Total() == 0 {
		t.Errorf("summary %+v", sum)
	}
}

func TestRunUnderFaults(t *testing.T) {
	// 10% 500s and 10% 429s per attempt: retries absorb most; what remains is
	// an error, never an answer and never a failing score.
	opts := sim.Options{FailRate: 0.10, RateLimitRate: 0.10, GarbageRate: 0.05, Seed: 11}
	policy := fast
	policy.MaxAttempts = 2 // few retries, so that some errors survive
	f := newFixture(t, 60, 16, opts, policy)
	sink := &memSink{}
	sum, err := (&eval.Runner{Limit: f.gate}).Run(context.Background(), f.plan, sink)
	if err != nil {
		t.Fatal(err)
	}
	checkAccounted(t, f.plan, sink.results, 240)
	if sum.Status != eval.StatusComplete {
		t.Errorf("status %s", sum.Status)
	}
	genErr, retried := 0, 0
	for _, r := range sink.results {
		if r.Err != nil {
			genErr++
			if r.Err.Kind != llm.KindServer && r.Err.Kind != llm.KindRateLimited && r.Err.Kind != llm.KindMalformed {
				t.Errorf("unexpected kind %v", r.Err)
			}
			if strings.HasPrefix(r.Answer, "Error") {
				t.Errorf("error became an answer")
			}
		}
		if r.Attempts > 1 {
			retried++
		}
	}
	if genErr == 0 || genErr != sum.GenErrors || retried == 0 {
		t.Errorf("gen errors %d (summary %d), retried %d: the faults did not show", genErr, sum.GenErrors, retried)
	}
	st := f.srv.Stats()
	if st.Status[500] == 0 || st.Status[429] == 0 || st.Garbage == 0 {
		t.Errorf("faults not injected: %+v", st)
	}
}

func TestRunInterrupted(t *testing.T) {
	f := newFixture(t, 200, 4, sim.Options{Latency: 5 * time.Millisecond}, fast)
	ctx, cancel := context.WithCancel(context.Background())
	sink := &memSink{onPut: func(n int) {
		if n == 20 {
			cancel()
		}
	}}
	sum, err := (&eval.Runner{Limit: f.gate}).Run(ctx, f.plan, sink)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != eval.StatusInterrupted || sink.status != eval.StatusInterrupted {
		t.Fatalf("status %s", sum.Status)
	}
	if len(sink.results) < 20 || len(sink.results) >= 800 {
		t.Errorf("%d results", len(sink.results))
	}
	for _, r := range sink.results {
		if r.Err != nil {
			t.Errorf("a canceled call was reported as a result: %v", r.Err)
		}
		for _, fb := range r.Feedback {
			if fb.Err != "" {
				t.Errorf("a cut-short judge was reported: %+v", fb)
			}
		}
	}
	checkAccounted(t, f.plan, sink.results, len(sink.results))
}

func TestRunStopsOnFatalError(t *testing.T) {
	f := newFixture(t, 300, 4, sim.Options{APIKey: "sk-right-key-123456"}, fast)
	sink := &memSink{}
	sum, err := (&eval.Runner{Limit: f.gate}).Run(context.Background(), f.plan, sink)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Fatal == nil || sum.Fatal.Kind != llm.KindAuth || sum.Status != eval.StatusIncomplete {
		t.Fatalf("summary %+v", sum)
	}
	if n := f.srv.Stats().Requests; n > 50 {
		t.Errorf("server saw %d requests after the first 401; the run should stop at once", n)
	}
}

func TestPlanValidate(t *testing.T) {
	ds, _ := datasets.ParseCSV("q.csv", []byte("question\nx\n"), ',')
	bad, _ := prompts.Parse("bad", "bad.txt", "{question} {missing}")
	ok, _ := prompts.Parse("ok", "ok.txt", "{question}")
	m := &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: "a"}}
	p := &eval.Plan{Dataset: ds, Rows: ds.Rows, Variants: eval.Product(nil, []*prompts.Template{bad}, []*eval.Model{m})}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), `template "bad" uses {missing}`) {
		t.Errorf("Validate: %v", err)
	}
	p.Variants = nil
	if err := p.Validate(); err == nil {
		t.Error("no variants accepted")
	}
	// The same prompt twice, or the same model with the same parameters
	// twice, is one variant listed twice; the same model at two
	// temperatures is two variants.
	p.Variants = eval.Product(nil, []*prompts.Template{ok, ok}, []*eval.Model{m})
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("a variant twice: %v", err)
	}
	hot, cold := 1.0, 0.0
	p.Variants = eval.Product(nil, []*prompts.Template{ok}, []*eval.Model{
		{Ref: m.Ref, Params: llm.Params{Temperature: &hot}}, {Ref: m.Ref, Params: llm.Params{Temperature: &cold}}})
	if err := p.Validate(); err != nil {
		t.Errorf("a temperature sweep: %v", err)
	}
	if p.Variants[0].ID == p.Variants[1].ID {
		t.Error("two temperatures, one variant id")
	}
	// The system prompt is part of a variant.
	sysA, _ := prompts.Parse("system", "system.txt", "You are A.")
	sysB, _ := prompts.Parse("system", "system.txt", "You are B.")
	if eval.NewVariant("", ok, sysA, m).ID == eval.NewVariant("", ok, sysB, m).ID {
		t.Error("two system prompts, one variant id")
	}
}

func TestCellsOrder(t *testing.T) {
	f := newFixture(t, 3, 1, sim.Options{}, fast)
	f.plan.Repeat = 2
	cells := f.plan.Cells()
	if len(cells) != 3*2*2*2 || f.plan.Len() != len(cells) {
		t.Fatalf("%d cells", len(cells))
	}
	if cells[0].Row != cells[7].Row || cells[8].Row == cells[0].Row {
		t.Error("cells are not row-major")
	}
	for i, c := range cells {
		if c.Index != i {
			t.Fatal("index")
		}
	}
}

// TestFaultSoak runs against a vendor that fails like real ones: 10% of
// attempts answered 500, 5% hanging, 5% malformed, and a requests-per-minute
// limit that the client's own limiter respects. Every cell must end with a
// result or an explicit error, once, and pacing must keep 429s rare. Counts
// only, no timing asserted.
func TestFaultSoak(t *testing.T) {
	const rpm = 3000
	opts := sim.Options{FailRate: 0.10, HangRate: 0.05, GarbageRate: 0.05, RPM: rpm, Seed: 21}
	policy := transport.Policy{MaxAttempts: 6, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
		MaxWait: 5 * time.Second, AttemptTimeout: 300 * time.Millisecond}
	f := newFixture(t, 50, 16, opts, policy, limits{rpm: rate.NewLimiter(rate.Limit(float64(rpm)/60), rpm/60)})
	sink := &memSink{}
	sum, err := (&eval.Runner{Limit: f.gate}).Run(context.Background(), f.plan, sink)
	if err != nil {
		t.Fatal(err)
	}
	checkAccounted(t, f.plan, sink.results, 200)
	if sum.Status != eval.StatusComplete {
		t.Errorf("status %s", sum.Status)
	}
	st := f.srv.Stats()
	// Throughput is bench/limits.sh's to measure (FAULTS=1): a test asserts
	// counts, never wall-clock rates.
	t.Logf("admitted per second %v (limit %d a second)", st.PerSecond, rpm/60)
	share := float64(st.Status[429]) / float64(st.Requests)
	t.Logf("%d requests: %v; %d hangs, %d malformed; 429 share %.1f%%; %d generation errors left",
		st.Requests, st.Status, st.Hangs, st.Garbage, 100*share, sum.GenErrors)
	if st.Status[500] == 0 || st.Hangs == 0 || st.Garbage == 0 {
		t.Errorf("the faults did not happen: %+v", st)
	}
	if share >= 0.05 {
		t.Errorf("%.1f%% of requests were answered 429 though the client paces itself at the limit", 100*share)
	}
}

// A vendor enforcing tokens per minute, and a client pacing itself by its
// offline estimate of each call's tokens (corrected by the usage reported):
// every cell completes and few requests are refused.
func TestTokenRateLimit(t *testing.T) {
	const tpm = 900_000 // 15,000 tokens a second
	f := newFixture(t, 30, 16, sim.Options{TPM: tpm, Latency: 5 * time.Millisecond, Seed: 3}, fast,
		limits{tpm: llm.NewTokenLimiter(tpm)})
	sink := &memSink{}
	sum, err := (&eval.Runner{Limit: f.gate}).Run(context.Background(), f.plan, sink)
	if err != nil {
		t.Fatal(err)
	}
	checkAccounted(t, f.plan, sink.results, 120)
	st := f.srv.Stats()
	share := float64(st.Status[429]) / float64(st.Requests)
	t.Logf("%d requests, %d tokens over %d seconds: %v; 429 share %.1f%%", st.Requests, st.Tokens, len(st.PerSecond), st.Status, 100*share)
	if sum.Status != eval.StatusComplete || sum.GenErrors > 0 {
		t.Errorf("status %s, %d generation errors", sum.Status, sum.GenErrors)
	}
	if st.Tokens < 2*tpm/60 {
		t.Fatalf("only %d tokens: the limit was never reached", st.Tokens)
	}
	if share >= 0.05 {
		t.Errorf("%.1f%% of requests were answered 429 though the client paces its tokens", 100*share)
	}
}

func TestBudgetStopsScheduling(t *testing.T) {
	f := newFixture(t, 50, 4, sim.Options{Latency: time.Millisecond}, fast)
	f.plan.Prices = map[string]llm.Price{"sim:a": {Input: 100, Output: 100}, "sim:b": {Input: 100, Output: 100}}
	// One cell costs about (prompt + completion tokens) × $100/M ≈ $0.02.
	const budget = 0.2
	sink := &memSink{}
	sum, err := (&eval.Runner{Limit: f.gate, Budget: budget}).Run(context.Background(), f.plan, sink)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.BudgetReached || sum.Status != eval.StatusIncomplete || sum.Spent < budget {
		t.Fatalf("summary %+v", sum)
	}
	// Scheduling stops at the budget: after the cell that crossed it, only
	// the cells already in flight finish (at most 2 × 4 + 2 − 1 here; the
	// sink sees them in about the order they were charged, hence the slack).
	crossed, total := -1, 0.0
	for i, res := range sink.results {
		c, _ := f.plan.Price(res.Variant.Model.Ref.String(), res.Usage)
		if total += c; total >= budget && crossed < 0 {
			crossed = i
		}
	}
	if after := len(sink.results) - 1 - crossed; crossed < 0 || after > 9+3 {
		t.Errorf("%d cells finished after the budget was crossed at cell %d", after, crossed)
	}
	if sum.Done >= 200 || len(sink.results) != sum.Done {
		t.Errorf("%d cells done of 200", sum.Done)
	}
	checkAccounted(t, f.plan, sink.results, sum.Done)
}
