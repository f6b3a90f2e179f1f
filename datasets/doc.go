// Package datasets reads evaluation datasets from CSV and JSONL files.
//
// Every record becomes a Row whose Vars map holds one entry per column, keyed by
// the column's normalised name (lower case, surrounding space trimmed, inner runs
// of space and dashes turned into underscores), so a CSV header "Question" fills
// the template placeholder {question}. Text passes through byte for byte: quotes,
// backticks, invalid UTF-8 and U+FFFD are never rewritten.
//
// Errors name the file, line and column of the offending field as a *FieldError.
package datasets
