// Package spec defines a gate as it is written: an entry of gates: in
// evalctl.yaml (Gate is decoded from YAML) or a --fail-under, --max-drop or
// --no-significant-drop flag (ParseFailUnder, ParseMaxDrop, SplitTarget).
//
// Check refuses a malformed gate on its own, as it is read (exactly one
// condition, thresholds finite and in range); Validate also checks that it
// names scorers, prompts and models the plan has, before any model call.
//
// The package is a leaf: it imports nothing of evalctl, so config can decode
// gates without depending on reports. Package gates evaluates them on a run.
package spec
