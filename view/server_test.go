package view

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
)

// serve starts the app over st on a real loopback socket.
func serve(t testing.TB, st *store.Store, opts Options) (*httptest.Server, *Server) {
	t.Helper()
	if opts.Author == "" {
		opts.Author = "tester"
	}
	opts.Loopback = true
	s, err := New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, s
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type response struct {
	code int
	body string
	h    http.Header
}

func do(t testing.TB, req *http.Request) response {
	t.Helper()
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, string(b), res.Header}
}

func get(t testing.TB, u string) response {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return do(t, req)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([0-9a-f]+)">`)

// postJSON posts a label as the page's script does.
func postJSON(t testing.TB, ts *httptest.Server, csrf, runID string, body any, header map[string]string) response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", ts.URL+"/runs/"+runID+"/labels", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func TestTokenOnEveryRoute(t *testing.T) {
	st := newStore(t)
	a := writeRun(t, st, fixture{name: "nightly", rows: 12})
	b := writeRun(t, st, fixture{name: "nightly", rows: 12, version: "v2bbbbbb", seed: 1})
	ts, srv := serve(t, st, Options{Token: "s3cret-token"})
	routes := []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/runs/" + b.ID}, {"GET", "/runs/" + b.ID + "/row"}, {"GET", "/runs/" + b.ID + "/summary"},
		{"GET", "/runs/" + b.ID + "/cells/0"}, {"GET", "/compare?a=" + a.ID + "&b=" + b.ID},
		{"GET", "/compare/question?a=" + a.ID + "&b=" + b.ID + "&variant=" + b.Spec.Layout.Variants[0].ID + "&scorer=english&row=q0000"},
		{"GET", "/trend?name=nightly"}, {"GET", "/prompts"}, {"GET", "/prompts?name=basic"},
		{"GET", "/assets/view.js"}, {"GET", "/assets/view.css"}, {"GET", "/assets/chart.js"}, {"GET", "/favicon.ico"},
		{"GET", "/no/such/page"}, {"POST", "/runs/" + b.ID + "/labels"}, {"HEAD", "/"}, {"PUT", "/"}, {"DELETE", "/runs/" + b.ID},
	}
	for _, rt := range routes {
		for _, tc := range []struct {
			name string
			set  func(*http.Request)
		}{
			{"no token", func(*http.Request) {}},
			{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }},
			{"wrong query", func(r *http.Request) { q := r.URL.Query(); q.Set("token", "nope"); r.URL.RawQuery = q.Encode() }},
			{"wrong cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: srv.cookie, Value: "nope"}) }},
			{"token of another cookie name", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "evalctl_view", Value: "s3cret-token"}) }},
		} {
			req, _ := http.NewRequest(rt.method, ts.URL+rt.path, strings.NewReader("{}"))
			tc.set(req)
			res := do(t, req)
			if res.code != http.StatusUnauthorized {
				t.Errorf("%s %s, %s: %d, want 401", rt.method, rt.path, tc.name, res.code)
			}
			if strings.Contains(res.body, "<html") || strings.Contains(res.body, b.ID) {
				t.Errorf("%s %s, %s: the 401 shows the page", rt.method, rt.path, tc.name)
			}
		}
		// With the token every GET route answers.
		if rt.method == "GET" {
			req, _ := http.NewRequest("GET", ts.URL+rt.path, nil)
			req.Header.Set("Authorization", "Bearer s3cret-token")
			want := http.StatusOK
			switch rt.path {
			case "/favicon.ico":
				want = http.StatusNoContent
			case "/no/such/page":
				want = http.StatusNotFound
			}
			if res := do(t, req); res.code != want {
				t.Errorf("GET %s with the token: %d, want %d: %.200s", rt.path, res.code, want, res.body)
			}
		}
	}
	// The token in the address becomes a cookie, and leaves the address.
	res := get(t, ts.URL+"/runs/"+b.ID+"?token=s3cret-token&variant=")
	if res.code != http.StatusSeeOther || strings.Contains(res.h.Get("Location"), "token") {
		t.Fatalf("?token: %d to %q", res.code, res.h.Get("Location"))
	}
	c := res.h.Get("Set-Cookie")
	if !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") || !strings.Contains(c, "s3cret-token") {
		t.Errorf("cookie %q", c)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/runs/"+b.ID, nil)
	req.AddCookie(&http.Cookie{Name: srv.cookie, Value: "s3cret-token"})
	if res := do(t, req); res.code != http.StatusOK {
		t.Errorf("with the cookie: %d", res.code)
	}
	// Every answer carries the security headers, a 401 too.
	res = get(t, ts.URL+"/")
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"} {
		if res.h.Get(h) == "" {
			t.Errorf("401 lacks %s", h)
		}
	}
}

