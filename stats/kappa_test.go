package stats

import (
	"math"
	"testing"
)

// Cohen's kappa, the worked example of Wikipedia's "Cohen's kappa": 50
// proposals, both readers yes on 20, both no on 15, A yes B no on 5, A no
// B yes on 10: po = 0.7, pe = 0.5, κ = 0.4; SE = sqrt(0.7·0.3 / (50·0.25)).
func TestCohenKappaWorkedExample(t *testing.T) {
	var a, b []string
	add := func(n int, x, y string) {
		for range n {
			a, b = append(a, x), append(b, y)
		}
	}
	add(20, "yes", "yes")
	add(5, "yes", "no")
	add(10, "no", "yes")
	add(15, "no", "no")
	k := CohenKappa(a, b)
	se := math.Sqrt(0.7 * 0.3 / (50 * 0.25))
	if math.Abs(k.Kappa-0.4) > 1e-12 || math.Abs(k.Observed-0.7) > 1e-12 || math.Abs(k.Expected-0.5) > 1e-12 || k.N != 50 {
		t.Errorf("kappa %+v", k)
	}
	if math.Abs(k.Lo-(0.4-Z95*se)) > 1e-9 || math.Abs(k.Hi-(0.4+Z95*se)) > 1e-9 {
		t.Errorf("interval [%v, %v]", k.Lo, k.Hi)
	}
	if k := CohenKappa([]string{"yes", "yes"}, []string{"yes", "yes"}); !math.IsNaN(k.Kappa) {
		t.Errorf("one category only: kappa %v, want NaN", k.Kappa)
	}
}

// Fleiss' kappa, the worked example of Wikipedia's "Fleiss' kappa": 14
// raters, 10 items, 5 categories: P̄ = 0.378, P̄e = 0.213, κ = 0.210.
func TestFleissKappaWorkedExample(t *testing.T) {
	table := [][]int{
		{0, 0, 0, 0, 14}, {0, 2, 6, 4, 2}, {0, 0, 3, 5, 6}, {0, 3, 9, 2, 0}, {2, 2, 8, 1, 1},
		{7, 7, 0, 0, 0}, {3, 2, 6, 3, 0}, {2, 5, 3, 2, 2}, {6, 5, 2, 1, 0}, {0, 2, 2, 3, 7},
	}
	var counts []map[string]int
	for _, row := range table {
		m := map[string]int{}
		for c, x := range row {
			if x > 0 {
				m[string(rune('1'+c))] = x
			}
		}
		counts = append(counts, m)
	}
	k := FleissKappa(counts)
	if math.Abs(k.Observed-0.378) > 0.0005 || math.Abs(k.Expected-0.213) > 0.0005 || math.Abs(k.Kappa-0.210) > 0.0005 {
		t.Errorf("kappa %+v, want P̄ 0.378, P̄e 0.213, κ 0.210", k)
	}
}

// TestCohenKappaIntervalWithinBounds: with few items the normal interval
// reaches past ±1; kappa cannot, so neither does its interval.
func TestCohenKappaIntervalWithinBounds(t *testing.T) {
	for _, tc := range []struct{ a, b []string }{
		{[]string{"pass", "fail", "pass"}, []string{"pass", "fail", "fail"}},
		{[]string{"pass", "fail", "pass", "fail"}, []string{"fail", "pass", "fail", "pass"}},
		{[]string{"pass", "fail"}, []string{"fail", "pass"}},
	} {
		k := CohenKappa(tc.a, tc.b)
		if k.Lo < -1 || k.Hi > 1 || k.Lo > k.Kappa || k.Hi < k.Kappa {
			t.Errorf("%v vs %v: κ %.3f [%.3f, %.3f]", tc.a, tc.b, k.Kappa, k.Lo, k.Hi)
		}
	}
}
