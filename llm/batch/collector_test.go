package batch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/batch"
	"github.com/evalctl/evalctl/llm/openai"
	"github.com/evalctl/evalctl/llm/sim"
)

// memLedger is a Ledger in memory, shared by the collectors of a test as a
// store is by the processes of a run.
type memLedger struct {
	mu        sync.Mutex
	open      map[string]string // key → batch
	collected map[string]map[string]llm.Response
	submitted []string
}

func newLedger() *memLedger {
	return &memLedger{open: map[string]string{}, collected: map[string]map[string]llm.Response{}}
}

func (l *memLedger) Open(context.Context) (map[string]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]string{}
	for k, id := range l.open {
		out[k] = id
	}
	return out, nil
}

func (l *memLedger) Submitted(_ context.Context, id, _ string, keys []string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.submitted = append(l.submitted, id)
	for _, k := range keys {
		l.open[k] = id
	}
	return nil
}

func (l *memLedger) Collected(_ context.Context, id string, answers map[string]llm.Response) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.open {
		if b == id {
			delete(l.open, k)
		}
	}
	l.collected[id] = answers
	return nil
}

func questions(model string, n int) []llm.Request {
	out := make([]llm.Request, n)
	for i := range out {
		out[i] = llm.Request{Model: model, Messages: []llm.Message{{Role: "user", Content: fmt.Sprintf("Question: what is pattern %d?", i)}},
			Params: llm.Params{Temperature: ptr(0.0)}}
	}
	return out
}

// askAll asks every request at once, as a run's cells do.
func askAll(col llm.Client, ctx context.Context, reqs []llm.Request) ([]llm.Response, []error) {
	resps, errs := make([]llm.Response, len(reqs)), make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { resps[i], errs[i] = col.Complete(ctx, r) })
	}
	wg.Wait()
	return resps, errs
}

func fast(o batch.Options) batch.Options {
	o.Collect, o.Poll = 20*time.Millisecond, 5*time.Millisecond
	return o
}

// Requests asked together go as one batch per model, and get the answers
// interactive calls get; what is asked after their answers (the judges)
// goes as a second batch.
func TestCollectorBatchesWhatIsAskedTogether(t *testing.T) {
	srv, inter := startSim(t, sim.Options{BatchDelay: 30 * time.Millisecond}), startSim(t, sim.Options{})
	col := batch.NewCollector(newClient(srv.URL, batch.Config{}), fast(batch.Options{}))
	defer col.Close()
	reqs := append(questions("sim-a", 40), questions("sim-b", 10)...)
	reqs = append(reqs, reqs[3]) // asked twice, sent once
	got, errs := askAll(col, context.Background(), reqs)
	ic := openai.New(openai.Config{Provider: "openai", BaseURL: inter.URL, HTTPClient: httpClient()})
	for i, r := range reqs {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		want, err := ic.Complete(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		want.Latency, want.Attempts = 0, 1
		if d := cmp.Diff(want, got[i]); d != "" {
			t.Errorf("request %d: the batch answer differs from the interactive one:\n%s", i, d)
		}
	}
	if st := srv.Stats(); st.Batches != 2 || st.BatchAnswered != 50 || st.Interactive != 0 {
		t.Errorf("first wave: %d batches, %d answered, %d interactive; want 2 (one per model), 50, 0", st.Batches, st.BatchAnswered, st.Interactive)
	}
	// The judges of those answers.
	judges := make([]llm.Request, 20)
	for i := range judges {
		judges[i] = llm.Request{Model: "sim-a", Messages: []llm.Message{{Role: "user", Content: "Judge: " + got[i].Text}}}
	}
	if _, errs := askAll(col, context.Background(), judges); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if st := srv.Stats(); st.Batches != 3 || st.BatchAnswered != 70 {
		t.Errorf("after the judges: %d batches, %d answered; want 3, 70", st.Batches, st.BatchAnswered)
	}
	states := col.Batches()
	if len(states) != 3 {
		t.Errorf("%d batches reported", len(states))
	}
	for id, p := range states {
		if p.State.Status != batch.StatusCompleted || p.Model == "" {
			t.Errorf("%s: %+v", id, p)
		}
	}
}

// A process killed while its batch runs leaves the batch in the ledger;
// the next one waits for it instead of sending the requests again, and
// the answers are handed to the ledger to keep.
func TestCollectorReattaches(t *testing.T) {
	clk := newClock()
	srv := startSim(t, sim.Options{BatchDelay: 10 * time.Minute, Clock: clk.now})
	ledger := newLedger()
	reqs := questions("sim-a", 30)
	first := batch.NewCollector(newClient(srv.URL, batch.Config{}), fast(batch.Options{Ledger: ledger}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []error)
	go func() { _, errs := askAll(first, ctx, reqs); done <- errs }()
	for open, _ := ledger.Open(ctx); len(open) == 0; open, _ = ledger.Open(ctx) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	for _, err := range <-done {
		if llm.AsError(err).Kind != llm.KindCanceled {
			t.Fatalf("a canceled ask ended with %v", err)
		}
	}
	first.Close() // killed
	if n := len(ledger.open); n != 30 {
		t.Fatalf("the ledger holds %d open requests, want 30", n)
	}

	second := batch.NewCollector(newClient(srv.URL, batch.Config{}), fast(batch.Options{Ledger: ledger}))
	defer second.Close()
	answered := make(chan struct{})
	go func() {
		for {
			select {
			case <-answered:
				return
			case <-time.After(2 * time.Millisecond):
				clk.add(time.Minute)
			}
		}
	}()
	got, errs := askAll(second, context.Background(), reqs[:20]) // the rest are no longer wanted
	close(answered)
	for i := range got {
		if errs[i] != nil || got[i].Text == "" {
			t.Fatalf("request %d: %v %+v", i, errs[i], got[i])
		}
	}
	if st := srv.Stats(); st.Batches != 1 || st.Files != 1 || st.BatchAnswered != 30 {
		t.Errorf("%d batches, %d answered: want the first batch only", st.Batches, st.BatchAnswered)
	}
	if len(ledger.open) != 0 || len(ledger.collected) != 1 {
		t.Errorf("ledger: %d open, %d collected", len(ledger.open), len(ledger.collected))
	}
	for _, answers := range ledger.collected {
		if len(answers) != 30 {
			t.Errorf("the ledger got %d answers, want all 30 of the batch (10 asked by nobody now)", len(answers))
		}
	}
}

// Requests a batch did not run go to the fallback when there is one, and
// are errors otherwise.
func TestCollectorExpired(t *testing.T) {
	reqs := questions("sim-a", 10)
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprint("fallback=", fallback), func(t *testing.T) {
			srv := startSim(t, sim.Options{BatchExpireRate: 1})
			o := batch.Options{}
			if fallback {
				o.Fallback = openai.New(openai.Config{Provider: "openai", BaseURL: srv.URL, HTTPClient: httpClient()})
			}
			col := batch.NewCollector(newClient(srv.URL, batch.Config{}), fast(o))
			defer col.Close()
			got, errs := askAll(col, context.Background(), reqs)
			expired := 0
			for i := range reqs {
				switch e := llm.AsError(errs[i]); {
				case e == nil && got[i].Text != "":
				case !fallback && e.Kind == llm.KindTimeout && strings.Contains(e.Error(), "batch_expired"):
					expired++
				default:
					t.Errorf("request %d: %v", i, errs[i])
				}
			}
			st := srv.Stats()
			if fallback && (expired != 0 || st.Interactive != 5 || st.BatchAnswered != 5) {
				t.Errorf("%d errors, %d interactive, %d in the batch: want 0, 5, 5", expired, st.Interactive, st.BatchAnswered)
			}
			if !fallback && (expired != 5 || st.Interactive != 0) {
				t.Errorf("%d expired, %d interactive: want 5, 0", expired, st.Interactive)
			}
		})
	}
}

