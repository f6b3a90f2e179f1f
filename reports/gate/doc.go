// Package gate decides whether a run passes CI: thresholds on pass rates or
// means (per scorer, or "overall"; optionally for one prompt or model), a
// ceiling on the error rate, and regression gates against a baseline run (a
// maximum drop, or no statistically significant drop). Gates are parsed and
// checked against the plan before a run starts, so a typo fails fast.
package gate
