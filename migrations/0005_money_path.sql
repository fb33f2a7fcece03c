-- The money path holds under lost answers, retries and crashes (issue: "No payment lost, none sent twice").

-- How far a keyed request got: written in the transaction that claims the owner (collect or collection)
-- and its provider attempts, before any provider call. A retry after that point answers from what is
-- stored and never calls the provider again; such a key is never released.
alter table idempotency_keys add column recovery jsonb;

-- Each provider call leaves a redacted record on its attempt (operation, HTTP status or failure, latency),
-- so an operator can answer a dispute. `amount_confirmed` is false where the provider's status carries no
-- amount (Airtel's enquiry): the payment was accepted on status alone.
alter table provider_attempts add column calls jsonb not null default '[]';
alter table provider_attempts add column amount_confirmed boolean;

-- A terminal event can never be written twice for one owner, whatever path writes it.
create unique index collect_events_terminal on collect_events (merchant_id, collect_id, type)
    where type in ('collect.succeeded', 'collect.failed', 'collect.rolled_back');
create unique index collection_events_terminal on collection_events (merchant_id, collection_id, type)
    where type in ('collection.completed', 'collection.cancelled', 'collection.expired');

-- The queue: an enqueue that lands on a running job asks for one more run after it (`rerun`); a job that
-- fails past its kind's cap is kept as `failed` for operators.
alter table jobs add column rerun boolean not null default false;

-- Every provider account has an id of its own, which names its callback URL
-- (/webhooks/{provider}/{account id}): a delivery that carries no Cowry reference still finds its account.
alter table merchant_providers add column id text;
update merchant_providers set id = 'acct_' || replace(gen_random_uuid()::text, '-', '') where id is null;
alter table merchant_providers alter column id set default 'acct_' || replace(gen_random_uuid()::text, '-', '');
alter table merchant_providers alter column id set not null;
create unique index merchant_providers_id on merchant_providers (id);
