package stats

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// Newcombe (1998), "Two-sided confidence intervals for the single proportion:
// comparison of seven methods", Statistics in Medicine 17:857–872, Table I,
// method 3 (Wilson score interval without continuity correction).
func TestWilsonNewcombe1998(t *testing.T) {
	tests := []struct {
		k, n   int
		lo, hi float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0.0000, 0.1611},
		{1, 29, 0.0061, 0.1718},
	}
	for _, tc := range tests {
		lo, hi := Wilson(tc.k, tc.n, Z95)
		if !near(lo, tc.lo, 0.00006) || !near(hi, tc.hi, 0.00006) {
			t.Errorf("Wilson(%d/%d) = (%.4f, %.4f), want (%.4f, %.4f)", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
	if lo, hi := Wilson(0, 0, Z95); lo != 0 || hi != 1 {
		t.Errorf("no trials: (%v, %v)", lo, hi)
	}
}

func TestMcNemarExact(t *testing.T) {
	tests := []struct {
		b, c int
		p    float64
	}{
		// By hand: 2·P(X ≤ 2 | n = 12, ½) = 2·(1 + 12 + 66)/4096 = 158/4096.
		{2, 10, 158.0 / 4096},
		{10, 2, 158.0 / 4096},
		// 2·P(X ≤ 0 | n = 5) = 2/32.
		{0, 5, 2.0 / 32},
		// Balanced discordance: no evidence of a difference.
		{4, 4, 1},
		{0, 0, 1},
		// 2·P(X ≤ 1 | n = 3) = 2·(1 + 3)/8 > 1, capped.
		{1, 2, 1},
	}
	for _, tc := range tests {
		if got := McNemarExact(tc.b, tc.c); !near(got, tc.p, 1e-12) {
			t.Errorf("McNemarExact(%d, %d) = %v, want %v", tc.b, tc.c, got, tc.p)
		}
	}
}

func TestPairedBootstrap(t *testing.T) {
	zero := make([]float64, 50)
	if m, lo, hi := PairedBootstrap(zero, 0.95, 1000, 1); m != 0 || lo != 0 || hi != 0 {
		t.Errorf("all-zero differences: %v [%v, %v]", m, lo, hi)
	}
	// 30 of 100 pairs improve by 1: mean 0.3, and a 95% interval around it
	// that excludes 0 (the binomial standard error is about 0.046).
	d := make([]float64, 100)
	for i := range 30 {
		d[i] = 1
	}
	m, lo, hi := PairedBootstrap(d, 0.95, 4000, 7)
	if m != 0.3 || !(lo > 0.19 && lo < 0.23) || !(hi > 0.37 && hi < 0.41) {
		t.Errorf("mean %v [%v, %v]", m, lo, hi)
	}
	m2, lo2, hi2 := PairedBootstrap(d, 0.95, 4000, 7)
	if m2 != m || lo2 != lo || hi2 != hi {
		t.Error("not reproducible with the same seed")
	}
}

func TestMeanStdDev(t *testing.T) {
	xs := []float64{2, 4, 4, 4, 5, 5, 7, 9}
	if Mean(xs) != 5 || !near(StdDev(xs), 2.1381, 1e-4) {
		t.Errorf("mean %v sd %v", Mean(xs), StdDev(xs))
	}
}
