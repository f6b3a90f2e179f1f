package scorers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/trace"
)

func gen(step int) trace.Span { return trace.Span{Kind: trace.KindGeneration, Step: step} }

func call(step int, tool, args, out string) trace.Span {
	return trace.Span{Kind: trace.KindTool, Step: step, Tool: tool, Args: args, Output: out}
}

func failed(step int, tool, args, kind, msg string) trace.Span {
	return trace.Span{Kind: trace.KindTool, Step: step, Tool: tool, Args: args, ErrorKind: kind, Error: msg, Output: msg}
}

// Hand-built traces.
var (
	// plain is a variant without tools: one generation step.
	plain = []trace.Span{gen(1)}
	// agent searched twice (once with invalid arguments), fetched a page
	// (which timed out) and answered on its third step.
	agent = []trace.Span{
		gen(1),
		call(1, "web_search", `{"query": "go generics", "max_results": 3.0, "filters": {"lang": "en", "site": ["go.dev"]}}`,
			`{"results": [{"title": "Generics", "url": "https://go.dev/doc/tutorial/generics"}, {"title": "Spec", "url": "http://go.dev/ref/spec#Type_parameters"}]}`),
		call(1, "web_search", `{"query": "go generics`, "Error: invalid arguments"),
		gen(2),
		failed(2, "fetch", `{"url": "https://example.org/slow"}`, trace.ToolTimeout, "no result within 30s"),
		gen(3),
	}
	// searcher called web_search three times with the same query.
	searcher = []trace.Span{
		gen(1), call(1, "web_search", `{"query":"x"}`, "See https://a.example/one and https://b.example/two/."),
		gen(2), call(2, "web_search", `{"query":"x"}`, "See https://a.example/one."),
		gen(3), call(3, "web_search", `{"query":"x"}`, `[{"link":"https:\/\/c.example\/q?a=1\u0026b=2"}]`),
		gen(4),
	}
)

