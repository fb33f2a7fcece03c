-- Mobile-money collect (POST /collections/collect), inbound provider callbacks, and the durable job
-- queue that reconciliation (and later scheduled debits, follow-ups and outbound webhooks) runs on.

-- One push payment request to a payer's wallet. Its provider attempt carries the provider reference.
create table mobile_money_collects (
    merchant_id   text not null references merchants (id),
    -- a UUID, as the mobile-money document shows
    id            text not null,
    external_id   text,
    payer         text not null,
    amount_minor  bigint not null check (amount_minor > 0),
    currency      char(3) not null,
    -- MTN_UG, AIRTEL_UG, …
    network       text not null,
    provider      text not null,
    status        text not null check (status in ('PENDING', 'SUCCESS', 'FAILED', 'ROLLED_BACK')),
    message       text,
    payer_message text,
    payee_note    text,
    payer_name    text,
    -- the merchant balance the money lands in (one per merchant and currency)
    balance_id    text not null,
    -- set when the provider reported something Cowry will not accept as paid (e.g. another amount)
    flag          text,
    created_at    timestamptz not null,
    updated_at    timestamptz not null,
    completed_at  timestamptz,
    primary key (merchant_id, id),
    constraint mobile_money_collects_external_id_key unique (merchant_id, external_id)
);
create index mobile_money_collects_list on mobile_money_collects (merchant_id, created_at desc, id desc);

create table collect_events (
    merchant_id text not null,
    seq         bigint generated always as identity,
    id          text not null,
    collect_id  text not null,
    type        text not null,
    data        jsonb,
    created_at  timestamptz not null,
    primary key (merchant_id, id),
    foreign key (merchant_id, collect_id) references mobile_money_collects (merchant_id, id)
);
create index collect_events_by_collect on collect_events (merchant_id, collect_id, seq);

-- Attempts learn two more states: `flagged` (the provider reported a payment Cowry will not accept:
-- wrong amount or currency; an operator decides) and `reversed` (a success the provider took back).
alter table provider_attempts drop constraint provider_attempts_status_check;
alter table provider_attempts add constraint provider_attempts_status_check
    check (status in ('created', 'pending', 'succeeded', 'failed', 'unknown', 'flagged', 'reversed'));
alter table provider_attempts
    add column collect_id   text,
    add column last_checked timestamptz,
    add column checks       integer not null default 0;
create index provider_attempts_by_collect on provider_attempts (merchant_id, collect_id);
create index provider_attempts_by_reference on provider_attempts (kind, provider_reference);

-- Every callback a provider sent, stored before anything acts on it. `dedupe_key` is the provider's
-- event or transaction id (or a hash of the verified body); only the first receipt of a key is acted on.
create table webhook_receipts (
    id          text primary key,
    provider    text not null,
    merchant_id text,
    attempt_id  text,
    headers     jsonb not null,
    body        bytea not null,
    -- verified (signature checked) | unsigned (a hint, checked with the provider) | rejected
    verdict     text not null check (verdict in ('verified', 'unsigned', 'rejected')),
    dedupe_key  text,
    duplicate   boolean not null default false,
    outcome     text,
    received_at timestamptz not null default now(),
    processed_at timestamptz
);
create index webhook_receipts_received on webhook_receipts (received_at);
create table webhook_dedupe (
    provider   text not null,
    dedupe_key text not null,
    receipt_id text not null,
    primary key (provider, dedupe_key)
);

-- The durable job queue. A job is taken by setting a lease (`locked_until`) on rows chosen with
-- FOR UPDATE SKIP LOCKED; a process that dies mid-job leaves a lease that expires, and the job is taken
-- again. Finished jobs are deleted; a job that gives up is kept as `failed` for operators.
create table jobs (
    id           bigint generated always as identity primary key,
    kind         text not null,
    -- at most one open job per (kind, key): e.g. one reconciliation poll per attempt
    key          text not null,
    merchant_id  text,
    payload      jsonb not null default '{}',
    status       text not null default 'queued' check (status in ('queued', 'failed')),
    run_at       timestamptz not null default now(),
    attempts     integer not null default 0,
    locked_by    text,
    locked_until timestamptz,
    last_error   text,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create unique index jobs_open_key on jobs (kind, key) where status = 'queued';
create index jobs_due on jobs (run_at) where status = 'queued';
