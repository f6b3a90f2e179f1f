package stats

import (
	"math"
	"sort"
)

// Kappa is a chance-corrected agreement.
type Kappa struct {
	Kappa    float64
	Observed float64 // the share of items rated alike (Cohen) or of agreeing rater pairs (Fleiss)
	Expected float64 // the agreement expected by chance
	N        int     // items
	// Lo and Hi bound a 95% interval (Cohen's kappa only; NaN otherwise).
	Lo, Hi float64
}

// CohenKappa is Cohen's kappa between two raters who rated the same n items
// (a[i] and b[i]), with a 95% interval from its large-sample standard error
// sqrt(po(1−po) / (n(1−pe)²)) (Cohen 1960). When chance agreement is total
// (one category only) kappa is NaN. The interval is clipped to [-1, 1].
func CohenKappa(a, b []string) Kappa {
	n := min(len(a), len(b))
	k := Kappa{N: n, Kappa: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if n == 0 {
		return k
	}
	ca, cb := map[string]float64{}, map[string]float64{}
	agree := 0.0
	for i := 0; i < n; i++ {
		ca[a[i]]++
		cb[b[i]]++
		if a[i] == b[i] {
			agree++
		}
	}
	po := agree / float64(n)
	pe := 0.0
	for c, x := range ca {
		pe += (x / float64(n)) * (cb[c] / float64(n))
	}
	k.Observed, k.Expected = po, pe
	if pe >= 1 {
		return k
	}
	k.Kappa = (po - pe) / (1 - pe)
	se := math.Sqrt(po * (1 - po) / (float64(n) * (1 - pe) * (1 - pe)))
	// Kappa lies in [-1, 1]; the normal interval is cut to it.
	k.Lo, k.Hi = max(-1, k.Kappa-Z95*se), min(1, k.Kappa+Z95*se)
	return k
}

// FleissKappa is Fleiss' kappa for items each rated by the same number of
// raters: counts[i][c] is how many raters put item i in category c. Items
// with fewer than two ratings are left out.
func FleissKappa(counts []map[string]int) Kappa {
	k := Kappa{Kappa: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	total := map[string]float64{}
	var pbar float64
	var ratings float64
	for _, item := range counts {
		m := 0
		for _, x := range item {
			m += x
		}
		if m < 2 {
			continue
		}
		k.N++
		s := 0
		for c, x := range item {
			s += x * (x - 1)
			total[c] += float64(x)
		}
		ratings += float64(m)
		pbar += float64(s) / float64(m*(m-1))
	}
	if k.N == 0 {
		return k
	}
	pbar /= float64(k.N)
	cats := make([]string, 0, len(total))
	for c := range total {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	pe := 0.0
	for _, c := range cats {
		p := total[c] / ratings
		pe += p * p
	}
	k.Observed, k.Expected = pbar, pe
	if pe >= 1 {
		return k
	}
	k.Kappa = (pbar - pe) / (1 - pe)
	return k
}