func TestTrajectoryScorers(t *testing.T) {
	vars := map[string]string{
		"expected_tools": "web_search > web_search > fetch",
		"json_tools":     `["web_search", "fetch"]`,
		"comma_tools":    "web_search, web_search",
		"empty":          " ",
		"bad":            `["web_search", 3]`,
	}
	tests := []struct {
		name   string
		spec   string
		steps  []trace.Span
		input  string
		answer string
		pass   bool
		skip   bool
		err    string
		value  any
		why    string
	}{
		// tool_called
		{name: "called twice", spec: "type: tool_called\ntool: web_search", steps: agent, pass: true, value: 2,
			why: "called web_search 2 times (min 1)"},
		{name: "failed call counts", spec: "type: tool_called\ntool: fetch\nmax: 1", steps: agent, pass: true, value: 1,
			why: "called fetch 1 time, 1 call failed, counted as called (min 1, max 1)"},
		{name: "too many", spec: "type: tool_called\ntool: web_search\nmin: 1\nmax: 2", steps: searcher, pass: false, value: 3,
			why: "called web_search 3 times (min 1, max 2)"},
		{name: "never called", spec: "type: tool_called\ntool: calculator", steps: agent, pass: false, value: 0,
			why: "called calculator 0 times (min 1); the agent called web_search ×2, fetch ×1"},
		{name: "max 0 means never", spec: "type: tool_called\ntool: calculator\nmax: 0", steps: agent, pass: true, value: 0},
		{name: "any tool", spec: "type: tool_called\nmin: 3", steps: agent, pass: true, value: 3,
			why: "made 3 tool calls (web_search ×2, fetch ×1), 1 call failed, counted as called (min 3)"},
		{name: "plain variant", spec: "type: tool_called", steps: plain, pass: false, value: 0, why: "made 0 tool calls (min 1)"},

		// tool_args
		{name: "subset, numbers as numbers", spec: "type: tool_args\ntool: web_search\nsubset: {max_results: 3}", steps: agent, pass: true, value: 1},
		{name: "numeric keys are strings", spec: "type: tool_args\nsubset: {filters: {1: x}}", steps: []trace.Span{gen(1), call(1, "t", `{"filters": {"1": "x", "2": "y"}}`, "")}, pass: true, value: 1},
		{name: "nested subset", spec: "type: tool_args\ntool: web_search\nsubset: {filters: {lang: en}}", steps: agent, pass: true, value: 1},
		{name: "arrays are equal, not contained", spec: "type: tool_args\ntool: web_search\nsubset: {filters: {site: []}}", steps: agent, pass: false, value: 0,
			why: `none of 2 web_search calls has arguments containing {"filters":{"site":[]}}; seen: {"query": "go generics", "max_results": 3.0, "filters": {"lang": "en", "site": ["go.dev"]}}; {"query": "go generics (not valid JSON)`},
		{name: "wrong value", spec: "type: tool_args\ntool: web_search\nsubset: {max_results: 5}", steps: agent, pass: false, value: 0},
		{name: "string is not number", spec: "type: tool_args\ntool: web_search\nsubset: {max_results: '3'}", steps: agent, pass: false, value: 0},
		{name: "invalid JSON never matches the subset", spec: "type: tool_args\ntool: web_search\nsubset: {}", steps: []trace.Span{gen(1), call(1, "web_search", `{"query": `, "")},
			pass: false, value: 0, why: `none of 1 web_search call has arguments containing {}; seen: {"query":  (not valid JSON)`},
		{name: "regex on the raw JSON", spec: "type: tool_args\ntool: web_search\nregex: 'generics$'", steps: agent, pass: true, value: 1,
			why: `1 of 2 web_search calls has arguments matching /generics$/: {"query": "go generics`},
		{name: "subset and regex on one call", spec: "type: tool_args\ntool: web_search\nsubset: {max_results: 3}\nregex: 'generics$'", steps: agent, pass: false, value: 0},
		{name: "repeated calls all match", spec: "type: tool_args\ntool: web_search\nsubset: {query: x}", steps: searcher, pass: true, value: 3},
		{name: "no call of the tool", spec: "type: tool_args\ntool: calculator\nregex: .", steps: agent, pass: false, value: 0,
			why: "no calculator call, so no arguments matching /./; the agent called web_search ×2, fetch ×1"},
		{name: "any tool, failed call's args", spec: "type: tool_args\nsubset: {url: 'https://example.org/slow'}", steps: agent, pass: true, value: 1},
		{name: "no tool call at all", spec: "type: tool_args\nregex: .", steps: plain, pass: false, value: 0, why: "no tool call, so no arguments matching /./"},

		// trajectory
		{name: "strict ok", spec: "type: trajectory\nexpected: [web_search, web_search, fetch]", steps: agent, pass: true, value: true,
			why: "strict: expected web_search > web_search > fetch, got web_search > web_search > fetch"},
		{name: "strict order", spec: "type: trajectory\nexpected: [web_search, fetch, web_search]", steps: agent, pass: false, value: false,
			why: "strict: expected web_search > fetch > web_search, got web_search > web_search > fetch; call 2 is web_search, expected fetch"},
		{name: "strict short", spec: "type: trajectory\nexpected: web_search", steps: agent, pass: false,
			why: "strict: expected web_search, got web_search > web_search > fetch; extra calls from call 2: web_search > fetch"},
		{name: "strict missing", spec: "type: trajectory\nexpected: [web_search, web_search, fetch, fetch]", steps: agent, pass: false,
			why: "strict: expected web_search > web_search > fetch > fetch, got web_search > web_search > fetch; missing calls from call 4: fetch"},
		{name: "unordered ok", spec: "type: trajectory\nexpected: [fetch, web_search, web_search]\nmode: unordered", steps: agent, pass: true},
		{name: "unordered counts", spec: "type: trajectory\nexpected: [fetch, web_search]\nmode: unordered", steps: agent, pass: false,
			why: "unordered: expected fetch > web_search, got web_search > web_search > fetch; extra web_search ×1"},
		{name: "subset ok", spec: "type: trajectory\nexpected: [fetch, web_search, web_search, calculator]\nmode: subset", steps: agent, pass: true},
		{name: "subset extra", spec: "type: trajectory\nexpected: [web_search, web_search]\nmode: subset", steps: agent, pass: false,
			why: "subset: expected web_search > web_search, got web_search > web_search > fetch; extra fetch ×1"},
		{name: "subset repeated beyond expected", spec: "type: trajectory\nexpected: [web_search]\nmode: subset", steps: searcher, pass: false},
		{name: "subset nothing called", spec: "type: trajectory\nexpected: [web_search]\nmode: subset", steps: plain, pass: true,
			why: "subset: expected web_search, got no tool calls"},
		{name: "superset ok", spec: "type: trajectory\nexpected: [fetch]\nmode: superset", steps: agent, pass: true},
		{name: "superset too few", spec: "type: trajectory\nexpected: [web_search, web_search, web_search]\nmode: superset", steps: agent, pass: false,
			why: "superset: expected web_search > web_search > web_search, got web_search > web_search > fetch; missing web_search ×1"},
		{name: "expected no calls", spec: "type: trajectory\nexpected: []", steps: plain, pass: true, why: "strict: expected no tool calls, got no tool calls"},
		{name: "column with >", spec: "type: trajectory\ncolumn: expected_tools", steps: agent, pass: true},
		{name: "column JSON", spec: "type: trajectory\ncolumn: json_tools\nmode: superset", steps: agent, pass: true},
		{name: "column commas", spec: "type: trajectory\ncolumn: comma_tools", steps: searcher, pass: false},
		{name: "empty column skips", spec: "type: trajectory\ncolumn: empty", steps: agent, skip: true},
		{name: "bad column errs", spec: "type: trajectory\ncolumn: bad", steps: agent, err: `column "bad": not a JSON array of tool names: an element is not a string`},

		// steps
		{name: "steps ok", spec: "type: steps\nmax_steps: 3", steps: agent, pass: true, value: 3, why: "3 steps (max 3)"},
		{name: "steps over", spec: "type: steps\nmax_steps: 3", steps: searcher, pass: false, value: 4, why: "4 steps (max 3)"},
		{name: "tool errors", spec: "type: steps\nmax_tool_errors: 0", steps: agent, pass: false, value: 3,
			why: "3 steps; 1 of 3 tool calls failed (max 0): fetch (timeout)"},
		{name: "both within", spec: "type: steps\nmax_steps: 5\nmax_tool_errors: 1", steps: agent, pass: true, value: 3},
		{name: "plain", spec: "type: steps\nmax_steps: 1\nmax_tool_errors: 0", steps: plain, pass: true, value: 1, why: "1 step (max 1); 0 of 0 tool calls failed (max 0)"},
		{name: "no trace", spec: "type: steps\nmax_steps: 1", steps: nil, err: "the cell's trace holds no generation step"},

		// cites_sources
		{name: "cites one", spec: "type: cites_sources", steps: agent, pass: true, value: 1,
			answer: "See [the tutorial](https://go.dev/doc/tutorial/generics).",
			why:    "cites 1 source that tools returned (min 1): https://go.dev/doc/tutorial/generics"},
		{name: "http vs https, fragment, trailing slash and punctuation", spec: "type: cites_sources\nmin: 2", steps: agent, pass: true, value: 2,
			answer: "Read http://go.dev/doc/tutorial/generics/, and https://go.dev/ref/spec#Generics."},
		{name: "same source twice counts once", spec: "type: cites_sources\nmin: 2", steps: agent, pass: false, value: 1,
			answer: "https://go.dev/doc/tutorial/generics and http://GO.dev/doc/tutorial/generics/"},
		{name: "invented URL fails", spec: "type: cites_sources", steps: agent, pass: false, value: 1,
			answer: "See https://go.dev/doc/tutorial/generics and (https://go.dev/blog/generics-are-great).",
			why:    "cites https://go.dev/blog/generics-are-great, which no tool returned; cites 1 source that tools returned (min 1): https://go.dev/doc/tutorial/generics"},
		{name: "failed call's URL is no source", spec: "type: cites_sources", steps: agent, pass: false, value: 0,
			answer: "It is at https://example.org/slow",
			why:    "cites https://example.org/slow, which no tool returned; cites none of the 2 URLs the tools returned (min 1)"},
		{name: "no citation", spec: "type: cites_sources", steps: agent, pass: false, value: 0, answer: "Go has generics.",
			why: "cites none of the 2 URLs the tools returned (min 1)"},
		{name: "min 0 only forbids invention", spec: "type: cites_sources\nmin: 0", steps: agent, pass: true, value: 0, answer: "Go has generics."},
		{name: "JSON-escaped URLs in results", spec: "type: cites_sources\nmin: 3", steps: searcher, pass: true, value: 3,
			answer: "Sources: <https://a.example/one>, **https://b.example/two**; and [q](https://c.example/q?a=1&b=2)."},
		{name: "a URL from the question is not invented, nor a source", spec: "type: cites_sources", steps: agent, pass: false, value: 0,
			input: "Summarise https://go.dev/blog/intro-generics.", answer: "The post at https://go.dev/blog/intro-generics/ says so.",
			why: "cites none of the 2 URLs the tools returned (min 1)"},
		{name: "no tool calls", spec: "type: cites_sources", steps: plain, pass: false, value: 0,
			answer: "See https://go.dev/doc/tutorial/generics.", why: "no tool results to cite: the agent called no tool"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%02d_%s", i, tc.name), func(t *testing.T) {
			s, err := build(t, "name: s\n"+tc.spec, "expected_tools", "json_tools", "comma_tools", "empty", "bad")
			if err != nil {
				t.Fatal(err)
			}
			fb := s.Score(context.Background(), scorers.Sample{Input: tc.input, Answer: tc.answer, Vars: vars, Steps: tc.steps})
			if fb.Scorer != "s" {
				t.Errorf("scorer name %q", fb.Scorer)
			}
			switch {
			case tc.skip:
				if !fb.Skipped {
					t.Errorf("want skipped, got %+v", fb)
				}
				return
			case tc.err != "":
				if !strings.Contains(fb.Err, tc.err) || fb.Pass != nil {
					t.Errorf("err %q, want %q (%+v)", fb.Err, tc.err, fb)
				}
				return
			}
			if fb.Pass == nil || *fb.Pass != tc.pass || fb.Err != "" {
				t.Fatalf("pass = %v, want %v (%+v)", fb.Pass, tc.pass, fb)
			}
			if tc.value != nil && fb.Value != tc.value {
				t.Errorf("value %#v, want %#v", fb.Value, tc.value)
			}
			if tc.why != "" && fb.Rationale != tc.why {
				t.Errorf("rationale\n got %q\nwant %q", fb.Rationale, tc.why)
			}
		})
	}
}

func TestTrajectoryBuildErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"name: x\ntype: tool_called\nmin: 3\nmax: 1", "min 3 is above max 1"},
		{"name: x\ntype: tool_called\nmin: -1", "min -1 is negative"},
		{"name: x\ntype: tool_called\ntools: [a]", `t.yaml:4: scorer "x": unknown key "tools" (known here: max, min, tool)`},
		{"name: x\ntype: tool_args\ntool: a", "tool_args needs subset"},
		{"name: x\ntype: tool_args\ntool: a\nregex: '('", "bad regex"},
		{"name: x\ntype: tool_args\ntool: a\nsubset: [1]", "subset must be a mapping"},
		{"name: x\ntype: tool_args\ntool: a\nsubset: {n: .nan}", "subset is not JSON"},
		{"name: x\ntype: tool_args\ntool: a\nsubset: {since: 2024-01-01}", "subset: 2024-01-01 reads as a date in YAML: quote it"},
		{"name: x\ntype: trajectory", "trajectory needs either expected"},
		{"name: x\ntype: trajectory\nexpected: [a]\ncolumn: q", "trajectory needs either expected"},
		{"name: x\ntype: trajectory\ncolumn: nope", `column "nope" is not in the dataset (columns: q)`},
		{"name: x\ntype: trajectory\nexpected: [a]\nmode: exact", `unknown mode "exact" (one of: strict, unordered, subset, superset)`},
		{"name: x\ntype: trajectory\nexpected: [a, '']", "a tool name is empty"},
		{"name: x\ntype: trajectory\nexpected: 'a >> b'", "tool name 2 of"},
		{"name: x\ntype: trajectory\nexpected: {a: 1}", "want a list of tool names"},
		{"name: x\ntype: steps", "steps needs max_steps, max_tool_errors or both"},
		{"name: x\ntype: steps\nmax_steps: 0", "max_steps 0 is below 1"},
		{"name: x\ntype: steps\nmax_tool_errors: -1", "max_tool_errors -1 is negative"},
		{"name: x\ntype: cites_sources\nmin: -2", "min -2 is negative"},
		{"name: x\ntype: cites_sources\nmin_sources: 2", `unknown key "min_sources" (known here: min)`},
	}
	for _, tc := range tests {
		_, err := build(t, tc.spec, "q")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.spec, err, tc.want)
		}
	}
}

