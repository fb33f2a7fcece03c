#!/usr/bin/env bash
# Create-throughput benchmark: the release server over HTTP (wrk) against two baselines measured in the
# same run on the same PostgreSQL: pgbench running the server's own create statement, and pgbench running
# the fixed yardstick in bench/reference (copied from the project's shared bench folder). Prints requests/s and p50/p99 at several concurrencies, a
# fixed-rate run at half the maximum, and the ratios. Not a test: it asserts nothing.
#   DURATION=20 bash bench/run.sh      (BIN=<binary> runs another build instead of building this one: an A/B)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18080}
KEY=sk_test_bench_0123456789abcdefghijkl
SHARED=${SHARED:-bench/reference}
OUT=bench/out
mkdir -p "$OUT"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -n "${BIN:-}" ] || cargo build --release --quiet

tps() { sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$1" | head -n 1; }
field() { sed -nE "s/.*RESULT .*$2=([0-9.]+).*/\1/p" "$1"; }

echo "== yardstick: pgbench, ${SHARED}/reference-create.pgbench.sql, 32 clients, ${DURATION}s"
psql "$PG/postgres" -qc 'drop database if exists refbench' -qc 'create database refbench'
psql "$PG/refbench" -q -f "$SHARED/reference-schema.sql" >/dev/null
pgbench -n -f "$SHARED/reference-create.pgbench.sql" -c 32 -j 2 -T "$DURATION" "$PG/refbench" >"$OUT/yardstick.txt" 2>&1
yard=$(tps "$OUT/yardstick.txt")
echo "   ${yard} tps"

# Each phase starts from a checkpoint, so none pays for the dirty pages of the one before (on a slow disk
# a checkpoint running under the HTTP phase cost it half its rate).
psql "$PG/postgres" -qc checkpoint
echo "== server on a fresh database"
psql "$PG/postgres" -qc 'drop database if exists cowry_bench'
# The per-key rate limit is turned off: the benchmark measures throughput, not the limiter.
DATABASE_URL="$PG/cowry_bench" COWRY_BIND="127.0.0.1:$PORT" COWRY_DEV_API_KEY=$KEY COWRY_LOG=warn COWRY_RATE_LIMIT_PER_SECOND=0 \
  COWRY_DB_MAX_CONNECTIONS=${DB_CONNECTIONS:-16} "${BIN:-./target/release/cowry}" serve >"$OUT/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
merchant=$(psql "$PG/cowry_bench" -Atc "select merchant_id from api_keys limit 1")
# Warm up, then analyze: a database that has been running has statistics. Plans cached while every table
# was empty (the server's prepared statements and PostgreSQL's own foreign-key checks) can pick an index
# that reads every row of the merchant; `analyze` makes the server's connections plan again.
KEY=$KEY RUN="warm_$(date +%s)" wrk -t2 -c32 -d5s -s bench/create.lua "http://127.0.0.1:$PORT" >/dev/null 2>&1
psql "$PG/cowry_bench" -qc analyze -qc checkpoint

export KEY
printf '\n%-28s %10s %9s %9s %8s\n' "HTTP POST /collections" "req/s" "p50 ms" "p99 ms" "errors"
max=0
for c in 8 32 64; do
  RUN="c${c}_$(date +%s)" wrk -t2 -c"$c" -d"${DURATION}s" -s bench/create.lua "http://127.0.0.1:$PORT" >"$OUT/wrk-c$c.txt" 2>&1
  rps=$(field "$OUT/wrk-c$c.txt" rps)
  printf '%-28s %10s %9s %9s %8s\n' "$c connections" "$rps" "$(field "$OUT/wrk-c$c.txt" p50_ms)" \
    "$(field "$OUT/wrk-c$c.txt" p99_ms)" "$(( $(field "$OUT/wrk-c$c.txt" errors) + $(field "$OUT/wrk-c$c.txt" non2xx) ))"
  [ "$c" = 32 ] && at32=$rps
  max=$(awk -v a="$max" -v b="$rps" 'BEGIN {print (b > a) ? b : a}')
done

# Fixed rate at half the maximum: 16 connections, each pausing DELAY_MS between requests.
half=$(awk -v m="$max" 'BEGIN {printf "%d", m / 2}')
delay=$(awk -v h="$half" 'BEGIN {printf "%d", 16 * 1000 / h}')
DELAY_MS=$delay RUN="rate_$(date +%s)" wrk -t2 -c16 -d"${DURATION}s" -s bench/create.lua "http://127.0.0.1:$PORT" >"$OUT/wrk-rate.txt" 2>&1
printf '%-28s %10s %9s %9s\n' "fixed ~${half}/s (16 conn)" "$(field "$OUT/wrk-rate.txt" rps)" \
  "$(field "$OUT/wrk-rate.txt" p50_ms)" "$(field "$OUT/wrk-rate.txt" p99_ms)"

# The raw-SQL baseline runs after HTTP, on the same (by then non-empty) tables.
psql "$PG/postgres" -qc checkpoint
echo "== own SQL: pgbench, bench/create.pgbench.sql (-M prepared), 32 clients, ${DURATION}s"
pgbench -n -M prepared -D merchant="$merchant" -f bench/create.pgbench.sql -c 32 -j 2 -T "$DURATION" \
  "$PG/cowry_bench" >"$OUT/own-sql.txt" 2>&1
own=$(tps "$OUT/own-sql.txt")
echo "   ${own} tps"

rows=$(psql "$PG/cowry_bench" -Atc "select count(*) from collections")
echo
echo "collections written: $rows"
awk -v h="$at32" -v o="$own" -v y="$yard" 'BEGIN {
  printf "ratio 1, HTTP(32) / own SQL via pgbench:   %.2f  (target >= 0.8)\n", h / o
  printf "ratio 2, HTTP(32) / shared yardstick:      %.2f  (target >= 1.5)\n", h / y }'
