#!/usr/bin/env bash
# 100,000 cells (12,500 rows × 2 prompts × 4 models, 2 code scorers) against `evalctl sim serve`
# at zero latency, -j 64, no cache, every report written (--out): prints calls, wall time, calls/s,
# evalctl's CPU per call and its peak RSS, which must not grow with the number of cells.
#
#   bench/big.sh              # ROWS=12500
#   ROWS=2500 bench/big.sh    # 20,000 cells, to compare peak RSS across sizes
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-12500}
J=${J:-64}
PORT=${PORT:-18778}
command -v /usr/bin/time >/dev/null || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d)
trap 'pkill -INT -P "$sim" 2>/dev/null || true; kill "$sim" 2>/dev/null || true; rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/evalctl" ./cmd/evalctl

mkdir -p "$work/p/prompts"
awk -v n="$ROWS" 'BEGIN { print "id,category,question"; for (i = 0; i < n; i++) printf "q%05d,cat%d,What is concept number %d in software engineering?\n", i, i % 7, i }' >"$work/p/questions.csv"
echo 'Category: {category}. Question: {question}' >"$work/p/prompts/basic.txt"
printf 'Question: {question}\nAnswer the question above.\n' >"$work/p/prompts/concise.txt"
cat >"$work/p/evalctl.yaml" <<YAML
dataset: questions.csv
prompts: {dir: prompts, use: [basic, concise], system: ''}
models: [openai:m1, openai:m2, openai:m3, openai:m4]
scorers:
  - {name: enough_words, type: word_count, min: 11}
  - {name: mentions_software, type: contains, value: software, ignore_case: true}
YAML

"$work/evalctl" sim serve --addr "127.0.0.1:$PORT" --latency 0s 2>"$work/sim.log" &
sim=$!
for _ in $(seq 50); do grep -q serving "$work/sim.log" 2>/dev/null && break; sleep 0.1; done

OPENAI_BASE_URL="http://127.0.0.1:$PORT/v1" /usr/bin/time -v -o "$work/time.txt" \
  "$work/evalctl" run --config "$work/p/evalctl.yaml" --no-cache -j "$J" --store "$work/evalctl.db" \
    --out "$work/out" >/dev/null 2>"$work/run.log" || { cat "$work/run.log" >&2; exit 1; }

calls=$(sed -n 's/.* \([0-9][0-9]*\) LLM calls.*/\1/p' "$work/run.log" | tail -1)
inrun=$(sed -n 's/.* cells in \([0-9.]*\)\(m\?s\),.*/\1 \2/p' "$work/run.log" | tail -1)
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$work/time.txt")
user=$(awk -F': ' '/User time/ {print $2}' "$work/time.txt")
sys=$(awk -F': ' '/System time/ {print $2}' "$work/time.txt")
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
html=$(du -m "$work/out/report.html" | cut -f1)
awk -v calls="$calls" -v wall="$wall" -v user="$user" -v sys="$sys" -v rss="$rss" -v inrun="$inrun" -v rows="$ROWS" -v html="$html" 'BEGIN {
  split(inrun, t, " "); secs = t[2] == "ms" ? t[1] / 1000 : t[1]
  printf "workload     %d rows × 2 prompts × 4 models = %d cells, 2 code scorers, zero latency, every report written\n", rows, rows * 8
  printf "LLM calls    %d in %.1f s (%.0f calls/s)\n", calls, secs, calls / secs
  printf "wall time    %.1f s with start-up and reports (report.html %d MB)\n", wall, html
  printf "CPU          %.2f s = %.3f ms per LLM call\n", user + sys, 1000 * (user + sys) / calls
  printf "peak RSS     %.1f MB\n", rss / 1024
}'
