#!/usr/bin/env bash
# The other hot paths next to the create rate, in one run on one server (release build, 32 connections,
# DURATION seconds each, after a warm-up and `analyze`):
#   1. POST /collections (bench/create.lua, the sandbox): the create rate the others are compared with,
#      and the server's resident memory under that load (its peak, VmHWM);
#   2. GET /collections/{id} (bench/get.lua), random ids among those just created;
#   3. POST /webhooks/paystack (bench/webhook.lua): Paystack's `charge.success` for payments that exist
#      (checkouts made at the in-process Paystack emulator, for an account with a known secret key),
#      each body signed as Paystack signs it; the first of each settles its payment, the rest repeat it;
#   4. POST /collections/collect (bench/collect.lua) against the in-process MoMo emulator.
# With TWO=1 it then runs a second `cowry serve` on the same database and drives creates at both at once
# (one webhook endpoint at bench/receiver.py): the rate of the two against one, and that every delivery
# and job ran once. BIN=<binary> runs another build (an A/B). SHUFFLE=shuf sends the callbacks in random
# order (by default a collection's two payments, its checkout and its transfer account, come one after
# the other, so the second waits on the first's settlement). Not a test: it asserts nothing.   DURATION=15 bash bench/paths.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18083}
PORT2=${PORT2:-18084}
RPORT=${RPORT:-18085}
KEY=sk_test_bench_0123456789abcdefghijkl
SECRET=sk_test_bench_paystack_0123456789
OUT=bench/out
DB=cowry_bench_paths
mkdir -p "$OUT"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -n "${BIN:-}" ] || cargo build --release --quiet

field() { sed -nE "s/.*RESULT .*$2=([0-9.]+).*/\1/p" "$1"; }
row() { # label, wrk output
  printf '%-34s %9s %8s %8s %7s\n' "$1" "$(field "$2" rps)" "$(field "$2" p50_ms)" "$(field "$2" p99_ms)" \
    "$(( $(field "$2" errors) + $(field "$2" non2xx) ))"
}
serve() { # port, log
  DATABASE_URL="$PG/$DB" COWRY_BIND="127.0.0.1:$1" COWRY_DEV_API_KEY=$KEY COWRY_LOG=warn \
    COWRY_RATE_LIMIT_PER_SECOND=0 COWRY_EMULATORS=true COWRY_ALLOW_PRIVATE_NETWORKS=true \
    COWRY_EMULATOR_AUTOSETTLE=false COWRY_PUBLIC_URL="http://127.0.0.1:$1" COWRY_RECONCILE_SCHEDULE=1h \
    COWRY_ENCRYPTION_KEY=b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0 \
    COWRY_DB_MAX_CONNECTIONS=${DB_CONNECTIONS:-16} "${BIN:-./target/release/cowry}" serve >"$2" 2>&1 &
}
# Rows per group-committed statement so far, from /metrics (histogram `cowry_<what>_batch_rows`).
per_batch() {
  curl -fsS "http://127.0.0.1:$PORT/metrics" | awk -v m="cowry_$1_batch_rows" '
    $1 == m "_sum" {s = $2} $1 == m "_count" {c = $2} END {if (c > 0) printf "%.1f", s / c; else print "-"}'
}
ready() { for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return; sleep 0.2; done; }
api() { curl -fsS "http://127.0.0.1:$PORT$1" -H "x-api-key: $KEY" -H 'content-type: application/json' "${@:2}"; }
# Waits until no job is due, so that each phase measures its own path, not the backlog of the one before.
drain() {
  for _ in $(seq 1 300); do
    due=$(psql "$PG/$DB" -Atc "select count(*) from jobs where status = 'queued' and run_at <= now()")
    [ "$due" = 0 ] && return
    sleep 1
  done
}
# PROFILE=webhook (or create, get, repeats, collect): perf samples the whole machine through that phase; the
# split of CPU between the server, PostgreSQL and wrk, and the server's hottest symbols, land in
# bench/out/perf-<phase>.txt.
load() { # script, connections, output, [url]
  local phase=${PHASE:-${1%.lua}}
  if [ "${PROFILE:-}" = "$phase" ]; then
    perf record -F 999 -a -o "$OUT/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
    perf=$!
  fi
  wrk -t2 -c"$2" -d"${DURATION}s" -s "bench/$1" "${4:-http://127.0.0.1:$PORT}" >"$3" 2>&1
  if [ "${PROFILE:-}" = "$phase" ]; then
    wait "$perf"
    { perf report -i "$OUT/perf.data" --sort comm --stdio 2>/dev/null
      perf report -i "$OUT/perf.data" --comms tokio-rt-worker,cowry --sort dso,sym --percent-limit 0.5 \
        --stdio 2>/dev/null
      perf report -i "$OUT/perf.data" --comms postgres --sort sym --percent-limit 0.5 --stdio 2>/dev/null
    } | grep -v "^$" >"$OUT/perf-$PROFILE.txt"
  fi
}

