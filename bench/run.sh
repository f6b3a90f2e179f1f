#!/usr/bin/env bash
# The seed workload (384 questions × 4 prompts × 2 models; 2 code scorers and 5 LLM judges)
# against `evalctl sim serve` on loopback at a fixed latency, without the cache. Prints wall
# time, the ideal time (LLM calls × latency ÷ concurrency), their ratio, evalctl's CPU per LLM
# call (the simulator runs in its own process and is not counted) and evalctl's peak RSS.
#
#   bench/run.sh                 # 50 ms latency, -j 64
#   LATENCY_MS=20 J=16 bench/run.sh
#   PROFILE=/tmp/cpu.out bench/run.sh   # and: go tool pprof -top /tmp/cpu.out (SIM_PROFILE: the simulator)
#   STORE=postgres://… bench/run.sh     # on another store (bench/postgres.sh compares the two)
set -euo pipefail
cd "$(dirname "$0")/.."
LATENCY_MS=${LATENCY_MS:-50}
J=${J:-64}
PORT=${PORT:-18777}
command -v /usr/bin/time >/dev/null || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill "$sim" 2>/dev/null || true; rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/evalctl" ./cmd/evalctl

EVALCTL_CPUPROFILE=${SIM_PROFILE:-} /usr/bin/time -v -o "$work/simtime.txt" "$work/evalctl" sim serve --addr "127.0.0.1:$PORT" --latency "${LATENCY_MS}ms" --jitter 0 2>"$work/sim.log" &
sim=$!
for _ in $(seq 50); do grep -q serving "$work/sim.log" 2>/dev/null && break; sleep 0.1; done

EVALCTL_CPUPROFILE=${PROFILE:-} OPENAI_BASE_URL="http://127.0.0.1:$PORT/v1" /usr/bin/time -v -o "$work/time.txt" \
  "$work/evalctl" run --config examples/se-quiz/evalctl.yaml \
    --models openai:model-a,openai:model-b --judge openai:judge \
    --no-cache -j "$J" --store "${STORE:-$work/evalctl.db}" >"$work/table.txt" 2>"$work/run.log"

calls=$(sed -n 's/.* \([0-9][0-9]*\) LLM calls.*/\1/p' "$work/run.log" | tail -1)
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$work/time.txt")
user=$(awk -F': ' '/User time/ {print $2}' "$work/time.txt")
sys=$(awk -F': ' '/System time/ {print $2}' "$work/time.txt")
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
awk -v calls="$calls" -v wall="$wall" -v user="$user" -v sys="$sys" -v rss="$rss" -v lat="$LATENCY_MS" -v j="$J" 'BEGIN {
  ideal = calls * lat / 1000 / j
  printf "workload     384 rows × 4 prompts × 2 models, 7 scorers (5 LLM judges); latency %d ms, -j %d\n", lat, j
  printf "LLM calls    %d\n", calls
  printf "wall time    %.2f s\n", wall
  printf "ideal time   %.2f s  (calls × latency ÷ concurrency)\n", ideal
  printf "ratio        %.3f\n", wall / ideal
  printf "CPU          %.2f s  = %.3f ms per LLM call\n", user + sys, 1000 * (user + sys) / calls
  printf "peak RSS     %.1f MB\n", rss / 1024
}'
pkill -INT -P "$sim" 2>/dev/null || true # GNU time ignores SIGINT; its child stops
wait "$sim" 2>/dev/null || true
if [ -s "$work/simtime.txt" ]; then
  awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "simulator    %.2f s CPU (its own process, on the same cores)\n", u + s}' "$work/simtime.txt"
fi
