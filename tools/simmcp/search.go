package simmcp

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"
)

// stopwords are left out of queries: they match every page.
var stopwords = map[string]bool{
	"a": true, "an": true, "the": true, "of": true, "in": true, "on": true, "is": true, "are": true, "was": true,
	"what": true, "which": true, "why": true, "how": true, "who": true, "when": true, "and": true, "or": true,
	"to": true, "for": true, "with": true, "by": true, "be": true, "it": true, "its": true, "this": true,
	"that": true, "does": true, "do": true, "you": true, "your": true, "would": true, "can": true, "may": true,
	"from": true, "as": true, "at": true, "context": true, "about": true, "between": true, "some": true,
	"difference": true, "among": true, "main": true, "mean": true,
}

// terms splits s into lower-case search terms: runs of letters and digits,
// stopwords dropped, plurals folded ("algorithms" finds "algorithm").
func terms(s string) []string {
	fields := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	out := fields[:0]
	for _, f := range fields {
		if stopwords[f] {
			continue
		}
		out = append(out, stem(f))
	}
	return out
}

// stem folds the commonest English plurals.
func stem(w string) string {
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us"):
		return w[:len(w)-1]
	}
	return w
}

type indexed struct {
	title, keywords, snippet map[string]bool
}

var (
	index []indexed
	// idf weighs a term by its rarity in the corpus: ln(1 + pages/pages
	// holding it), so "system" counts for less than "rmdir".
	idf = map[string]float64{}
)

func init() {
	set := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, t := range terms(s) {
			m[t] = true
		}
		return m
	}
	df := map[string]int{}
	index = make([]indexed, len(corpus))
	for i, p := range corpus {
		d := indexed{set(p.Title), set(p.Keywords), set(p.Snippet)}
		index[i] = d
		all := map[string]bool{}
		for _, m := range []map[string]bool{d.title, d.keywords, d.snippet} {
			for t := range m {
				all[t] = true
			}
		}
		for t := range all {
			df[t]++
		}
	}
	for t, n := range df {
		idf[t] = math.Log(1 + float64(len(corpus))/float64(n))
	}
}

// Search returns up to n pages of the corpus for query, best first. A query
// term found in a page's title weighs 3, in its keywords 2 and in its
// snippet 1, each times the term's rarity (idf); ties keep corpus order,
// and pages matching nothing are left out.
func Search(query string, n int) []Page {
	var q []string
	seen := map[string]bool{}
	for _, t := range terms(query) {
		if !seen[t] {
			seen[t] = true
			q = append(q, t)
		}
	}
	type hit struct {
		i     int
		score float64
	}
	var hits []hit
	for i, d := range index {
		score := 0.0
		for _, t := range q { // in query order: float sums are then reproducible
			w := 0.0
			if d.title[t] {
				w += 3
			}
			if d.keywords[t] {
				w += 2
			}
			if d.snippet[t] {
				w++
			}
			score += w * idf[t]
		}
		if score > 0 {
			hits = append(hits, hit{i, score})
		}
	}
	sort.SliceStable(hits, func(a, b int) bool { return hits[a].score > hits[b].score })
	var out []Page
	for _, h := range hits {
		if len(out) == n {
			break
		}
		out = append(out, corpus[h.i])
	}
	return out
}

// Format renders pages as the tool's answer: a numbered list of Markdown
// links, each followed by its snippet, or a short note when there are none.
func Format(query string, pages []Page) string {
	if len(pages) == 0 {
		return fmt.Sprintf("No results for %q.", query)
	}
	var b strings.Builder
	for i, p := range pages {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%d. [%s](%s)\n   %s", i+1, p.Title, p.URL, p.Snippet)
	}
	return b.String()
}
