#!/usr/bin/env bash
# Every report of the worked example's run (384 questions × 4 prompts × 2 simulated models =
# 3,072 cells, 7 criteria): runs it once on the built-in simulator, then times
# `evalctl report last --out DIR` (answers.csv, feedback.csv, scores.csv, report.json,
# junit.xml, summary.md, table.txt, report.html: what run --out writes after the last call),
# RUNS times, and prints the median against the 0.5 s target.
#
#   bench/reports.sh          # RUNS=7
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
command -v /usr/bin/time >/dev/null || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/evalctl" ./cmd/evalctl
cp -r examples/se-quiz "$work/p"
rm -rf "$work/p/.evalctl"
"$work/evalctl" run --config "$work/p/evalctl.yaml" --models sim:a,sim:b --judge sim:judge >/dev/null 2>"$work/run.log" ||
  { cat "$work/run.log" >&2; exit 1; }
grep -q "3072 of 3072 cells" "$work/run.log" || { cat "$work/run.log" >&2; exit 1; }

for i in $(seq "$RUNS"); do
  /usr/bin/time -f "%e %M" -a -o "$work/times" "$work/evalctl" report last --config "$work/p/evalctl.yaml" --out "$work/out" 2>/dev/null
done
bytes=$(du -cb "$work/out"/* | tail -1 | cut -f1)
sort -n "$work/times" | awk -v n="$RUNS" -v bytes="$bytes" '
  { t[NR] = $1; rss[NR] = $2 }
  END {
    m = t[int((n + 1) / 2)]
    printf "workload     every report of a 3,072-cell run (8 files, %.1f MB), from the store\n", bytes / 1e6
    printf "wall time    median %.2f s over %d runs (min %.2f, max %.2f), process start included\n", m, n, t[1], t[n]
    printf "target       0.50 s: ratio %.2f\n", m / 0.5
    printf "peak RSS     %.0f MB\n", rss[n] / 1024
  }'
