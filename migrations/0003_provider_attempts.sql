-- One row per call Cowry makes to a provider, keyed by the reference Cowry generated for it. The row
-- is committed *before* the call, so a crash mid-call leaves a reference to look up instead of a
-- payment nobody knows about. created → pending → succeeded | failed | unknown.
create table provider_attempts (
    merchant_id        text not null references merchants (id),
    id                 text not null,
    -- the collection the call was for; null until that collection is committed
    collection_id      text,
    provider           text not null,
    kind               text not null,
    operation          text not null,
    provider_reference text not null,
    status             text not null check (status in ('created', 'pending', 'succeeded', 'failed', 'unknown')),
    amount_minor       bigint,
    currency           char(3),
    -- the provider's answer as Cowry read it (never credentials)
    response           jsonb,
    error              text,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    primary key (merchant_id, id),
    unique (merchant_id, kind, provider_reference)
);
create index provider_attempts_by_collection on provider_attempts (merchant_id, collection_id);
create index provider_attempts_open on provider_attempts (status, updated_at) where status in ('created', 'pending', 'unknown');
