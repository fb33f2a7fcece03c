#!/usr/bin/env bash
# Scheduled-debit benchmark: how fast Cowry's workers take due installments and charge them (against the
# Paystack emulator in the same process), next to the pgbench yardstick's create rate measured in the
# same run; then the due scan's plan and time with 10,000 and 1,000,000 scheduled rows.
#   - MANDATES consented MONA collections are made through the API (create, consent form, approve at
#     the emulated Paystack); each then gets PER installments due at the same instant (written in SQL,
#     with their `debit` jobs, as the schedule would write them), MANDATES x PER in all (default 10,000);
#   - each debit is a claim (one statement: mandate, collection and installment locked, limits, debit,
#     attempt, poll job), a charge_authorization call, and a record transaction (attempt, debit,
#     installment, event, progress, publication), then Paystack's webhook: two HTTP hops;
#   - debits/s = paid installments / (last debit settled - dispatch start), against the yardstick's mean
#     of a run before the dispatch and one after it.
# BIN=<binary> runs another build (an A/B). Not a test: it asserts nothing.   DURATION=20 bash bench/debits.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20}
MANDATES=${MANDATES:-100}
PER=${PER:-100}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18083}
KEY=sk_test_bench_0123456789abcdefghijkl
SHARED=${SHARED:-bench/reference}
OUT=bench/out
mkdir -p "$OUT"
base="http://127.0.0.1:$PORT"
db="$PG/cowry_bench_debits"

