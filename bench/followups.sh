#!/usr/bin/env bash
# Follow-up send benchmark: N collections (default 10,000) whose first follow-up is due in the same
# minute, sent by TWO `cowry serve` processes (each with its queue worker and its emulated SMS channel)
# sharing one database. Checks that every message went exactly once — counted at both processes' SMS
# emulators — and prints the send rate.
#   - the collections, their contacts and their `followup` jobs are written in SQL, as the create
#     statement writes them, all due now;
#   - each message is a touch transaction (collection lock, caps, the message row and its job), a claim
#     transaction, the Africa's Talking call, and a record transaction (status, event, publication);
#   - quiet hours apply, so the customers' numbers are from a country where it is daytime now;
#   - messages/s = messages sent / (last sent_at - dispatch).
# Not a test: it prints figures.   N=10000 bash bench/followups.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-10000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORTS=(18095 18096)
KEY=sk_test_bench_0123456789abcdefghijkl
OUT=bench/out
mkdir -p "$OUT"
db="$PG/cowry_bench_followups"

cargo build --release --quiet
psql "$PG/postgres" -qc 'drop database if exists cowry_bench_followups'

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
start_server() {
  DATABASE_URL="$db" COWRY_BIND="127.0.0.1:$1" COWRY_PUBLIC_URL="http://127.0.0.1:$1" COWRY_DEV_API_KEY=$KEY \
    COWRY_LOG=warn COWRY_EMULATORS=true COWRY_ALLOW_PRIVATE_NETWORKS=true COWRY_WORKER_IDLE_MS=20 \
    COWRY_ENCRYPTION_KEY=b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0 \
    COWRY_DB_MAX_CONNECTIONS=${DB_CONNECTIONS:-16} \
    ./target/release/cowry serve >"$OUT/followups-server-$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && break; sleep 0.2; done
}
start_server "${PORTS[0]}"
start_server "${PORTS[1]}"
merchant=$(psql "$db" -Atc "select merchant_id from api_keys limit 1")

# A country where it is between 09:00 and 19:00 now, so no message waits for the morning.
# Numbers are prefix || lpad(base + n, width): valid mobile ranges of each country.
read -r code prefix width base <<<"$(python3 - <<'PY'
from datetime import datetime
from zoneinfo import ZoneInfo
for code, prefix, width, base, zone in [
        ("234", "+234803", 7, 0, "Africa/Lagos"), ("1", "+1212", 7, 2000000, "America/New_York"),
        ("61", "+614", 8, 10000000, "Australia/Sydney"), ("86", "+86139", 8, 0, "Asia/Shanghai")]:
    if 9 <= datetime.now(ZoneInfo(zone)).hour < 19:
        print(code, prefix, width, base)
        break
PY
)"
echo "== ${N} collections with a follow-up due now (customers on +${code}), 2 processes"
start=$(date +%s.%N)
psql "$db" -qAt <<SQL
insert into contacts (merchant_id, id, first_name, last_name, phone, email)
select '$merchant', 'contact_bench' || g, 'Amina', 'Lawal',
       -- Every number ends in 1: none is one of the emulators' magic endings.
       '$prefix' || lpad(($base + g * 10 + 1)::text, $width, '0'),
       'c' || g || '@example.com'
from generate_series(1, $N) g;
insert into collections (merchant_id, id, type, reference, amount_minor, currency, status, contact_id,
                         provider, expires_in, expires_at, payable, follow_up, created_at, updated_at)
select '$merchant', 'pay_bench' || g, 'integrated', 'bench-' || g, 4500000, 'NGN', 'pending',
       'contact_bench' || g, 'sandbox', 1440, now() + interval '1 day',
       '{"enabled": true, "methods": ["payment_link"], "options": [{"method": "payment_link", "link": "https://pay.example/x"}]}',
       '{"enabled": true, "startAfter": 0, "cadence": "daily", "channels": ["sms"], "tone": "gentle"}',
       now(), now()
from generate_series(1, $N) g;
analyze;
insert into jobs (kind, key, merchant_id, payload, run_at)
select 'followup', '$merchant/pay_bench' || g, '$merchant',
       jsonb_build_object('merchantId', '$merchant', 'collectionId', 'pay_bench' || g, 'seq', 1), now()
from generate_series(1, $N) g;
SQL
dispatched=$(psql "$db" -Atc "select extract(epoch from now())")
for _ in $(seq 1 3000); do
  open=$(psql "$db" -Atc "select count(*) from jobs where kind in ('followup', 'message') and run_at <= now()")
  [ "$open" = "0" ] && break
  sleep 0.2
done
read -r sent last <<<"$(psql "$db" -AtF ' ' -c "select count(*), extract(epoch from max(sent_at)) from messages where status = 'sent'")"
read -r messages failed <<<"$(psql "$db" -AtF ' ' -c "select count(*), count(*) filter (where status <> 'sent') from messages")"
events=$(psql "$db" -Atc "select count(*) from collection_events where type = 'followup.sent'")
emulated=0
distinct=$(for port in "${PORTS[@]}"; do
  curl -fsS "http://127.0.0.1:$port/_emulator/africastalking/_messages?username=$merchant" |
    python3 -c 'import json,sys; [print(m["to"]) for m in json.load(sys.stdin)["messages"]]'
done | tee "$OUT/followups-recipients.txt" | sort -u | wc -l)
emulated=$(wc -l <"$OUT/followups-recipients.txt")
per_process=$(for port in "${PORTS[@]}"; do
  curl -fsS "http://127.0.0.1:$port/_emulator/africastalking/_messages?username=$merchant" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))'
done | paste -sd/)
rate=$(python3 -c "print(round($sent / ($last - $dispatched)))")
echo "   messages written ${messages}, sent ${sent}, not sent ${failed}; followup.sent events ${events}"
echo "   at the emulators: ${emulated} SMS (${per_process} by process), ${distinct} distinct recipients"
echo "   ${rate} messages/s (dispatch to last send: $(python3 -c "print(round($last - $dispatched, 1))") s)"
if [ "$emulated" != "$N" ] || [ "$distinct" != "$N" ]; then
  echo "   MISMATCH: every message must reach the emulators exactly once" >&2
  exit 1
fi
