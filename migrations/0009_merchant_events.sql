-- The merchant's event stream and webhook deliveries.
--
-- Events stay where they are written (collection_events, collect_events, and account_events for what
-- belongs to no payment); each gains:
--   stream_seq — one sequence across all three tables (a payload's `sequence`: later for the same object
--                means newer, since writes to one object are serialised by its row lock);
--   xid        — the writing transaction. GET /events pages in (xid, stream_seq) order and shows only
--                events of transactions older than every transaction still running, so a cursor never
--                passes an event that commits later: the stream is read exactly once;
--   snapshot   — the object as GET showed it when the event happened (null: not published).
create sequence event_stream_seq;

alter table collection_events
    add column stream_seq bigint not null default nextval('event_stream_seq'),
    add column xid xid8 not null default pg_current_xact_id(),
    add column snapshot jsonb;
alter table collect_events
    add column stream_seq bigint not null default nextval('event_stream_seq'),
    add column xid xid8 not null default pg_current_xact_id(),
    add column snapshot jsonb;

create table account_events (
    merchant_id text not null references merchants (id),
    id          text not null,
    type        text not null,
    data        jsonb,
    snapshot    jsonb,
    created_at  timestamptz not null default now(),
    stream_seq  bigint not null default nextval('event_stream_seq'),
    xid         xid8 not null default pg_current_xact_id(),
    primary key (merchant_id, id)
);

create index collection_events_stream on collection_events (merchant_id, xid, stream_seq) where snapshot is not null;
create index collect_events_stream on collect_events (merchant_id, xid, stream_seq) where snapshot is not null;
create index account_events_stream on account_events (merchant_id, xid, stream_seq) where snapshot is not null;

-- Where a merchant wants events pushed. The signing secret is sealed like provider credentials; after a
-- rotation the previous one keeps signing beside the new one until previous_expires_at.
create table webhook_endpoints (
    id                  text primary key,
    merchant_id         text not null references merchants (id),
    url                 text not null,
    description         text,
    -- null: every published type
    events              text[],
    enabled             boolean not null default true,
    secret              bytea not null,
    previous_secret     bytea,
    previous_expires_at timestamptz,
    -- since when every delivery has failed (null: the last one succeeded)
    failing_since       timestamptz,
    disabled_reason     text,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
create index webhook_endpoints_by_merchant on webhook_endpoints (merchant_id, created_at);

-- One per (event, endpoint), written in the event's transaction; the `deliver` job sends it.
create table webhook_deliveries (
    id            text primary key,
    merchant_id   text not null,
    endpoint_id   text not null references webhook_endpoints (id) on delete cascade,
    event_id      text not null,
    event_type    text not null,
    payload       jsonb not null,
    status        text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts      int not null default 0,
    next_attempt_at timestamptz,
    last_status   int,
    last_error    text,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    delivered_at  timestamptz
);
create index webhook_deliveries_by_endpoint on webhook_deliveries (endpoint_id, created_at desc);
create index webhook_deliveries_failed on webhook_deliveries (status, updated_at) where status <> 'delivered';

create table webhook_delivery_attempts (
    delivery_id  text not null references webhook_deliveries (id) on delete cascade,
    attempt      int not null,
    attempted_at timestamptz not null default now(),
    http_status  int,
    latency_ms   int not null,
    -- the first 1 KiB of the answer, or why there was none
    answer       text,
    error        text,
    primary key (delivery_id, attempt)
);
