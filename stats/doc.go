// Package stats holds the statistics evalctl reports: Wilson score intervals
// for pass rates, McNemar's exact test for paired pass/fail outcomes, and a
// paired bootstrap for differences of paired scores. All are pure functions;
// the bootstrap takes an explicit seed, so reports are reproducible.
package stats