func TestLoopbackHostOnly(t *testing.T) {
	st := newStore(t)
	writeRun(t, st, fixture{rows: 2})
	ts, _ := serve(t, st, Options{})
	for _, tc := range []struct {
		host string
		want int
	}{
		{"", http.StatusOK}, // the test server's own 127.0.0.1:port
		{"localhost:8080", http.StatusOK},
		{"[::1]:8080", http.StatusOK},
		{"evil.example:8080", http.StatusForbidden}, // DNS rebinding
		{"192.168.1.5", http.StatusForbidden},
	} {
		req, _ := http.NewRequest("GET", ts.URL+"/", nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		if res := do(t, req); res.code != tc.want {
			t.Errorf("Host %q: %d, want %d", tc.host, res.code, tc.want)
		}
	}
}

func TestLabelWritesAreGuarded(t *testing.T) {
	st := newStore(t)
	run := writeRun(t, st, fixture{rows: 6})
	ts, _ := serve(t, st, Options{})
	page := get(t, ts.URL+"/runs/"+run.ID+"/cells/0")
	m := csrfMeta.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatal("no CSRF token in the page")
	}
	csrf := m[1]
	label := map[string]any{"cell": 0, "criterion": "english", "value": "fail"}
	for _, tc := range []struct {
		name   string
		csrf   string
		header map[string]string
		want   int
	}{
		{"no CSRF token", "", nil, http.StatusForbidden},
		{"wrong CSRF token", "0123", nil, http.StatusForbidden},
		{"cross-site fetch", csrf, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site other origin", csrf, map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"other origin", csrf, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"same origin", csrf, map[string]string{"Origin": ts.URL, "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"no browser headers", csrf, nil, http.StatusOK},
	} {
		res := postJSON(t, ts, tc.csrf, run.ID, label, tc.header)
		if res.code != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, res.code, tc.want, res.body)
		}
	}
	// A cross-site form post (what another site can make a browser send)
	// never writes: it has no CSRF token.
	form := url.Values{"cell": {"0"}, "criterion": {"english"}, "value": {"pass"}}
	req, _ := http.NewRequest("POST", ts.URL+"/runs/"+run.ID+"/labels", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if res := do(t, req); res.code != http.StatusForbidden {
		t.Errorf("cross-site form: %d", res.code)
	}
	if ls, _ := st.Labels(context.Background(), run.ID); len(ls) != 1 || ls[0].Value != "fail" {
		t.Errorf("labels after the refused writes: %+v", ls)
	}
	// Bad labels are refused with what is wrong.
	for _, tc := range []struct {
		body map[string]any
		want int
		msg  string
	}{
		{map[string]any{"cell": 0, "criterion": "nope", "value": "pass"}, 400, "no such scorer"},
		{map[string]any{"cell": 0, "criterion": "english", "value": "maybe"}, 400, "want pass or fail"},
		{map[string]any{"cell": 0, "criterion": "english"}, 400, "needs pass, fail or a comment"},
		{map[string]any{"cell": 3, "criterion": "english", "value": "pass"}, 400, "no answer to label"},
		{map[string]any{"cell": 999, "criterion": "english", "value": "pass"}, 404, "no such answer"},
		{map[string]any{"cell": 0, "criterion": "english", "value": "pass", "extra": 1}, 400, "unknown field"},
	} {
		if res := postJSON(t, ts, csrf, run.ID, tc.body, nil); res.code != tc.want || !strings.Contains(res.body, tc.msg) {
			t.Errorf("%v: %d %s", tc.body, res.code, res.body)
		}
	}
}

