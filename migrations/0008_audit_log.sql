-- What operators and merchants did to accounts and keys, with who and when (never secrets).
create table audit_log (
    id          bigint generated always as identity primary key,
    at          timestamptz not null default now(),
    -- `operator` (the admin token) or `merchant:<api key id>`
    actor       text not null,
    action      text not null,
    merchant_id text,
    subject     text,
    detail      jsonb not null default '{}'
);
create index audit_log_at on audit_log (at desc, id desc);
