-- Indexes for the paths that run once per debit and once per settlement (bench/debits.sh measured them).

-- Publication stamps the events a transaction wrote on a collection or collect: found through the few
-- still unstamped, not by reading every event the object ever had (a scheduled collection gains one per
-- debit, so a ten-year schedule's stamp would read thousands of rows).
create index collection_events_unstamped on collection_events (merchant_id, collection_id)
    where snapshot is null;
create index collect_events_unstamped on collect_events (merchant_id, collect_id)
    where snapshot is null;

-- The view's latest 20 debits in index order, its tie-break on id included: no sort of all of them.
-- The month's total reads the same index (a month's debits lie in a range of created_at), so the
-- month index goes: with both, a planner whose statistics predate the debits sorted all of a
-- collection's debits through the month index for every view.
drop index debits_by_collection;
drop index debits_by_month;
create index debits_by_collection on debits (merchant_id, collection_id, created_at desc, id desc);

-- The installments still ahead (scheduled or processing): what planning counts after every debit,
-- without reading the paid ones.
create index installments_open on installments (merchant_id, collection_id, due_at)
    where status in ('scheduled', 'processing');
