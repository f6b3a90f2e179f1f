// Package reports turns a run's results into comparisons and renders them:
// the terminal table (one row per prompt × model, a column per scorer) and the
// answers and feedback CSV files. Every file is written atomically (a
// temporary file renamed into place), so a failed write never leaves half a
// report over a good one.
package reports