psql "$PG/postgres" -qc "drop database if exists $DB"
serve "$PORT" "$OUT/paths-server.log"
server=$!
pids=$server
trap 'kill $pids 2>/dev/null || true' EXIT
ready "$PORT"
export KEY
# The Paystack account the webhooks are for: the emulator in this process, a secret key known here.
api /providers -d "{\"slug\": \"psbench\", \"kind\": \"paystack\", \"mode\": \"test\",
  \"baseUrl\": \"http://127.0.0.1:$PORT/_emulator/paystack\", \"credentials\": {\"secretKey\": \"$SECRET\"}}" >/dev/null
# Warm up (sandbox creates, then checkouts at the emulator: the payments the webhooks report), analyze.
RUN="warm_$(date +%s)" wrk -t2 -c32 -d5s -s bench/create.lua "http://127.0.0.1:$PORT" >/dev/null 2>&1
PROVIDER=psbench RUN="ps_$(date +%s)" wrk -t2 -c16 -d"${DURATION}s" -s bench/create.lua \
  "http://127.0.0.1:$PORT" >"$OUT/paths-paystack-creates.txt" 2>&1
drain
psql "$PG/$DB" -qc analyze -qc checkpoint

printf '\n%-34s %9s %8s %8s %7s\n' "32 connections, ${DURATION}s each" "req/s" "p50 ms" "p99 ms" errors
RUN="c_$(date +%s)" load create.lua 32 "$OUT/paths-create.txt" &
loading=$!
rss_max=0
while kill -0 "$loading" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
  [ "$rss" -gt "$rss_max" ] && rss_max=$rss
  sleep 1
done
row "POST /collections" "$OUT/paths-create.txt"
create=$(field "$OUT/paths-create.txt" rps)
if [ "${ONLY:-}" = create ]; then
  echo "server RSS, peak during the create load: $((rss_max / 1024)) MB  (target < 64)"
  exit 0
fi

drain
psql "$PG/$DB" -Atc "select id from collections order by random() limit 20000" >"$OUT/paths-ids.txt"
IDS="$OUT/paths-ids.txt" load get.lua 32 "$OUT/paths-get.txt"
row "GET /collections/{id}" "$OUT/paths-get.txt"

# One charge.success per payment made at the emulator, signed with the account's key (hex HMAC-SHA512 of
# the body, as Paystack signs).
psql "$PG/$DB" -Atc "select provider_reference || ' ' || amount_minor || ' ' || currency from provider_attempts
                     where provider = 'psbench' and status = 'pending'" |
  python3 -c '
import hashlib, hmac, json, sys
secret = sys.argv[1].encode()
for n, line in enumerate(sys.stdin):
    reference, amount, currency = line.split()
    body = json.dumps({"event": "charge.success", "data": {
        "id": 900000000 + n, "domain": "test", "status": "success", "reference": reference,
        "amount": int(amount), "currency": currency, "gateway_response": "Successful", "channel": "card",
        "paid_at": "2026-11-28T10:00:00.000Z", "customer": {"email": "bench@example.com"}}},
        separators=(",", ":"))
    print(hmac.new(secret, body.encode(), hashlib.sha512).hexdigest(), body)
