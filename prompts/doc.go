// Package prompts loads prompt templates and renders them with dataset rows.
//
// A template is a text file whose {name} placeholders are filled from the row's
// variables, with the escapes of Python's str.format: "{{" renders "{" and "}}"
// renders "}". Format specs, conversions, attribute access and positional
// fields ({0}, {}, {x:>10}, {x!r}, {x.y}) are rejected with the line and column,
// since a dataset only has named text columns. A template's Version is a short
// hash of its text, so a changed prompt is a new version.
package prompts
