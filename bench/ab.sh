#!/usr/bin/env bash
# A/B of the create path between two release binaries (e.g. a session's start and its end): the same wrk
# load (bench/create.lua, 32 connections, DURATION seconds) against each in turn, each on a fresh
# database it migrates itself, alternated ROUNDS times so that the machine's drift falls on both. Prints
# req/s and p99 per run and the means. Not a test: it asserts nothing.
#   DURATION=15 ROUNDS=3 bash bench/ab.sh <binary A> <binary B>
set -euo pipefail
cd "$(dirname "$0")/.."

A=$1
B=$2
DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-3}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18081}
KEY=sk_test_bench_0123456789abcdefghijkl
OUT=bench/out
mkdir -p "$OUT"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
field() { sed -nE "s/.*RESULT .*$2=([0-9.]+).*/\1/p" "$1"; }

run() {
  local binary=$1 label=$2
  psql "$PG/postgres" -qc 'drop database if exists cowry_ab' 2>/dev/null
  DATABASE_URL="$PG/cowry_ab" COWRY_BIND="127.0.0.1:$PORT" COWRY_DEV_API_KEY=$KEY COWRY_LOG=warn \
    COWRY_RATE_LIMIT_PER_SECOND=0 "$binary" serve >"$OUT/ab-server.log" 2>&1 &
  local server=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
  # Warm up and analyze, as bench/run.sh does (plans cached on empty tables otherwise linger).
  KEY=$KEY RUN="warm_${label}_$(date +%s%N)" wrk -t2 -c32 -d3s -s bench/create.lua "http://127.0.0.1:$PORT" >/dev/null 2>&1
  psql "$PG/cowry_ab" -qc analyze -qc checkpoint
  KEY=$KEY RUN="ab_${label}_$(date +%s%N)" wrk -t2 -c32 -d"${DURATION}s" -s bench/create.lua \
    "http://127.0.0.1:$PORT" >"$OUT/ab-$label.txt" 2>&1
  kill "$server"; wait "$server" 2>/dev/null || true
  echo "$(field "$OUT/ab-$label.txt" rps) $(field "$OUT/ab-$label.txt" p99_ms) $(( $(field "$OUT/ab-$label.txt" errors) + $(field "$OUT/ab-$label.txt" non2xx) ))"
}

printf '%-6s %-3s %10s %9s %7s\n' round bin "req/s" "p99 ms" errors
sum_a=0; sum_b=0
for round in $(seq 1 "$ROUNDS"); do
  read -r rps p99 errors < <(run "$A" a)
  printf '%-6s %-3s %10s %9s %7s\n' "$round" A "$rps" "$p99" "$errors"; sum_a=$(awk -v s="$sum_a" -v r="$rps" 'BEGIN {print s + r}')
  read -r rps p99 errors < <(run "$B" b)
  printf '%-6s %-3s %10s %9s %7s\n' "$round" B "$rps" "$p99" "$errors"; sum_b=$(awk -v s="$sum_b" -v r="$rps" 'BEGIN {print s + r}')
done
awk -v a="$sum_a" -v b="$sum_b" -v n="$ROUNDS" 'BEGIN {
  printf "mean A %.0f req/s, mean B %.0f req/s, B/A %.2f\n", a / n, b / n, b / a }'