// Scorers that name tools say so, for the check against the servers' tools;
// a column-driven trajectory names none.
func TestToolNames(t *testing.T) {
	tests := []struct {
		spec string
		want []string
		is   bool
	}{
		{"type: tool_called\ntool: web_search", []string{"web_search"}, true},
		{"type: tool_called", nil, true},
		{"type: tool_args\ntool: fetch\nregex: x", []string{"fetch"}, true},
		{"type: trajectory\nexpected: [web_search, fetch, web_search]", []string{"web_search", "fetch"}, true},
		{"type: trajectory\ncolumn: q", nil, true},
		{"type: steps\nmax_steps: 3", nil, false},
		{"type: cites_sources", nil, false},
		{"type: word_count\nmin: 1", nil, false},
	}
	for _, tc := range tests {
		s, err := build(t, "name: s\n"+tc.spec, "q")
		if err != nil {
			t.Fatal(err)
		}
		tn, ok := s.(scorers.ToolNamer)
		if ok != tc.is {
			t.Errorf("%q: ToolNamer = %v, want %v", tc.spec, ok, tc.is)
			continue
		}
		if ok && !slices.Equal(tn.ToolNames(), tc.want) {
			t.Errorf("%q: ToolNames() = %q, want %q", tc.spec, tn.ToolNames(), tc.want)
		}
	}
}

