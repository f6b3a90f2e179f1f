#!/usr/bin/env bash
# Unannounced rate limits: `evalctl sim serve` limits requests per minute and says so only with
# 429s and "Retry-After: 1" (no x-ratelimit-* headers, no retry-after-ms); evalctl is not told
# the limit (no rpm: in the config). Prints, per scenario, the requests made, the share answered
# 429, the wall time of the run and its ratio to the ideal (the calls ÷ the limit's rate).
#
#   bench/limits.sh                   # 120 RPM; 20 rows × (1 answer + 4 verdicts) = 100 calls
#   RPM=600 ROWS=100 bench/limits.sh  # 500 calls at 600 RPM
#   HEADERS=1 bench/limits.sh         # the limit announced in x-ratelimit-* headers (per model)
#   FAULTS=1 bench/limits.sh          # plus 10% 500s, 5% hangs, 5% malformed bodies (timeout 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
RPM=${RPM:-120}
ROWS=${ROWS:-20}
PORT=${PORT:-18779}

work=$(mktemp -d)
trap 'kill -INT "$sim" 2>/dev/null || true; rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/evalctl" ./cmd/evalctl

mkdir -p "$work/p/prompts"
awk -v n="$ROWS" 'BEGIN { print "id,question"; for (i = 0; i < n; i++) printf "q%04d,What is concept number %d of software engineering?\n", i, i }' >"$work/p/questions.csv"
echo 'Question: {question}' >"$work/p/prompts/basic.txt"
cat >"$work/p/evalctl.yaml" <<YAML
dataset: questions.csv
prompts: {dir: prompts, use: [basic], system: ''}
models: [openai:gpt-4.1-mini]
judge: openai:judge
concurrency: 16
providers:
  openai: {timeout: 10s}
scorers:
  - {name: english, type: guidelines, guidelines: The answer should be in English.}
  - {name: on_topic, type: guidelines, guidelines: The answer is about software engineering.}
  - {name: defines, type: guidelines, guidelines: The answer quotes a definition.}
  - {name: relevance_to_query, type: relevance_to_query}
  - {name: enough_words, type: word_count, min: 11}
YAML

simflags=(--rpm "$RPM" --retry-after 1s --latency 20ms)
[ -n "${HEADERS:-}" ] && simflags+=(--rate-limit-headers)
[ -n "${FAULTS:-}" ] && simflags+=(--fail-rate 0.1 --hang-rate 0.05 --garbage-rate 0.05)
"$work/evalctl" sim serve --addr "127.0.0.1:$PORT" "${simflags[@]}" 2>"$work/sim.log" &
sim=$!
for _ in $(seq 50); do grep -q serving "$work/sim.log" 2>/dev/null && break; sleep 0.1; done

start=$(date +%s.%N)
code=0
OPENAI_BASE_URL="http://127.0.0.1:$PORT/v1" OPENAI_API_KEY=sk-bench "$work/evalctl" run --config "$work/p/evalctl.yaml" \
  --no-cache --store "$work/evalctl.db" >/dev/null 2>"$work/run.log" || code=$?
end=$(date +%s.%N)
kill -INT "$sim"; wait "$sim" 2>/dev/null || true

calls=$(sed -n 's/.* \([0-9][0-9]*\) LLM calls.*/\1/p' "$work/run.log" | tail -1)
status=$(sed -n 's/.*by status map\[\([^]]*\)\].*/\1/p' "$work/sim.log" | tail -1)
summary=$(grep -E 'complete|incomplete' "$work/run.log" | tail -1)
awk -v calls="$calls" -v status="$status" -v start="$start" -v end="$end" -v rpm="$RPM" -v code="$code" -v summary="$summary" \
    -v faults="${FAULTS:-}" -v headers="${HEADERS:-}" 'BEGIN {
  n = split(status, kv, " "); total = 0; refused = 0
  for (i = 1; i <= n; i++) { split(kv[i], p, ":"); total += p[2]; if (p[1] == 429) refused = p[2] }
  wall = end - start; ideal = calls / (rpm / 60)
  printf "scenario     %d RPM %s%s, Retry-After: 1\n", rpm, headers ? "announced in headers" : "unannounced", faults ? ", 10% 500s + 5% hangs + 5% malformed (timeout 10s)" : ""
  printf "run          exit %d: %s\n", code, summary
  printf "requests     %d (%d answered 429: %.1f%%) for %d calls\n", total, refused, total ? 100 * refused / total : 0, calls
  printf "wall time    %.1f s; the limit allows %d calls in %.1f s: ratio %.2f\n", wall, calls, ideal, wall / ideal
}'
