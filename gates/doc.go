// Package gates decides whether a run passes CI: it evaluates gates on a
// run's Comparison (and, for regression gates, on the paired comparison
// against a baseline) and returns the failures, each with the measured value
// against the threshold.
//
// Gates are thresholds on pass rates or means (per scorer, or "overall";
// optionally for one prompt or model), a ceiling on the error rate or the
// cost, and regression gates against a baseline run (a maximum drop, or no
// statistically significant drop). What a gate is, as written in evalctl.yaml
// or on the command line, lives in the leaf package gates/spec, where it is
// parsed and checked against the plan before a run starts, so a typo fails
// fast; config imports only that leaf, never this package or reports.
package gates