func TestParseToolList(t *testing.T) {
	tests := []struct {
		cell string
		want []string
		err  string
	}{
		{"", nil, ""},
		{"  ", nil, ""},
		{"[]", []string{}, ""},
		{`["web_search", " fetch "]`, []string{"web_search", "fetch"}, ""},
		{"web_search > fetch>web_search", []string{"web_search", "fetch", "web_search"}, ""},
		{"web_search, fetch", []string{"web_search", "fetch"}, ""},
		{"a, b > c", []string{"a", "b", "c"}, ""},
		{"web_search,", nil, `tool name 2 of "web_search," is empty`},
		{`["a", 1]`, nil, "an element is not a string"},
		{`["a"] x`, nil, `"x" after the array`},
		{`["a"`, nil, "not a JSON array"},
		{`[""]`, nil, "tool name 1 of the array is empty"},
	}
	for _, tc := range tests {
		got, err := scorers.ParseToolList(tc.cell)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.cell, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%q: %q, %v; want %q", tc.cell, got, err, tc.want)
		}
	}
}

func TestExtractURLs(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"See https://go.dev/doc.", []string{"https://go.dev/doc"}},
		{"[Go](https://en.wikipedia.org/wiki/Go_(programming_language)), then http://x.example/a?b=1;", []string{"https://en.wikipedia.org/wiki/Go_(programming_language)", "http://x.example/a?b=1"}},
		{"<https://a.example/> and **https://b.example/x**!", []string{"https://a.example/", "https://b.example/x"}},
		{`"https://c.example/q?a=1&b=2", ftp://d.example/f mailto:x@y.example`, []string{"https://c.example/q?a=1&b=2"}},
		{"[ref]: https://e.example/page#top (title)", []string{"https://e.example/page#top"}},
		{"no links here, just http:// and https://", nil},
	}
	for _, tc := range tests {
		if got := scorers.ExtractURLs(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("%q:\n got %q\nwant %q", tc.text, got, tc.want)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	same := [][]string{
		{"https://go.dev/doc/", "http://go.dev/doc", "https://GO.dev/doc#intro", "https://go.dev:443/doc/"},
		{"https://x.example/a?b=1", "http://x.example/a/?b=1"},
		{"https://en.wikipedia.org/wiki/Caf%C3%A9", "https://en.wikipedia.org/wiki/Café"},
	}
	for _, group := range same {
		for _, u := range group[1:] {
			if a, b := scorers.NormalizeURL(group[0]), scorers.NormalizeURL(u); a != b {
				t.Errorf("%q → %q and %q → %q differ", group[0], a, u, b)
			}
		}
	}
	different := [][2]string{
		{"https://go.dev/doc", "https://go.dev/docs"},
		{"https://x.example/a?b=1", "https://x.example/a?b=2"},
		{"https://x.example/a", "https://y.example/a"},
		{"https://x.example/A", "https://x.example/a"},
	}
	for _, d := range different {
		if scorers.NormalizeURL(d[0]) == scorers.NormalizeURL(d[1]) {
			t.Errorf("%q and %q normalise alike", d[0], d[1])
		}
	}
}

func FuzzParseToolList(f *testing.F) {
	for _, s := range []string{"", "web_search > fetch", "a, b", `["a", "b"]`, `["a", 1]`, "a,,b", "[", ">"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cell string) {
		names, err := scorers.ParseToolList(cell)
		if err != nil {
			return
		}
		for _, n := range names {
			if n == "" || n != strings.TrimSpace(n) {
				t.Fatalf("%q: name %q is empty or untrimmed", cell, n)
			}
		}
		// Names without separators survive a round trip through the
		// ">" form.
		if len(names) == 0 || strings.HasPrefix(names[0], "[") || slices.ContainsFunc(names, func(n string) bool { return strings.ContainsAny(n, ",>") }) {
			return
		}
		again, err := scorers.ParseToolList(strings.Join(names, " > "))
		if err != nil || !slices.Equal(again, names) {
			t.Fatalf("%q: %q does not round-trip: %q, %v", cell, names, again, err)
		}
	})
}

func FuzzExtractURLs(f *testing.F) {
	for _, s := range []string{"See [a](https://go.dev/doc/).", "http://x.example/a?b=1#c,", "https://[::1]:80/x", "**https://b.example/x**", "https://é.example/ü)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, u := range scorers.ExtractURLs(text) {
			if !strings.Contains(text, u) {
				t.Fatalf("%q: %q is not in the text", text, u)
			}
			l := strings.ToLower(u)
			if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
				t.Fatalf("%q: %q is not http(s)", text, u)
			}
			if strings.ContainsAny(u[len(u)-1:], ".,;:!?") {
				t.Fatalf("%q: %q ends in punctuation", text, u)
			}
			k := scorers.NormalizeURL(u)
			if k2 := scorers.NormalizeURL("https://" + k); k2 != k {
				t.Fatalf("%q: normalisation is not idempotent: %q, then %q", u, k, k2)
			}
			// The URL is found again on its own.
			if again := scorers.ExtractURLs(u); len(again) != 1 || again[0] != u {
				t.Fatalf("%q: %q alone extracts as %q", text, u, again)
			}
		}
	})
}