[ -n "${BIN:-}" ] || cargo build --release --quiet
tps() { sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$1" | head -n 1; }

# The yardstick runs before the dispatch and again after it: this machine's speed drifts by a fifth within
# minutes, so the ratio is taken against the mean of the two.
yardstick() { # output file
  psql "$PG/postgres" -qc 'drop database if exists refbench' -qc 'create database refbench'
  psql "$PG/refbench" -q -f "$SHARED/reference-schema.sql" >/dev/null
  pgbench -n -f "$SHARED/reference-create.pgbench.sql" -c 32 -j 2 -T "$DURATION" "$PG/refbench" >"$1" 2>&1
  tps "$1"
}
echo "== yardstick: pgbench, ${SHARED}/reference-create.pgbench.sql, 32 clients, ${DURATION}s"
yard=$(yardstick "$OUT/debits-yardstick.txt")
echo "   ${yard} tps"

psql "$PG/postgres" -qc 'drop database if exists cowry_bench_debits'
DATABASE_URL="$db" COWRY_BIND="127.0.0.1:$PORT" COWRY_PUBLIC_URL="$base" COWRY_DEV_API_KEY=$KEY COWRY_LOG=warn \
  COWRY_RATE_LIMIT_PER_SECOND=0 COWRY_EMULATORS=true COWRY_ALLOW_PRIVATE_NETWORKS=true \
  COWRY_ENCRYPTION_KEY=b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0 \
  COWRY_EMULATOR_SETTLE_MS=10 COWRY_WORKER_IDLE_MS=20 COWRY_DB_MAX_CONNECTIONS=${DB_CONNECTIONS:-16} \
  "${BIN:-./target/release/cowry}" serve >"$OUT/debits-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.2; done

echo "== ${MANDATES} consented mandates"
start=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
expiry=$(date -u -d '+300 days' +%Y-%m-%dT%H:%M:%SZ)
for n in $(seq 1 "$MANDATES"); do
  token=$(curl -fsS "$base/collections" -H "x-api-key: $KEY" -H 'content-type: application/json' -d "{
      \"maximumAmount\": \"50000\", \"monthlyLimit\": \"1000000000\", \"debitType\": \"MONA\",
      \"startDate\": \"$start\", \"expiryDate\": \"$expiry\", \"reference\": \"bench-$n\",
      \"schedule\": {\"type\": \"SCHEDULED\", \"entries\": [{\"date\": \"$expiry\", \"amount\": \"10000\"}]}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["collection"]["loanLinkToken"])')
  page=$(curl -fsS -o /dev/null -w '%{redirect_url}' "$base/consent/$token" -d "email=bench$n@example.com")
  curl -fsS -o /dev/null "$page/approve" -X POST
done
for _ in $(seq 1 300); do
  active=$(psql "$db" -Atc "select count(*) from collections where status = 'ACTIVE'")
  [ "$active" = "$MANDATES" ] && break
  sleep 0.2
done
echo "   $active active"
# Statistics as a database that has been running has them (autovacuum analyzes as tables grow); a
# database made seconds ago has none, and plans made then are kept by the server's prepared statements.
psql "$db" -qc "analyze" -qc "checkpoint"

total=$((active * PER))
echo "== ${total} installments due at one instant"
psql "$db" -qAt <<SQL
create temp table due as
  -- One instant for all, a microsecond apart in an order that visits every mandate before any twice:
  -- as at a real due time, where each installment due is a different customer's.
  select m.merchant_id, m.collection_id, m.time_zone,
         date_trunc('second', now()) + interval '3 seconds'
           + (((g - 1) * $MANDATES + m.r) * interval '1 microsecond') as due_at
  from (select merchant_id, collection_id, time_zone, row_number() over (order by collection_id) as r
        from mandates where consent_stage = 'active') m
  cross join generate_series(1, $PER) g;
insert into installments (merchant_id, collection_id, due_at, amount_minor)
  select merchant_id, collection_id, due_at, 10000 from due;
insert into jobs (kind, key, merchant_id, payload, run_at)
  select 'debit', merchant_id || '/' || collection_id || '/' || (extract(epoch from due_at) * 1000000)::bigint,
         merchant_id,
         json_build_object('merchantId', merchant_id, 'collectionId', collection_id,
                           'dueAt', to_char(due_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                           'timeZone', time_zone),
         due_at
  from due;
SQL
dispatch=$(psql "$db" -Atc "select min(run_at) from jobs where kind = 'debit' and status = 'queued'")
# Commits and row writes the server makes per debit (the database's own counters, before and after).
counters() { psql "$db" -Atc "select xact_commit, tup_inserted + tup_updated + tup_deleted, tup_fetched
                              from pg_stat_database where datname = current_database()"; }
before=$(counters)
# CPU time per debit, the machine's (user + system, all processes: the server, PostgreSQL, the bench's own
# polling) and the server's: steadier than the rate when the disk's speed or a neighbour changes between
# runs.
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
server_cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
busy0=$(busy)
server0=$(server_cpu)
# PROFILE=1: perf samples the whole machine for 15 s of the dispatch (bench/out/perf-debits.txt).
if [ "${PROFILE:-}" = 1 ]; then
  perf record -F 999 -a -o bench/out/perf.data -- sleep 15 >/dev/null 2>&1
  { perf report -i bench/out/perf.data --sort comm --stdio 2>/dev/null
    perf report -i bench/out/perf.data --comms tokio-rt-worker,cowry --sort dso,sym --percent-limit 0.4 \
      --stdio 2>/dev/null
    perf report -i bench/out/perf.data --comms postgres --sort sym --percent-limit 0.4 --stdio 2>/dev/null
  } | grep -v "^$" >bench/out/perf-debits.txt
fi
for _ in $(seq 1 600); do
  paid=$(psql "$db" -Atc "select count(*) from installments where status = 'paid'")
  [ "$paid" = "$total" ] && break
  sleep 1
done
psql "$db" -At -F ' ' -c "
  select 'installments paid: ' || count(*) filter (where status = 'paid') || ' of ' || count(*) from installments
    where due_at > now() - interval '1 day' and amount_minor = 10000 and due_at < now();
  select 'debits per second (dispatch to last settled): ' ||
         round(count(*) / extract(epoch from max(updated_at) - '$dispatch'::timestamptz))
    from debits where status = 'succeeded';
  select 'debits not succeeded: ' || count(*) from debits where status <> 'succeeded';
  select 'due -> settled, p50 ' || round(1000 * percentile_cont(0.5) within group (order by extract(epoch from updated_at - '$dispatch'::timestamptz)))
         || ' ms, p99 ' || round(1000 * percentile_cont(0.99) within group (order by extract(epoch from updated_at - '$dispatch'::timestamptz))) || ' ms'
    from debits where status = 'succeeded';"
busy1=$(busy)
server1=$(server_cpu)
after=$(counters)
ticks=$(getconf CLK_TCK)
awk -v b="$((busy1 - busy0))" -v s="$((server1 - server0))" -v n="$total" -v t="$ticks" 'BEGIN {
  printf "CPU per debit: %.2f ms on the machine, of which the server %.2f ms\n", 1000 * b / t / n, 1000 * s / t / n }'
read -r c0 w0 f0 <<<"${before//|/ }"
read -r c1 w1 f1 <<<"${after//|/ }"
echo "per debit: $(( (c1 - c0) / total )) commits, $(( (w1 - w0) / total )) rows written, $(( (f1 - f0) / total )) rows fetched (the bench's own polling included)"
rate=$(psql "$db" -Atc "select round(count(*) / extract(epoch from max(updated_at) - '$dispatch'::timestamptz))
                       from debits where status = 'succeeded'")
kill $server 2>/dev/null || true

echo "== the due scan (the queue's take, as workers run it) over scheduled debit jobs"
explain() {
  psql "$db" -At -c "explain (analyze, costs off, timing on)
    select id from jobs
    where status = 'queued' and run_at <= now() and (locked_until is null or locked_until < now())
    order by run_at limit 32 for update skip locked" | grep -E 'Index|Seq|Execution'
}
schedule_rows() {
  psql "$db" -qAt <<SQL
insert into installments (merchant_id, collection_id, due_at, amount_minor)
  select m.merchant_id, m.collection_id, now() + interval '1 day' + g * interval '1 second', 10000
  from (select merchant_id, collection_id from mandates limit 1) m cross join generate_series($1, $2) g;
insert into jobs (kind, key, merchant_id, payload, run_at)
  select 'debit', 'scan/' || g, m.merchant_id, '{}'::jsonb, now() + interval '1 day' + g * interval '1 second'
  from (select merchant_id from mandates limit 1) m cross join generate_series($1, $2) g;
-- 32 of them due now, as at a dispatch.
update jobs set run_at = now() - interval '1 second' where key in (select 'scan/' || g from generate_series($1, $1 + 31) g);
analyze jobs; analyze installments;
SQL
}
schedule_rows 1 10000
echo "-- 10,000 scheduled rows"; explain
schedule_rows 10001 1000000
echo "-- 1,000,000 scheduled rows"; explain
echo "== yardstick again, after the dispatch (and the scan, which reads the queue as the dispatch left it)"
yard2=$(yardstick "$OUT/debits-yardstick-after.txt")
echo "   ${yard2} tps"
awk -v r="$rate" -v a="$yard" -v b="$yard2" 'BEGIN {
  printf "debits / yardstick: %.3f  (%d debits/s against %.0f tps, the mean of %.0f and %.0f; target >= 0.25)\n",
         r / ((a + b) / 2), r, (a + b) / 2, a, b }'