func TestReadOnly(t *testing.T) {
	st := newStore(t)
	run := writeRun(t, st, fixture{rows: 4})
	ts, _ := serve(t, st, Options{ReadOnly: true})
	page := get(t, ts.URL+"/runs/"+run.ID+"/cells/0")
	if page.code != 200 || strings.Contains(page.body, `class="label-form"`) || !strings.Contains(page.body, "read-only") {
		t.Errorf("read-only cell page offers labels (%d)", page.code)
	}
	csrf := csrfMeta.FindStringSubmatch(page.body)[1]
	res := postJSON(t, ts, csrf, run.ID, map[string]any{"cell": 0, "criterion": "english", "value": "pass"}, nil)
	if res.code != http.StatusForbidden || !strings.Contains(res.body, "read-only") {
		t.Errorf("read-only write: %d %s", res.code, res.body)
	}
	if ls, _ := st.Labels(context.Background(), run.ID); len(ls) != 0 {
		t.Errorf("a read-only server wrote %d labels", len(ls))
	}
}

func TestLabelsRoundTrip(t *testing.T) {
	st := newStore(t)
	run := writeRun(t, st, fixture{rows: 8})
	ts, _ := serve(t, st, Options{Author: "ann"})
	csrf := csrfMeta.FindStringSubmatch(get(t, ts.URL+"/").body)[1]
	post := func(body map[string]any) labelJSON {
		t.Helper()
		res := postJSON(t, ts, csrf, run.ID, body, nil)
		if res.code != 200 {
			t.Fatalf("%v: %d %s", body, res.code, res.body)
		}
		var l labelJSON
		json.Unmarshal([]byte(res.body), &l)
		return l
	}
	post(map[string]any{"cell": 0, "criterion": "english", "value": "pass"})
	post(map[string]any{"cell": 0, "criterion": "english", "value": "fail"})
	// A comment alone keeps the verdict.
	if l := post(map[string]any{"cell": 0, "criterion": "english", "comment": "says <b>hi</b> only"}); l.Value != "fail" || l.Author != "ann" {
		t.Errorf("comment: %+v", l)
	}
	post(map[string]any{"cell": 1, "criterion": "english", "value": "pass"})
	post(map[string]any{"cell": 2, "criterion": "correctness", "value": "fail"})
	// The form of the cell page (no script) writes too, and goes back.
	form := url.Values{"csrf": {csrf}, "cell": {"4"}, "criterion": {"english"}, "value": {"pass"}, "back": {"//evil.example/x"}}
	req, _ := http.NewRequest("POST", ts.URL+"/runs/"+run.ID+"/labels", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := do(t, req); res.code != http.StatusSeeOther || res.h.Get("Location") != "/runs/"+run.ID+"/cells/4" {
		t.Errorf("form post: %d to %q", res.code, res.h.Get("Location"))
	}

	// A restarted server reads them back.
	ts2, _ := serve(t, st, Options{})
	cell := get(t, ts2.URL+"/runs/"+run.ID+"/cells/0")
	for _, want := range []string{"history (3)", "says &lt;b&gt;hi&lt;/b&gt; only", `<span class="badge fail">fail</span> <span class="by">ann,`} {
		if !strings.Contains(cell.body, want) {
			t.Errorf("cell page lacks %q", want)
		}
	}
	list := get(t, ts2.URL+"/runs/"+run.ID+"?criterion=english&label=any")
	if n := strings.Count(list.body, `<tr class="answer"`); n != 3 {
		t.Errorf("%d answers labelled for english, want 3", n)
	}
	if !strings.Contains(list.body, "People and judges") {
		t.Error("the run page shows no agreement of people and judges")
	}
	// Agreement: cell 0 is row 0 (the judge fails it: (0+0)%4 == 0) labelled fail; cell 1 row 0 of the agent, fail too, labelled pass.
	lvs, _ := st.LabelVerdicts(context.Background(), run)
	ag := agreements(lvs, run.Spec.Layout.Scorers)
	if len(ag) != 2 || ag[0].Criterion != "english" || ag[0].Labels != 3 || ag[0].Compared != 3 || ag[0].Agree != 2 {
		t.Errorf("agreement %+v", ag)
	}
	// Export reads the same labels: the latest of each answer.
	ls, _ := st.Labels(context.Background(), run.ID)
	if len(ls) != 4 || ls[0].Value != "fail" || ls[0].Comment != "says <b>hi</b> only" {
		t.Errorf("stored: %+v", ls)
	}
}

func TestRunPagePagingAndFilters(t *testing.T) {
	st := newStore(t)
	run := writeRun(t, st, fixture{rows: 60}) // 120 cells
	ts, _ := serve(t, st, Options{})
	rows := func(body string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`<tr class="answer" data-cell="(\d+)"`).FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	fails := 30 // english fails rows 0, 4, … 56 of both variants
	for _, tc := range []struct {
		query string
		count string
		first string
		n     int
	}{
		{"", "1–50 of 120 answers", "0", 50},
		{"page=3", "101–120 of 120 answers", "100", 20},
		{"scorer=english&outcome=fail", fmt.Sprintf("1–%d of %d answers", fails, fails), "0", fails},
		{"outcome=generror", "1–1 of 1 answers", "3", 1},
		{"scorer=correctness&outcome=skip&page=2", "51–59 of 59 answers", "103", 9},
		{"q=concept+42", "1–2 of 2 answers", "84", 2},
		{"q=%25", "No answers match", "", 0},
		{"q=" + url.QueryEscape(`<T> & "generics"`), "1–2 of 2 answers", "14", 2},
		{"variant=" + run.Spec.Layout.Variants[1].ID, "1–50 of 60 answers", "1", 50},
	} {
		res := get(t, ts.URL+"/runs/"+run.ID+"?"+tc.query)
		if res.code != 200 {
			t.Fatalf("%s: %d %s", tc.query, res.code, res.body)
		}
		got := rows(res.body)
		if !strings.Contains(res.body, tc.count) || len(got) != tc.n || (tc.n > 0 && got[0] != tc.first) {
			m := regexp.MustCompile(`id="count">([^<]*)`).FindStringSubmatch(res.body)
			t.Errorf("%q: %q, %d rows from %v; want %q, %d from %s", tc.query, m, len(got), got[:min(1, len(got))], tc.count, tc.n, tc.first)
		}
	}
	// Past the last page: the last page (a 303 the client follows).
	if res := get(t, ts.URL+"/runs/"+run.ID+"?page=40&q=concept"); res.code != 303 || res.h.Get("Location") != "/runs/"+run.ID+"?criterion=english&page=3&q=concept#answers" {
		t.Errorf("page past the end: %d to %q", res.code, res.h.Get("Location"))
	}
	for _, q := range []string{"page=x", "page=99999999999", "outcome=maybe", "order=random", "scorer=nope", "criterion=nope", "label=meh"} {
		if res := get(t, ts.URL+"/runs/"+run.ID+"?"+q); res.code != 400 {
			t.Errorf("%s: %d", q, res.code)
		}
	}
	if res := get(t, ts.URL+"/runs/nope"); res.code != 404 {
		t.Errorf("unknown run: %d", res.code)
	}
	if res := get(t, ts.URL+"/runs/"+run.ID+"/cells/9999"); res.code != 404 {
		t.Errorf("unknown cell: %d", res.code)
	}
	// The cell page knows its place in the list it was opened from.
	res := get(t, ts.URL+"/runs/"+run.ID+"/cells/1?scorer=english&outcome=fail&pos=1")
	if !strings.Contains(res.body, "answer 2 of 30") || !strings.Contains(res.body, `/runs/`+run.ID+`/cells/0?outcome=fail&amp;scorer=english&amp;pos=0`) ||
		!strings.Contains(res.body, `/runs/`+run.ID+`/cells/8?outcome=fail&amp;scorer=english&amp;pos=2`) {
		t.Errorf("cell page neighbours: %s", regexp.MustCompile(`(?s)<p class="crumbs">.*?</p>`).FindString(res.body))
	}
}

func TestModelOutputIsText(t *testing.T) {
	st := newStore(t)
	run := writeRun(t, st, fixture{rows: 4})
	ts, _ := serve(t, st, Options{})
	for _, path := range []string{"/runs/" + run.ID, "/runs/" + run.ID + "/cells/5", "/runs/" + run.ID + "/cells/1"} {
		res := get(t, ts.URL+path)
		for _, bad := range []string{"<script>window", "<img src=x", "<b>pwned", "<b>x</b>", "<i>not</i>"} {
			if strings.Contains(res.body, bad) {
				t.Errorf("%s holds %q as markup", path, bad)
			}
		}
	}
	cell := get(t, ts.URL+"/runs/"+run.ID+"/cells/5").body
	if !strings.Contains(cell, `&lt;script&gt;window.__pwned=2&lt;/script&gt;`) {
		t.Error("the malicious answer is not on its page as text")
	}
	trace := get(t, ts.URL+"/runs/"+run.ID+"/cells/1").body
	for _, want := range []string{`data-kind="tool"`, `class="tool-name">fetch`, "timeout: no result within 100ms", "prompt sent", "+41 ms"} {
		if !strings.Contains(trace, want) {
			t.Errorf("the agent's cell page lacks %q", want)
		}
	}
	// The page runs no script of its own making: the policy says so.
	if csp := get(t, ts.URL+"/").h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
}

// The run page's pass rates are the reports' (reports.Comparison), with
// repeats folded per question the same way.
func TestSummaryMatchesReports(t *testing.T) {
	for _, repeats := range []int{1, 3} {
		st := newStore(t)
		run := writeRun(t, st, fixture{rows: 30, repeats: repeats})
		sum, err := summarize(context.Background(), st, run)
		if err != nil {
			t.Fatal(err)
		}
		cmp := reports.NewComparison(run.Spec.Layout)
		st.EachRecord(context.Background(), run, false, func(r eval.Record) error { cmp.Add(r); return nil })
		cmp.Finish()
		for gi, g := range cmp.Groups {
			v := sum.Variants[gi]
			if v.Cells != g.Cells || v.GenErrors != g.GenErrors || v.PromptTokens != g.Usage.PromptTokens {
				t.Errorf("repeat %d, %s: cells %d/%d errors %d/%d", repeats, g.Name(), v.Cells, g.Cells, v.GenErrors, g.GenErrors)
			}
			if p50, _ := g.P50(); v.P50 != p50 {
				t.Errorf("repeat %d: p50 %v, want %v", repeats, v.P50, p50)
			}
			for si, s := range g.Scorers {
				r := v.Rates[si]
				want := rate{Scorer: s.Name, Pass: s.Pass, Fail: s.Fail, Errors: s.Errors, Skipped: s.Skipped, Sum: s.Sum, N: s.N}
				if r.Pass != want.Pass || r.Fail != want.Fail || r.Errors != want.Errors || r.Skipped != want.Skipped || r.N != want.N || math.Abs(r.Sum-want.Sum) > 1e-9 {
					t.Errorf("repeat %d, %s × %s: %+v, reports say %+v", repeats, g.Name(), s.Name, r, want)
				}
			}
		}
	}
}

// A run being written shows as it progresses.
func TestLiveRun(t *testing.T) {
	st := newStore(t)
	run := writeRun(t, st, fixture{rows: 10, keepRunning: true, stopAfter: 6})
	ts, srv := serve(t, st, Options{})
	res := get(t, ts.URL+"/runs/"+run.ID+"/row")
	if !strings.Contains(res.body, "6/20") || !strings.Contains(res.body, `data-live="1"`) || !strings.Contains(res.body, "running") {
		t.Errorf("live row: %s", res.body)
	}
	// The rest of the cells arrive, from another writer of the same file.
	other, err := store.Open(st.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	sink := other.Sink(run.ID)
	st2 := newStore(t)
	recs, err := st2.Records(context.Background(), writeRun(t, st2, fixture{rows: 10}))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[6:] {
		other.PutRecord(run.ID, r)
	}
	other.Flush()
	res = get(t, ts.URL+"/runs/"+run.ID+"/row")
	if !strings.Contains(res.body, "20/20") {
		t.Errorf("after more cells: %s", res.body)
	}
	fresh, _ := st.RunByID(context.Background(), run.ID)
	sum, ok, _ := srv.sums.get(context.Background(), fresh, 5*time.Second)
	if !ok || sum.Cells != 20 {
		t.Errorf("the summary counted %v cells (fresh %v)", sum, ok)
	}
	sink.End(eval.StatusComplete)
	res = get(t, ts.URL+"/runs/"+run.ID+"/row")
	if strings.Contains(res.body, `data-live`) || !strings.Contains(res.body, "complete") {
		t.Errorf("ended run still live: %s", res.body)
	}
}

func TestCompareTrendPrompts(t *testing.T) {
	st := newStore(t)
	a := writeRun(t, st, fixture{name: "nightly", rows: 24, tags: map[string]string{"pr": "7"}})
	time.Sleep(2 * time.Millisecond)
	b := writeRun(t, st, fixture{name: "nightly", rows: 24, version: "v2bbbbbb", seed: 1})
	ts, _ := serve(t, st, Options{})
	// The runs page's selection of two compares them, the older as A.
	res := get(t, ts.URL+"/compare?run="+b.ID+"&run="+a.ID)
	if res.code != 200 {
		t.Fatalf("compare: %d %s", res.code, res.body)
	}
	res.body = strings.ReplaceAll(res.body, "&#43;", "+") // html/template's escape of +
	rc, err := reports.CompareRuns(runMeta(a), a.Spec.Layout, func(fn func(eval.Record) error) error { return st.EachRecord(context.Background(), a, false, fn) },
		runMeta(b), b.Spec.Layout, func(fn func(eval.Record) error) error { return st.EachRecord(context.Background(), b, false, fn) })
	if err != nil {
		t.Fatal(err)
	}
	flips := 0
	for _, d := range rc.Differences {
		flips += len(d.Regressed) + len(d.Improved)
		row := regexp.MustCompile(`(?s)<tr data-variant="` + d.Variant + `" data-scorer="` + d.Scorer + `".*?</tr>`).FindString(res.body)
		if !strings.Contains(row, diffDelta(d)) || !strings.Contains(row, fmt.Sprintf(`<td class="num regressed">%d</td>`, len(d.Regressed))) {
			t.Errorf("%s × %s: %s, want %s", d.Variant, d.Scorer, row, diffDelta(d))
		}
		if d.Kind == "pass" && !d.TooFew && !strings.Contains(row, "p="+pValue(d.P)) {
			t.Errorf("%s: no McNemar p in %s", d.Scorer, row)
		}
	}
	if flips == 0 || strings.Count(res.body, `<li class="flip`) != flips {
		t.Errorf("%d flipped questions listed, want %d", strings.Count(res.body, `<li class="flip`), flips)
	}
	// A flipped question: both answers side by side.
	link := regexp.MustCompile(`href="(/compare/question\?[^"]+)"`).FindStringSubmatch(res.body)
	if link == nil {
		t.Fatal("no link to a flipped question")
	}
	q := get(t, ts.URL+strings.ReplaceAll(link[1], "&amp;", "&"))
	if q.code != 200 || !strings.Contains(q.body, `id="side-a"`) || !strings.Contains(q.body, "(sim:a, v1aaaaaa)") || !strings.Contains(q.body, "(sim:a, v2bbbbbb)") {
		t.Errorf("question page: %d %s", q.code, q.body)
	}
	for _, bad := range []string{"/compare?run=" + a.ID, "/compare?a=" + a.ID + "&b=nope"} {
		if res := get(t, ts.URL+bad); res.code != 400 && res.code != 404 {
			t.Errorf("%s: %d", bad, res.code)
		}
	}
	// The trend of a name: a point per run, oldest first.
	tr := get(t, ts.URL+"/trend?name=nightly")
	var chart trendChart
	m := regexp.MustCompile(`(?s)<script type="application/json" id="trend-data">(.*?)</script>`).FindStringSubmatch(tr.body)
	if m == nil || json.Unmarshal([]byte(m[1]), &chart) != nil {
		t.Fatalf("trend data: %v", m)
	}
	if len(chart.Runs) != 2 || chart.Runs[0] != a.ID || chart.Series[0].Scorer != "overall" || chart.Series[0].Rates[0] == nil {
		t.Errorf("trend chart %+v", chart)
	}
	if tr := get(t, ts.URL+"/trend?tag=pr%3D7"); !strings.Contains(tr.body, a.ID) || strings.Contains(tr.body, b.ID) {
		t.Error("the trend of a tag holds other runs")
	}
	// Prompts: versions, the runs that used them, and the diff.
	p := get(t, ts.URL+"/prompts?name=basic")
	p.body = strings.ReplaceAll(p.body, "&#43;", "+")
	for _, want := range []string{"v1aaaaaa", "v2bbbbbb", `<span class="del">-Question: {question} (v1aaaaaa)</span>`, `<span class="add">+Question: {question} (v2bbbbbb)</span>`, a.ID} {
		if !strings.Contains(p.body, want) {
			t.Errorf("prompts page lacks %q", want)
		}
	}
	if res := get(t, ts.URL+"/prompts?name=nope"); res.code != 404 {
		t.Errorf("unknown prompt: %d", res.code)
	}
	// The runs page filters.
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{a.ID, b.ID}},
		{"tag=pr%3D7", []string{a.ID}},
		{"name=NIGHT", []string{a.ID, b.ID}},
		{"status=running", nil},
		{"since=2999-01-01", nil},
		{"dataset=questions", []string{a.ID, b.ID}},
	} {
		body := get(t, ts.URL+"/?"+tc.query).body
		got := regexp.MustCompile(`<tr class="run" data-run="([^"]+)"`).FindAllStringSubmatch(body, -1)
		if len(got) != len(tc.want) {
			t.Errorf("runs ?%s: %d rows, want %v", tc.query, len(got), tc.want)
		}
	}
	if res := get(t, ts.URL+"/?since=yesterday"); res.code != 400 {
		t.Errorf("bad date: %d", res.code)
	}
}

