package scorers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"mvdan.cc/xurls/v2"

	"github.com/evalctl/evalctl/trace"
)

// citesSources checks that an answer cites URLs its tools returned, and no
// other.
type citesSources struct {
	name string
	min  int
}

func newCitesSources(spec Spec, env Env) (Scorer, error) {
	var p struct {
		Min *int `yaml:"min"`
	}
	if err := decode(spec, &p); err != nil {
		return nil, err
	}
	c := &citesSources{name: spec.Name, min: 1}
	if p.Min != nil {
		if *p.Min < 0 {
			return nil, specErr(spec, "min %d is negative", *p.Min)
		}
		c.min = *p.Min
	}
	return c, nil
}

func (c *citesSources) Name() string { return c.name }

// Score passes when the answer cites at least min URLs that a successful
// tool call returned and none that neither a tool returned nor the prompt
// gave; value is the number of sources cited.
func (c *citesSources) Score(_ context.Context, s Sample) Feedback {
	fail := func(value int, why string) Feedback {
		fb := Passed(false, value, why)
		fb.Scorer = c.name
		return fb
	}
	calls := trace.ToolSpans(s.Steps)
	if len(calls) == 0 {
		return fail(0, "no tool results to cite: the agent called no tool")
	}
	sources := map[string]bool{}
	for _, sp := range calls {
		if sp.Failed() {
			continue
		}
		for _, u := range toolURLs(sp.Output) {
			sources[NormalizeURL(u)] = true
		}
	}
	// URLs the prompt gave are not invented, nor are they sources.
	given := map[string]bool{}
	for _, u := range ExtractURLs(s.System + "\n" + s.Input) {
		given[NormalizeURL(u)] = true
	}
	var cited, invented []string
	seen := map[string]bool{}
	for _, u := range ExtractURLs(s.Answer) {
		k := NormalizeURL(u)
		if seen[k] {
			continue
		}
		seen[k] = true
		switch {
		case sources[k]:
			cited = append(cited, u)
		case !given[k]:
			invented = append(invented, u)
		}
	}
	n := len(cited)
	var why string
	switch {
	case n > 0:
		why = fmt.Sprintf("cites %s that tools returned (min %d): %s", plural(n, "source", "sources"), c.min, urlList(cited))
	case len(sources) == 0:
		why = fmt.Sprintf("cites no source (min %d); the tools returned no URL", c.min)
	default:
		why = fmt.Sprintf("cites none of the %s the tools returned (min %d)", plural(len(sources), "URL", "URLs"), c.min)
	}
	if len(invented) > 0 {
		return fail(n, fmt.Sprintf("cites %s, which no tool returned; %s", urlList(invented), why))
	}
	fb := Passed(n >= c.min, n, why)
	fb.Scorer = c.name
	return fb
}

func urlList(urls []string) string {
	const show = 5
	q := make([]string, 0, show)
	for i, u := range urls {
		if i == show {
			q = append(q, fmt.Sprintf("and %d more", len(urls)-show))
			break
		}
		q = append(q, truncate(u, 120))
	}
	return strings.Join(q, ", ")
}

// toolURLs returns the URLs in a tool's result: in its text, and, when the
// result is JSON, in its strings (where "\/" and "\u0026" are decoded).
func toolURLs(out string) []string {
	urls := ExtractURLs(out)
	if !json.Valid([]byte(out)) {
		return urls
	}
	var v any
	if json.Unmarshal([]byte(out), &v) != nil {
		return urls
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			urls = append(urls, ExtractURLs(v)...)
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return urls
}

var urlRE = sync.OnceValue(func() *regexp.Regexp {
	re, err := xurls.StrictMatchingScheme(`https?://`)
	if err != nil {
		panic(err) // a constant pattern
	}
	return re
})

// ExtractURLs returns the http and https URLs in text, in order: bare ones,
// those of Markdown links ([text](url) and <url>), with trailing punctuation
// and unbalanced closing brackets left out.
func ExtractURLs(text string) []string {
	var out []string
	for _, m := range urlRE().FindAllString(text, -1) {
		m = strings.TrimRight(m, `.,;:!?'"`)
		u, err := url.Parse(m)
		if err != nil {
			continue
		}
		if _, ok := hostKey(u); !ok {
			continue
		}
		out = append(out, m)
	}
	return out
}

// NormalizeURL returns the form in which two URLs of the same source
// compare equal: without scheme (http and https are one), fragment, default
// port or trailing slash, with the host in lower case. A string that is not
// a URL is returned lower-cased. Trailing punctuation is ExtractURLs' to
// drop: here it is part of the URL.
func NormalizeURL(raw string) string {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return strings.ToLower(raw)
	}
	host, ok := hostKey(u)
	if !ok {
		return strings.ToLower(raw)
	}
	key := host + strings.TrimRight(u.EscapedPath(), "/")
	if u.RawQuery != "" {
		key += "?" + u.RawQuery
	}
	return key
}

// hostKey is a URL's host as NormalizeURL keeps it: lower case, without a
// default port or final dots. ok is false when the host has no letter or
// digit.
func hostKey(u *url.URL) (host string, ok bool) {
	name := strings.TrimRight(strings.ToLower(u.Hostname()), ".")
	ok = strings.IndexFunc(name, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
	if strings.Contains(name, ":") {
		name = "[" + name + "]"
	}
	if p := u.Port(); p != "" && p != "80" && p != "443" {
		name += ":" + p
	}
	return name, ok
}