' "$SECRET" | ${SHUFFLE:-cat} >"$OUT/paths-webhooks.txt"
payments=$(wc -l <"$OUT/paths-webhooks.txt")
drain
BODIES="$OUT/paths-webhooks.txt" load webhook.lua 32 "$OUT/paths-webhook.txt"
row "POST /webhooks/paystack" "$OUT/paths-webhook.txt"
# The same deliveries again once every payment is settled: the intake alone (each a repeat, no job).
drain
PHASE=repeats BODIES="$OUT/paths-webhooks.txt" load webhook.lua 32 "$OUT/paths-webhook-repeats.txt"
row "  the same again, all repeats" "$OUT/paths-webhook-repeats.txt"
echo "   (rows per statement so far: creates $(per_batch create), receipts $(per_batch receipt))"

drain
load collect.lua 32 "$OUT/paths-collect.txt"
row "POST /collections/collect (MoMo)" "$OUT/paths-collect.txt"

echo
awk -v c="$create" -v g="$(field "$OUT/paths-get.txt" rps)" -v w="$(field "$OUT/paths-webhook.txt" rps)" \
  -v r="$(field "$OUT/paths-webhook-repeats.txt" rps)" \
  -v m="$((rss_max / 1024))" -v p="$payments" 'BEGIN {
  printf "GET / create:      %.2f  (target >= 3)\n", g / c
  printf "webhook / create:  %.2f  (target >= 2; %d payments, each reported once and then repeated)\n", w / c, p
  printf "  repeats only:     %.2f\n", r / c
  printf "server RSS, peak during the create load: %d MB  (target < 64)\n", m }'

[ "${TWO:-0}" = 1 ] || exit 0

echo
echo "== two processes on one database, creates at both (one webhook endpoint at bench/receiver.py)"
python3 bench/receiver.py "$RPORT" &
pids="$pids $!"
api /webhook-endpoints -d "{\"url\": \"http://127.0.0.1:$RPORT/hooks\"}" >/dev/null
serve "$PORT2" "$OUT/paths-server2.log"
pids="$pids $!"
ready "$PORT2"
drain
RUN="one_$(date +%s)" load create.lua 32 "$OUT/paths-one.txt"
RUN="two_a_$(date +%s)" wrk -t1 -c16 -d"${DURATION}s" -s bench/create.lua "http://127.0.0.1:$PORT" >"$OUT/paths-two-a.txt" 2>&1 &
first=$!
RUN="two_b_$(date +%s)" wrk -t1 -c16 -d"${DURATION}s" -s bench/create.lua "http://127.0.0.1:$PORT2" >"$OUT/paths-two-b.txt" 2>&1
wait "$first"
for _ in $(seq 1 300); do
  pending=$(psql "$PG/$DB" -Atc "select count(*) from webhook_deliveries where status = 'pending'")
  [ "$pending" = 0 ] && break
  sleep 1
done
awk -v one="$(field "$OUT/paths-one.txt" rps)" -v a="$(field "$OUT/paths-two-a.txt" rps)" \
  -v b="$(field "$OUT/paths-two-b.txt" rps)" 'BEGIN {
  printf "creates/s, one process (32 connections): %.0f; two processes (16 each): %.0f + %.0f = %.0f\n", one, a, b, a + b }'
# A delivery sent twice would show as a second try row, or as more POSTs than distinct webhook-ids.
psql "$PG/$DB" -At -F ' ' -c "
  select 'deliveries:', count(*), 'delivered:', count(*) filter (where status = 'delivered'),
         'with more than one try:', count(*) filter (where attempts > 1) from webhook_deliveries;
  select 'delivery tries recorded:', count(*) from webhook_delivery_attempts;
  select 'jobs left queued or failed:', count(*) from jobs where kind = 'deliver';"
curl -fsS "http://127.0.0.1:$RPORT/stats" | sed 's/^/receiver: /'
