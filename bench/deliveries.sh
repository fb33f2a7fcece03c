#!/usr/bin/env bash
# Delivery benchmark: how fast Cowry delivers events to a merchant endpoint that answers at once, next to
# how fast it creates them, and how long an event waits to be delivered under that load.
#   - wrk creates collections (32 connections) and mobile-money collects (4 connections, against the
#     MoMo emulator, which settles each after 200 ms) for DURATION seconds, with one endpoint subscribed
#     to everything: every create, collect and settlement is an event, and every event a delivery;
#   - after the load, the queue is drained; rates and waits are read from the deliveries' own times
#     (written in the event's transaction; `delivered_at` when the 2xx came back).
# Not a test: it asserts nothing.   DURATION=15 bash bench/deliveries.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18081}
RPORT=${RPORT:-18082}
KEY=sk_test_bench_0123456789abcdefghijkl
OUT=bench/out
mkdir -p "$OUT"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet

python3 bench/receiver.py "$RPORT" &
receiver=$!
psql "$PG/postgres" -qc 'drop database if exists cowry_bench_deliveries'
DATABASE_URL="$PG/cowry_bench_deliveries" COWRY_BIND="127.0.0.1:$PORT" COWRY_DEV_API_KEY=$KEY COWRY_LOG=warn \
  COWRY_RATE_LIMIT_PER_SECOND=0 COWRY_EMULATORS=true COWRY_ALLOW_PRIVATE_NETWORKS=true \
  COWRY_ENCRYPTION_KEY=b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0 \
  COWRY_EMULATOR_SETTLE_MS=200 COWRY_WORKER_IDLE_MS=50 COWRY_DB_MAX_CONNECTIONS=${DB_CONNECTIONS:-16} \
  ./target/release/cowry serve >"$OUT/deliveries-server.log" 2>&1 &
server=$!
trap 'kill $server $receiver 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$PORT/webhook-endpoints" -H "x-api-key: $KEY" -H 'content-type: application/json' \
  -d "{\"url\": \"http://127.0.0.1:$RPORT/hooks\"}" >/dev/null

export KEY
RUN="d_$(date +%s)" wrk -t1 -c32 -d"${DURATION}s" -s bench/create.lua "http://127.0.0.1:$PORT" >"$OUT/deliveries-wrk-create.txt" 2>&1 &
creating=$!
wrk -t1 -c4 -d"${DURATION}s" -s bench/collect.lua "http://127.0.0.1:$PORT" >"$OUT/deliveries-wrk-collect.txt" 2>&1
wait "$creating"
sleep 1
db="$PG/cowry_bench_deliveries"
for _ in $(seq 1 300); do
  pending=$(psql "$db" -Atc "select count(*) from webhook_deliveries where status = 'pending'")
  [ "$pending" = 0 ] && break
  sleep 1
done
psql "$db" -At -F ' ' -c "
  with d as (select * from webhook_deliveries)
  select 'events written per second during the load:  ' ||
         round(count(*) filter (where created_at <= (select min(created_at) from d) + interval '$DURATION seconds') / $DURATION.0)
  from d;
  select 'deliveries per second (first event to last delivery): ' ||
         round(count(*) / extract(epoch from max(delivered_at) - min(created_at))) ||
         '  (' || count(*) || ' delivered, ' ||
         (select count(*) from webhook_deliveries where status <> 'delivered') || ' not)'
  from webhook_deliveries where status = 'delivered';
  with d as (select * from webhook_deliveries), s as (select min(created_at) + interval '$DURATION seconds' as load_end from d)
  select 'deliveries per second after the load stopped (the queue draining alone): ' ||
         round(count(*) / extract(epoch from max(delivered_at) - (select load_end from s)))
  from d where delivered_at > (select load_end from s);
  select 'collections created per second: ' ||
         round(count(*) / $DURATION.0) from collections;
  select 'event -> delivery wait, ' || rpad(event_type, 20) || ' p50 ' ||
         round(1000 * percentile_cont(0.5) within group (order by extract(epoch from delivered_at - created_at)))::text || ' ms, p99 ' ||
         round(1000 * percentile_cont(0.99) within group (order by extract(epoch from delivered_at - created_at)))::text || ' ms  (' || count(*) || ')'
  from webhook_deliveries where status = 'delivered' group by event_type order by event_type;
"
grep -E 'Requests/sec' "$OUT/deliveries-wrk-create.txt" | sed 's/^/create wrk: /'
grep -E 'Requests/sec' "$OUT/deliveries-wrk-collect.txt" | sed 's/^/collect wrk: /'
