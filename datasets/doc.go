// Package datasets reads evaluation datasets from CSV and JSONL files.
//
// Every record becomes a Row whose Vars map holds one entry per column, keyed by
// the column's normalised name (lower case, surrounding space trimmed, inner runs
// of space and dashes turned into underscores), so a CSV header "Question" fills
// the template placeholder {question}. Text passes through byte for byte: quotes,
// backticks and U+FFFD are never rewritten. A file must be UTF-8 unless
// Options.Encoding declares another encoding (decoded to UTF-8 before parsing);
// bytes that are not UTF-8 are an error at their line and byte column, never
// replaced. A cell longer than Options.MaxCellBytes is refused.
//
// Files are streamed: Load holds the parsed rows, not the file's bytes too.
//
// Errors name the file, line and column of the offending field as a *FieldError.
// Columns count bytes from 1, as Go's encoding/csv and compilers do.
package datasets