// An endpoint without a Batch API is one clear, fatal error.
func TestCollectorNoBatchAPI(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	col := batch.NewCollector(newClient(srv.URL, batch.Config{}), fast(batch.Options{}))
	defer col.Close()
	_, err := col.Complete(context.Background(), questions("m", 1)[0])
	e := llm.AsError(err)
	if e == nil || !e.Kind.Fatal() || !strings.Contains(e.Error(), "Batch API") {
		t.Errorf("got %v", err)
	}
}

// A batch the endpoint does not know (the ledger outlived a simulator, or
// belongs to another key) is not sent again behind the user's back: its
// requests fail, saying so, and the ledger forgets it, so that the next
// ask sends them anew.
func TestCollectorUnknownBatch(t *testing.T) {
	srv := startSim(t, sim.Options{})
	ledger := newLedger()
	reqs := questions("sim-a", 5)
	ledger.Submitted(context.Background(), "batch_gone", "sim-a", []string{batch.Key(reqs[0]), batch.Key(reqs[1])})
	col := batch.NewCollector(newClient(srv.URL, batch.Config{}), fast(batch.Options{Ledger: ledger}))
	defer col.Close()
	got, errs := askAll(col, context.Background(), reqs)
	for i := range reqs {
		e := llm.AsError(errs[i])
		switch {
		case i < 2 && (e == nil || e.Kind != llm.KindNotFound || !strings.Contains(e.Error(), "batch_gone") || !strings.Contains(e.Error(), "not sent again")):
			t.Errorf("request %d of the unknown batch: %v", i, errs[i])
		case i >= 2 && (e != nil || got[i].Text == ""):
			t.Errorf("request %d: %v", i, errs[i])
		}
	}
	if _, ok := ledger.collected["batch_gone"]; !ok || len(ledger.open) != 0 {
		t.Errorf("the unknown batch is still open in the ledger: %v", ledger.open)
	}
	if st := srv.Stats(); st.BatchAnswered != 3 {
		t.Errorf("%d answered in batches, want 3", st.BatchAnswered)
	}
	// Asked again, they go.
	if _, errs := askAll(col, context.Background(), reqs[:2]); errs[0] != nil || errs[1] != nil {
		t.Errorf("asked again: %v", errs)
	}
}
