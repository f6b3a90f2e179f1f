package batch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/batch"
	"github.com/evalctl/evalctl/llm/openai"
	"github.com/evalctl/evalctl/llm/sim"
	"github.com/evalctl/evalctl/llm/transport"
)

var fastPolicy = transport.Policy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxWait: time.Second, AttemptTimeout: 5 * time.Second}

func httpClient() *http.Client { return &http.Client{Transport: transport.New(nil, fastPolicy)} }

func startSim(t *testing.T, o sim.Options) *sim.Running {
	t.Helper()
	srv, err := sim.Start("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func newClient(base string, cfg batch.Config) *batch.Client {
	cfg.BaseURL, cfg.HTTPClient = base, httpClient()
	return batch.New(cfg)
}

// clock is a time the test moves, for the simulator's batch lifecycle.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }
func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ptr[T any](v T) *T { return &v }

const judgePrompt = "Judge.\n\n<<<CRITERIA-ab12>>>\nThe answer should be in English.\n<<<END-CRITERIA-ab12>>>\n\n<<<QUESTION-ab12>>>\nQuestion: What is an algorithm?\n<<<END-QUESTION-ab12>>>\n\n<<<ANSWER-ab12>>>\nAn algorithm is a finite sequence of steps.\n<<<END-ANSWER-ab12>>>\n\nReply {\"rationale\": \"...\", \"result\": \"yes\" or \"no\"}"

// mixed are requests of every shape a run sends: answers at temperature
// 0 and above, a length limit, a judge with a schema, tool calls.
func mixed(model string) []batch.Item {
	sys := llm.Message{Role: "system", Content: "You are a professor."}
	q := func(s string) []llm.Message {
		return []llm.Message{sys, {Role: "user", Content: "Category: Git\nQuestion: " + s}}
	}
	return []batch.Item{
		{CustomID: "t0", Req: llm.Request{Model: model, Messages: q("What is a commit?"), Params: llm.Params{Temperature: ptr(0.0)}}},
		{CustomID: "hot", Req: llm.Request{Model: model, Messages: q("What is a branch?"), Params: llm.Params{Temperature: ptr(0.9), Seed: ptr(3)}}},
		{CustomID: "short", Req: llm.Request{Model: model, Messages: q("Provide a rigorous, academic answer: what is a merge?"), Params: llm.Params{MaxTokens: 12}}},
		{CustomID: "judge", Req: llm.Request{Model: model, Messages: []llm.Message{{Role: "user", Content: judgePrompt}},
			Schema: &llm.Schema{Name: "verdict", Schema: json.RawMessage(`{"type":"object","properties":{"result":{"type":"string"}}}`)}}},
		{CustomID: "agent", Req: llm.Request{Model: model, Messages: q("What is a rebase?"),
			Tools: []llm.Tool{{Name: "web_search", Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}}}`)}}}},
		{CustomID: "other model", Model: "sim-b", Req: llm.Request{Model: model, Messages: q("What is a tag?")}},
	}
}

// run submits items and waits for their batches, returning the merged
// outcomes and final states.
func run(t *testing.T, c *batch.Client, items []batch.Item) (map[string]batch.Outcome, []batch.State) {
	t.Helper()
	ctx := context.Background()
	ids, err := c.Submit(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]batch.Outcome{}
	var states []batch.State
	for _, id := range ids {
		st, err := c.Wait(ctx, id, time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, st)
		got, err := c.Results(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range got {
			all[k] = v
		}
	}
	return all, states
}

// A batch gets the answers interactive calls get, usage included.
func TestAnswersMatchInteractive(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts sim.Options
	}{
		{"default", sim.Options{}},
		{"seeded, with delay", sim.Options{Seed: 7, BatchDelay: 20 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items := mixed("sim-a")
			inter, batched := startSim(t, tc.opts), startSim(t, tc.opts)
			ic := openai.New(openai.Config{Provider: "openai", BaseURL: inter.URL, HTTPClient: httpClient()})
			got, states := run(t, newClient(batched.URL, batch.Config{}), items)
			if len(states) != 2 {
				t.Errorf("%d batches, want one per model", len(states))
			}
			for _, it := range items {
				req := it.Req
				if it.Model != "" {
					req.Model = it.Model
				}
				want, err := ic.Complete(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				want.Latency, want.Attempts = 0, 1
				o, ok := got[it.CustomID]
				if !ok || o.Err != nil {
					t.Fatalf("%s: %+v", it.CustomID, o)
				}
				if d := cmp.Diff(want, o.Response); d != "" {
					t.Errorf("%s: batch answer differs from the interactive one (-interactive +batch):\n%s", it.CustomID, d)
				}
				if o.Response.Usage.PromptTokens == 0 {
					t.Errorf("%s: no usage", it.CustomID)
				}
			}
			if st := batched.Stats(); st.BatchAnswered != int64(len(items)) || st.Interactive != 0 || st.Batches != 2 {
				t.Errorf("batch server stats %+v", st)
			}
			if st := inter.Stats(); st.BatchAnswered != 0 || st.Interactive != int64(len(items)) {
				t.Errorf("interactive server stats %+v", st)
			}
		})
	}
}

func TestFailuresMapToKinds(t *testing.T) {
	many := func(n int, model string, schema bool) []batch.Item {
		var out []batch.Item
		for i := range n {
			it := batch.Item{CustomID: fmt.Sprintf("%s-%d", model, i), Req: llm.Request{Model: model,
				Messages: []llm.Message{{Role: "user", Content: fmt.Sprintf("Question: What is item %d?", i)}}}}
			if schema {
				it.Req.Schema = &llm.Schema{Name: "s", Schema: json.RawMessage(`{"type":"object"}`)}
			}
			out = append(out, it)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		opts  sim.Options
		items []batch.Item
		want  map[llm.Kind]bool // kinds that must occur among the failures
		ok    bool              // some requests must succeed
	}{
		{"injected 500 and 429", sim.Options{BatchFailRate: 0.5, Seed: 1}, many(30, "m", false),
			map[llm.Kind]bool{llm.KindServer: true, llm.KindRateLimited: true}, true},
		{"unknown model", sim.Options{Models: []string{"m"}}, append(many(2, "m", false), many(2, "gone", false)...),
			map[llm.Kind]bool{llm.KindNotFound: true}, true},
		{"refused schema", sim.Options{NoSchema: true}, many(3, "m", true), map[llm.Kind]bool{llm.KindClient: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSim(t, tc.opts)
			got, states := run(t, newClient(srv.URL, batch.Config{}), tc.items)
			failed, answered := 0, 0
			for _, st := range states {
				failed += st.Failed
				answered += st.Completed
			}
			kinds := map[llm.Kind]bool{}
			nErr := 0
			for id, o := range got {
				if o.Err == nil {
					continue
				}
				nErr++
				kinds[o.Err.Kind] = true
				if o.Err.Status == 0 || o.Err.Msg == "" || o.Err.Attempts != 1 {
					t.Errorf("%s: %+v", id, o.Err)
				}
			}
			if len(got) != len(tc.items) || nErr != failed || len(got)-nErr != answered {
				t.Errorf("%d outcomes, %d errors; the batches say %d failed, %d completed", len(got), nErr, failed, answered)
			}
			for k := range tc.want {
				if !kinds[k] {
					t.Errorf("no %v failure among %v", k, kinds)
				}
			}
			if tc.ok != (answered > 0) {
				t.Errorf("%d answered", answered)
			}
			if st := srv.Stats(); st.BatchFailed != int64(failed) {
				t.Errorf("sim counted %d failed, batches %d", st.BatchFailed, failed)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	srv := startSim(t, sim.Options{BatchExpireRate: 1})
	items := mixed("m")[:4]
	got, states := run(t, newClient(srv.URL, batch.Config{}), items)
	if states[0].Status != batch.StatusExpired || states[0].ExpiredAt.IsZero() {
		t.Fatalf("state %+v", states[0])
	}
	expired := 0
	for id, o := range got {
		if o.Expired() {
			expired++
			if o.Err == nil || o.Err.Kind != llm.KindTimeout || !strings.Contains(o.Err.Msg, "batch_expired") {
				t.Errorf("%s: %+v", id, o.Err)
			}
		} else if o.Err != nil {
			t.Errorf("%s: %v", id, o.Err)
		}
	}
	if len(got) != 4 || expired != 2 {
		t.Errorf("%d outcomes, %d expired", len(got), expired)
	}
}

func TestCancel(t *testing.T) {
	clk := newClock()
	srv := startSim(t, sim.Options{BatchDelay: time.Hour, Clock: clk.now})
	c := newClient(srv.URL, batch.Config{})
	ctx := context.Background()
	ids, err := c.Submit(ctx, mixed("m")[:5])
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Cancel(ctx, ids[0])
	if err != nil || st.Status != batch.StatusCancelling || st.Done() {
		t.Fatalf("cancel: %v %+v", err, st)
	}
	clk.add(time.Hour)
	st, err = c.Wait(ctx, ids[0], time.Millisecond, nil)
	if err != nil || st.Status != batch.StatusCancelled || st.CancelledAt.IsZero() {
		t.Fatalf("wait: %v %+v", err, st)
	}
	got, err := c.Results(ctx, st)
	if err != nil || len(got) != 5 {
		t.Fatalf("%v: %d outcomes", err, len(got))
	}
	for id, o := range got {
		if o.Code != batch.CodeCancelled || o.Err.Kind != llm.KindCanceled {
			t.Errorf("%s: %+v", id, o)
		}
	}
	if _, err := c.Cancel(ctx, ids[0]); llm.AsError(err).Kind != llm.KindClient {
		t.Errorf("cancelling an ended batch: %v", err)
	}
	if srv.Stats().BatchAnswered != 0 {
		t.Error("a batch cancelled at once answered requests")
	}
}

// A malformed input file fails its batch, and the error names the line.
func TestMalformedInputNamesTheLine(t *testing.T) {
	good, err := batch.Build(mixed("m")[:2])
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := bytes.Cut(good, []byte("\n"))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"duplicate custom_id", append(append(bytes.Clone(good), first...), '\n'), "line 3: duplicate_custom_id"},
		{"not JSON", append(bytes.Clone(good), "{\"custom_id\": \n"...), "line 3: invalid_json_line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSim(t, sim.Options{})
			c := newClient(srv.URL, batch.Config{})
			id, err := c.SubmitFile(context.Background(), tc.data)
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.Wait(context.Background(), id, time.Millisecond, nil)
			if err != nil || st.Status != batch.StatusFailed || len(st.Errors) == 0 {
				t.Fatalf("%v %+v", err, st)
			}
			e := st.Err()
			if llm.AsError(e).Kind != llm.KindClient || !strings.Contains(e.Error(), tc.want) {
				t.Errorf("err %v, want it to name %q", e, tc.want)
			}
			if _, err := c.Results(context.Background(), st); !errors.Is(err, e) && (err == nil || err.Error() != e.Error()) {
				t.Errorf("results of a failed batch: %v", err)
			}
		})
	}
}

func TestBuildRefuses(t *testing.T) {
	req := llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}}
	for _, tc := range []struct {
		name  string
		items []batch.Item
		want  string
	}{
		{"duplicate", []batch.Item{{CustomID: "a", Req: req}, {CustomID: "a", Req: req}}, `"a" is also item 1's`},
		{"no id", []batch.Item{{Req: req}}, "item 1: no custom id"},
		{"no model", []batch.Item{{CustomID: "x", Req: llm.Request{Messages: req.Messages}}}, `"x": no model`},
	} {
		if _, err := batch.Build(tc.items); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// Each line's body is what the interactive client sends, temperature 0
// included (go-openai would omit it).
func TestBuildBodies(t *testing.T) {
	items := mixed("m")
	data, err := batch.Build(items)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != len(items) {
		t.Fatalf("%d lines for %d items", len(lines), len(items))
	}
	for i, l := range lines {
		var m struct {
			CustomID string          `json:"custom_id"`
			Method   string          `json:"method"`
			URL      string          `json:"url"`
			Body     json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		req := items[i].Req
		if items[i].Model != "" {
			req.Model = items[i].Model
		}
		want, _ := openai.RequestBody(req, true)
		if m.CustomID != items[i].CustomID || m.Method != "POST" || m.URL != "/v1/chat/completions" || string(m.Body) != string(want) {
			t.Errorf("line %d: %s\nwant body %s", i+1, l, want)
		}
	}
	if !strings.Contains(lines[0], `"temperature":0`) {
		t.Errorf("temperature 0 lost: %s", lines[0])
	}
}

// Polling stops when the context ends; the batch runs on.
func TestWaitStopsOnCancel(t *testing.T) {
	srv := startSim(t, sim.Options{BatchDelay: time.Hour})
	c := newClient(srv.URL, batch.Config{})
	ids, err := c.Submit(context.Background(), mixed("m")[:3])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	polls := 0
	st, err := c.Wait(ctx, ids[0], time.Millisecond, func(s batch.State) {
		if polls++; polls == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || st.ID != ids[0] || st.Done() || polls != 3 {
		t.Errorf("err %v, state %+v after %d polls", err, st, polls)
	}
	if st, err := c.Status(context.Background(), ids[0]); err != nil || st.Done() {
		t.Errorf("the batch should run on: %v %+v", err, st)
	}
}

func TestWaitGivesUpOnFatal(t *testing.T) {
	srv := startSim(t, sim.Options{APIKey: "sk-right-key-0000"})
	c := newClient(srv.URL, batch.Config{APIKey: "sk-wrong-key-0000"})
	_, err := c.Wait(context.Background(), "batch_x", time.Millisecond, nil)
	if e := llm.AsError(err); e.Kind != llm.KindAuth || strings.Contains(e.Error(), "sk-wrong-key-0000") {
		t.Errorf("%v", err)
	}
}

// A killed evalctl re-attaches: a new client with the batch id reads the
// same results, and no request is answered twice.
func TestReattach(t *testing.T) {
	clk := newClock()
	srv := startSim(t, sim.Options{BatchDelay: 10 * time.Minute, Clock: clk.now})
	items := mixed("m")[:5]
	var ids []string
	{
		first := newClient(srv.URL, batch.Config{})
		var err error
		if ids, err = first.Submit(context.Background(), items); err != nil {
			t.Fatal(err)
		}
		clk.add(5 * time.Minute)
		st, err := first.Status(context.Background(), ids[0])
		if err != nil || st.Status != batch.StatusInProgress || st.Completed == 0 || st.Completed == len(items) {
			t.Fatalf("%v %+v", err, st)
		}
	} // the first process dies here
	clk.add(time.Hour)
	read := func() map[string]batch.Outcome {
		c := newClient(srv.URL, batch.Config{})
		st, err := c.Wait(context.Background(), ids[0], time.Millisecond, nil)
		if err != nil || st.Status != batch.StatusCompleted {
			t.Fatalf("%v %+v", err, st)
		}
		got, err := c.Results(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	a, b := read(), read()
	if len(a) != len(items) {
		t.Errorf("%d outcomes", len(a))
	}
	if d := cmp.Diff(a, b); d != "" {
		t.Errorf("results differ between readers:\n%s", d)
	}
	if st := srv.Stats(); st.Batches != 1 || st.Files != 1 || st.BatchAnswered != int64(len(items)) || st.Generation+st.Judge != int64(len(items)) {
		t.Errorf("stats %+v", st)
	}
}

// A lost answer to the batch creation is not retried into a second batch:
// Submit finds the one it created.
func TestLostCreateAnswer(t *testing.T) {
	srv := startSim(t, sim.Options{})
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && r.URL.Path == "/v1/batches" {
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, r) // created, but the answer is lost
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"error":{"message":"upstream went away","type":"server_error"}}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	c := newClient(front.URL+"/v1", batch.Config{})
	ids, err := c.Submit(context.Background(), mixed("m")[:2])
	if err != nil || len(ids) != 1 {
		t.Fatalf("%v %v", ids, err)
	}
	if st := srv.Stats(); st.Batches != 1 {
		t.Errorf("%d batches created", st.Batches)
	}
	st, err := c.Wait(context.Background(), ids[0], time.Millisecond, nil)
	if err != nil || st.Status != batch.StatusCompleted || st.Completed != 2 {
		t.Errorf("%v %+v", err, st)
	}
}

// Over the limits, a submission becomes several batches that the server
// accepts; the results of all of them cover every item.
func TestSplitOverLimit(t *testing.T) {
	var items []batch.Item
	for i := range 8 {
		model := "m1"
		if i%3 == 2 {
			model = "m2"
		}
		items = append(items, batch.Item{CustomID: fmt.Sprint(i), Req: llm.Request{Model: model,
			Messages: []llm.Message{{Role: "user", Content: fmt.Sprintf("Question: What is %d?", i)}}}})
	}
	srv := startSim(t, sim.Options{BatchMaxRequests: 3})
	c := newClient(srv.URL, batch.Config{Limits: batch.Limits{MaxRequests: 3}, Metadata: map[string]string{"run": "r1"}})
	got, states := run(t, c, items)
	if len(states) != 3 || len(got) != 8 {
		t.Fatalf("%d batches, %d outcomes", len(states), len(got))
	}
	for id, o := range got {
		if o.Err != nil {
			t.Errorf("%s: %v", id, o.Err)
		}
	}
	if st := srv.Stats(); st.Batches != 3 || st.BatchAnswered != 8 {
		t.Errorf("stats %+v", st)
	}
	// The same items with the server's limit unknown to the client: the
	// server refuses the batch, naming the problem.
	srv2 := startSim(t, sim.Options{BatchMaxRequests: 3})
	ids, err := newClient(srv2.URL, batch.Config{}).Submit(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := newClient(srv2.URL, batch.Config{}).Wait(context.Background(), ids[0], time.Millisecond, nil)
	if st.Status != batch.StatusFailed || !strings.Contains(fmt.Sprint(st.Err()), "too_many_tasks") {
		t.Errorf("%+v", st)
	}
}

func TestSplit(t *testing.T) {
	item := func(id, model string, words int) batch.Item {
		return batch.Item{CustomID: id, Req: llm.Request{Model: model,
			Messages: []llm.Message{{Role: "user", Content: strings.Repeat("word ", words)}}}}
	}
	line := func(it batch.Item) int64 { b, _ := batch.Build([]batch.Item{it}); return int64(len(b)) }
	small := line(item("a", "m", 10))
	for _, tc := range []struct {
		name  string
		items []batch.Item
		lim   batch.Limits
		want  [][]string // custom ids per batch
		err   string
	}{
		{"one batch", []batch.Item{item("a", "m", 10), item("b", "m", 10)}, batch.Limits{}, [][]string{{"a", "b"}}, ""},
		{"by count", []batch.Item{item("a", "m", 10), item("b", "m", 10), item("c", "m", 10)}, batch.Limits{MaxRequests: 2}, [][]string{{"a", "b"}, {"c"}}, ""},
		{"by model", []batch.Item{item("a", "m", 10), item("b", "n", 10), item("c", "m", 10)}, batch.Limits{}, [][]string{{"a", "c"}, {"b"}}, ""},
		{"by bytes", []batch.Item{item("a", "m", 10), item("b", "m", 10), item("c", "m", 10)}, batch.Limits{MaxBytes: 2*small + 1}, [][]string{{"a", "b"}, {"c"}}, ""},
		{"too large", []batch.Item{item("a", "m", 10), item("b", "m", 500)}, batch.Limits{MaxBytes: 2 * small}, nil, `"b": its request takes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts, err := batch.Split(tc.items, tc.lim)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			var got [][]string
			for _, p := range parts {
				var ids []string
				for _, it := range p {
					ids = append(ids, it.CustomID)
				}
				got = append(got, ids)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Error(d)
			}
		})
	}
}

// States kept from an earlier process are enough to read results, from a
// client whose first calls are file downloads (JSONL, not JSON).
func TestResultsFromStoredStates(t *testing.T) {
	srv := startSim(t, sim.Options{})
	var items []batch.Item
	for i := range 8 {
		items = append(items, batch.Item{CustomID: fmt.Sprint(i), Req: llm.Request{Model: "m",
			Messages: []llm.Message{{Role: "user", Content: fmt.Sprintf("Question: What is %d?", i)}}}})
	}
	// Two requests a batch: output files of two lines, not one JSON value.
	first := newClient(srv.URL, batch.Config{Limits: batch.Limits{MaxRequests: 2}})
	ids, err := first.Submit(context.Background(), items)
	if err != nil || len(ids) != 4 {
		t.Fatalf("%v %v", ids, err)
	}
	var states []batch.State
	for _, id := range ids {
		st, err := first.Wait(context.Background(), id, time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, st)
	}
	fresh := newClient(srv.URL, batch.Config{})
	n := 0
	for _, st := range states {
		got, err := fresh.Results(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		n += len(got)
	}
	if n != len(items) {
		t.Errorf("%d outcomes", n)
	}
}

// When a later batch cannot be made, the ids of the batches already
// created come back with the error: they run, and are paid for.
func TestSubmitReturnsWhatItCreated(t *testing.T) {
	srv := startSim(t, sim.Options{})
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	uploads := 0
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && r.URL.Path == "/v1/files" {
			if uploads++; uploads == 2 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"error":{"message":"storage quota reached","type":"invalid_request_error"}}`)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	c := newClient(front.URL+"/v1", batch.Config{})
	ids, err := c.Submit(context.Background(), mixed("m")) // two models: two batches
	if e := llm.AsError(err); e == nil || e.Kind != llm.KindClient || !strings.Contains(e.Msg, "storage quota") || len(ids) != 1 {
		t.Fatalf("ids %v, err %v", ids, err)
	}
	if st := srv.Stats(); st.Batches != 1 {
		t.Errorf("%d batches", st.Batches)
	}
}
