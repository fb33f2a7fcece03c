-- Cowry's first schema. Every tenant-owned table carries merchant_id and every unique key and foreign key
-- includes it, so the schema can later be distributed by merchant (Citus) without a rewrite.
-- IDs are prefixed text (mer_, key_, pay_, contact_, evt_) so they are readable in logs and support tickets.

create table merchants (
    id               text primary key,
    name             text not null,
    -- slug of the provider used when a collection names none
    default_provider text not null,
    created_at       timestamptz not null default now()
);

-- Only the SHA-256 of a key is stored; the key itself is shown once at creation.
create table api_keys (
    id          text primary key,
    merchant_id text not null references merchants (id),
    key_hash    bytea not null unique,
    -- first characters of the key, so an operator can tell keys apart without the secret
    key_prefix  text not null,
    mode        text not null check (mode in ('test', 'live')),
    revoked_at  timestamptz,
    created_at  timestamptz not null default now()
);
create index api_keys_merchant on api_keys (merchant_id);

-- The merchant's providers list: `slug` is what requests name, `kind` is the adapter that serves it.
create table merchant_providers (
    merchant_id text not null references merchants (id),
    slug        text not null,
    kind        text not null,
    mode        text not null check (mode in ('test', 'live')),
    created_at  timestamptz not null default now(),
    primary key (merchant_id, slug)
);

create table contacts (
    merchant_id text not null references merchants (id),
    id          text not null,
    first_name  text not null,
    last_name   text not null,
    -- E.164, normalised; the identity a contact is found by first
    phone       text not null,
    email       text not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (merchant_id, id),
    unique (merchant_id, phone)
);
create index contacts_email on contacts (merchant_id, lower(email));

create table collections (
    merchant_id  text not null references merchants (id),
    id           text not null,
    type         text not null check (type in ('integrated', 'scheduled')),
    reference    text not null,
    -- integer minor units of `currency` (kobo for NGN); never a float
    amount_minor bigint not null check (amount_minor > 0),
    currency     char(3) not null,
    status       text not null check (status in ('pending', 'overdue', 'completed', 'cancelled', 'expired')),
    contact_id   text not null,
    provider     text not null,
    expires_in   integer not null check (expires_in > 0),
    expires_at   timestamptz not null,
    -- {"enabled", "methods", "options"}: options are what the provider generated, stored as returned.
    -- `json`, not `jsonb`: these are echoed back exactly as written (key order, number text included).
    payable      json not null,
    follow_up    json,
    metadata     json,
    created_at   timestamptz not null,
    updated_at   timestamptz not null,
    completed_at timestamptz,
    primary key (merchant_id, id),
    constraint collections_reference_key unique (merchant_id, reference),
    foreign key (merchant_id, contact_id) references contacts (merchant_id, id)
);
-- list order (newest first, id breaks ties) and its cursor
create index collections_list on collections (merchant_id, created_at desc, id desc);
-- the expiry sweep only looks at collections that can still expire
create index collections_expiring on collections (expires_at) where status in ('pending', 'overdue');

create table collection_events (
    merchant_id   text not null,
    -- insertion order: events in the same millisecond still list in the order they happened
    seq           bigint generated always as identity,
    id            text not null,
    collection_id text not null,
    type          text not null,
    data          jsonb,
    created_at    timestamptz not null,
    primary key (merchant_id, id),
    foreign key (merchant_id, collection_id) references collections (merchant_id, id)
);
create index collection_events_by_collection on collection_events (merchant_id, collection_id, seq);

-- Idempotency-Key: claimed by a short insert before any work (response null = in progress), then the
-- response is saved in the same transaction as the business effect. A claim whose request died is taken
-- over once `locked_at` is older than the request timeout allows.
create table idempotency_keys (
    merchant_id     text not null references merchants (id),
    key             text not null,
    request_hash    bytea not null,
    response_status smallint,
    response_body   bytea,
    locked_at       timestamptz not null default now(),
    created_at      timestamptz not null default now(),
    primary key (merchant_id, key)
);
-- keys are kept for 24 hours (the retention sweep deletes older ones)
create index idempotency_keys_created on idempotency_keys (created_at);
