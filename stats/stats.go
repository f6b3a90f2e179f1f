package stats

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// Z95 is the standard normal quantile for a two-sided 95% interval.
var Z95 = distuv.UnitNormal.Quantile(0.975)

// Wilson returns the Wilson score interval for k successes in n trials at
// normal quantile z (Z95 for 95%). With n = 0 it returns (0, 1).
func Wilson(k, n int, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	p := float64(k) / float64(n)
	nf := float64(n)
	z2 := z * z
	centre := (p + z2/(2*nf)) / (1 + z2/nf)
	half := z / (1 + z2/nf) * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return math.Max(0, centre-half), math.Min(1, centre+half)
}

// McNemarExact returns the two-sided exact p-value of McNemar's test for
// paired binary outcomes, given the discordant pairs: b (passed in A, failed
// in B) and c (failed in A, passed in B). It is the binomial test of
// min(b, c) out of b+c at p = 0.5. With no discordant pairs it returns 1.
func McNemarExact(b, c int) float64 {
	n := b + c
	if n == 0 {
		return 1
	}
	k := float64(min(b, c))
	p := 2 * distuv.Binomial{N: float64(n), P: 0.5}.CDF(k)
	return math.Min(1, p)
}

// PairedBootstrap returns the mean of the paired differences d and a
// percentile bootstrap interval at confidence level conf (e.g. 0.95), from
// iters resamples drawn with the given seed.
func PairedBootstrap(d []float64, conf float64, iters int, seed uint64) (mean, lo, hi float64) {
	n := len(d)
	if n == 0 {
		return 0, 0, 0
	}
	mean = Mean(d)
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	means := make([]float64, iters)
	for i := range means {
		s := 0.0
		for range n {
			s += d[r.IntN(n)]
		}
		means[i] = s / float64(n)
	}
	slices.Sort(means)
	alpha := (1 - conf) / 2
	return mean, quantile(means, alpha), quantile(means, 1-alpha)
}

// quantile interpolates linearly in sorted xs (type 7, as R's default).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 1 {
		return xs[0]
	}
	pos := q * float64(len(xs)-1)
	i := int(math.Floor(pos))
	if i >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	f := pos - float64(i)
	return xs[i]*(1-f) + xs[i+1]*f
}

// Mean returns the arithmetic mean (0 for no values).
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// StdDev returns the sample standard deviation (0 for fewer than two values).
func StdDev(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := Mean(xs)
	s := 0.0
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(xs)-1))
}
