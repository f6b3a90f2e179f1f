package view

import (
	"fmt"
	"html/template"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/stats"
)

// funcs are the templates' functions.
var funcs = template.FuncMap{
	"pct":       pct,
	"rateText":  rateText,
	"rateCI":    rateCI,
	"heat":      heat,
	"when":      when,
	"dur":       dur,
	"short":     reports.OneLine,
	"add":       func(a, b int) int { return a + b },
	"tagText":   tagText,
	"num":       thousands,
	"kappa":     kappaText,
	"pvalue":    pValue,
	"diffRate":  diffRate,
	"diffDelta": diffDelta,
	"slice2":    func(a, b questionSide) []questionSide { return []questionSide{a, b} },
}

func pct(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*x)
}

// rateText shows a rate: a pass rate, a mean, or a dash.
func rateText(r rate) string {
	switch r.Kind() {
	case "pass":
		return pct(r.Value())
	case "score":
		return fmt.Sprintf("%.3g", r.Value())
	}
	return "–"
}

// rateCI shows a pass rate's interval and what it leaves out.
func rateCI(r rate) string {
	var parts []string
	if r.Kind() == "pass" {
		lo, hi := r.Interval()
		parts = append(parts, fmt.Sprintf("[%.1f–%.1f]", 100*lo, 100*hi))
		if r.Skipped > 0 {
			parts = append(parts, fmt.Sprintf("of %d", r.Pass+r.Fail))
		}
	}
	if r.Errors > 0 {
		parts = append(parts, fmt.Sprintf("%d err", r.Errors))
	}
	return strings.Join(parts, " · ")
}

// heat is the CSS class that colours a rate (h0 red … h10 green; the page
// has no inline styles).
func heat(r rate) string {
	if r.Kind() != "pass" {
		return "hn"
	}
	return fmt.Sprintf("h%d", int(math.Round(10*r.Value())))
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04")
}

// dur shows a duration in ms, or s above 10 s.
func dur(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func tagText(tags map[string]string) string {
	var parts []string
	for k, v := range tags {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// link builds a local address with query parameters, leaving out empty ones.
func link(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// formatP shows a p-value.
func formatP(p float64) string {
	if p < 0.001 {
		return fmt.Sprintf("%.2g", p)
	}
	return fmt.Sprintf("%.3f", p)
}

// kappaText shows a kappa with its interval.
func kappaText(k stats.Kappa) string {
	if math.IsNaN(k.Kappa) {
		return "undefined"
	}
	if math.IsNaN(k.Lo) {
		return fmt.Sprintf("%.2f", k.Kappa)
	}
	return fmt.Sprintf("%.2f [%.2f, %.2f]", k.Kappa, k.Lo, k.Hi)
}

// diffRate shows one side of a difference.
func diffRate(d reports.Difference, v float64) string {
	if d.Pairs == 0 {
		return "–"
	}
	if d.Kind == "pass" {
		return pct(v)
	}
	return fmt.Sprintf("%.3g", v)
}

// diffDelta shows B − A with its interval.
func diffDelta(d reports.Difference) string {
	if d.Pairs == 0 {
		return "–"
	}
	if d.Kind == "pass" {
		return fmt.Sprintf("%+.1f pp [%+.1f, %+.1f]", 100*d.Delta, 100*d.Lo, 100*d.Hi)
	}
	return fmt.Sprintf("%+.3g [%+.3g, %+.3g]", d.Delta, d.Lo, d.Hi)
}