// TestReviewQueueFollowsLabels: a labelled answer moves behind the rest of
// the review queue, so the next answer is found from where the cell stands
// now; nothing is skipped. Labels go to the scorer the list is filtered by.
func TestReviewQueueFollowsLabels(t *testing.T) {
	st := newStore(t)
	run := writeRun(t, st, fixture{rows: 8})
	ts, _ := serve(t, st, Options{Author: "ann"})
	csrf := csrfMeta.FindStringSubmatch(get(t, ts.URL+"/").body)[1]
	cells := regexp.MustCompile(`<tr class="answer" data-cell="(\d+)"`)
	order := func(query string) []string {
		var out []string
		for _, m := range cells.FindAllStringSubmatch(get(t, ts.URL+"/runs/"+run.ID+"?"+query).body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	next := regexp.MustCompile(`<a href="/runs/[^/]+/cells/(\d+)\?[^"]*pos=(\d+)" id="next-cell"`)
	label := func(cell string) {
		n, _ := strconv.Atoi(cell)
		if res := postJSON(t, ts, csrf, run.ID, map[string]any{"cell": n, "criterion": "english", "value": "pass"}, nil); res.code != 200 {
			t.Fatalf("label %s: %d %s", cell, res.code, res.body)
		}
	}
	for _, list := range []string{"criterion=english&order=review", "criterion=english&label=none&scorer=english&outcome=pass"} {
		before := order(list)
		if len(before) < 4 {
			t.Fatalf("%s: %v", list, before)
		}
		// Open the head, label it, follow "next" three times as ] does:
		// each page is opened after the previous answer was labelled.
		cell, pos := before[0], "0"
		for step := 0; step < 3; step++ {
			page := get(t, ts.URL+"/runs/"+run.ID+"/cells/"+cell+"?"+list+"&pos="+pos)
			label(cell)
			m := next.FindStringSubmatch(page.body)
			if m == nil || m[1] != before[step+1] {
				t.Fatalf("%s, step %d: after labelling cell %s, next is %v; want cell %s (the list was %v)", list, step, cell, m, before[step+1], before)
			}
			cell, pos = m[1], m[2]
		}
		// After the page, n goes to this page again: its labelled answers moved back.
		if !strings.Contains(get(t, ts.URL+"/runs/"+run.ID+"?"+list).body, `data-more="/runs/`+run.ID+`?`) && strings.Contains(list, "review") {
			t.Errorf("%s: the queue offers no more", list)
		}
	}
	if body := get(t, ts.URL+"/runs/"+run.ID+"?scorer=correctness&outcome=pass").body; !strings.Contains(body, `data-criterion="correctness"`) {
		t.Error("filtered by correctness, the keyboard labels another criterion")
	}
}

// TestCompareNothingPaired: runs of other variants say why nothing pairs,
// and what each run has.
func TestCompareNothingPaired(t *testing.T) {
	st := newStore(t)
	a := writeRun(t, st, fixture{rows: 4})
	other := writeRun(t, st, fixture{rows: 4, models: "other-"})
	ts, _ := serve(t, st, Options{})
	if res := get(t, ts.URL+"/compare?a="+a.ID+"&b="+other.ID); res.code != 200 || !strings.Contains(res.body, `id="nothing-paired"`) ||
		!strings.Contains(res.body, "sim:other-a") || !strings.Contains(res.body, "english, correctness, words") {
		t.Errorf("compare of runs sharing no variant: %d %s", res.code, res.body)
	}
}
