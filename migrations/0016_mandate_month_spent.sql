-- A mandate's running total for the monthly limit: what its debits not known to have failed add up to
-- in `spent_month` (the calendar month, in the mandate's zone, of the latest debit claimed). A debit's
-- claim reads it under the mandate's row lock and adds to it in the statement that writes the debit; a
-- debit that fails takes its amount back off (in the statement that moves it), when it counted in that
-- month. Before, every claim summed the month's debits: a cost that grew with each debit of the month.
alter table mandates
    add column spent_month date,
    add column spent_minor bigint not null default 0;

-- Each mandate's latest month with debits, and what its debits not failed add up to there.
update mandates m
set spent_month = t.month, spent_minor = t.total
from (select distinct on (merchant_id, collection_id) merchant_id, collection_id, month, total
      from (select merchant_id, collection_id, month, coalesce(sum(amount_minor) filter (where status <> 'failed'), 0) as total
            from debits group by merchant_id, collection_id, month) per_month
      order by merchant_id, collection_id, month desc) t
where m.merchant_id = t.merchant_id and m.collection_id = t.collection_id;
