-- Scheduled collections (spec/scheduled-collection.txt): a mandate the customer consents to once, its
-- installments (materialised a few at a time from the schedule), and the debits made under it.

-- Dates without an offset are read in the merchant's zone unless a request names one.
alter table merchants add column time_zone text not null default 'Africa/Lagos';

-- A scheduled collection is a collections row (one id space, one list, one event stream) with its own
-- status vocabulary, upper case as the document writes it; it needs no contact and has no expiresIn.
alter table collections drop constraint collections_status_check;
alter table collections add constraint collections_status_check check (
    (type = 'integrated' and status in ('pending', 'overdue', 'completed', 'cancelled', 'expired'))
    or (type = 'scheduled'
        and status in ('NOT_STARTED', 'ACTIVE', 'COMPLETED', 'EXPIRED', 'CANCELLED', 'REVOKED')));
alter table collections alter column contact_id drop not null;
alter table collections alter column expires_in drop not null;
alter table collections add constraint collections_integrated_fields
    check (type = 'scheduled' or (contact_id is not null and expires_in is not null));
create index collections_scheduled_expiring on collections (expires_at)
    where type = 'scheduled' and status in ('NOT_STARTED', 'ACTIVE');

-- Consent and revocation happen once per mandate, whatever path reports them.
create unique index collection_events_mandate on collection_events (merchant_id, collection_id, type)
    where type in ('mandate.consented', 'mandate.revoked');

create table mandates (
    merchant_id         text not null,
    collection_id       text not null,
    debit_type          text not null check (debit_type in ('MERCHANT', 'MONA')),
    maximum_minor       bigint not null check (maximum_minor > 0),
    monthly_limit_minor bigint not null check (monthly_limit_minor > 0),
    start_at            timestamptz not null,
    time_zone           text not null,
    schedule_type       text not null,
    -- as shown: UTC times, minor-unit strings
    schedule            json not null,
    agent_id            text,
    -- the customer's consent link (loanLinkToken): unguessable, unique across merchants
    token               text not null unique,
    -- where the customer consents: {COWRY_PUBLIC_URL}/consent/{token} when it was created
    consent_url         text not null,
    provider_kind       text not null,
    -- Mona's collection id, or the reference of the Paystack authorization request in progress
    provider_reference  text,
    -- the reusable authorization (Paystack's authorization_code), sealed like credentials
    authorization_code  bytea,
    customer_email      text,
    -- none → requested (sent to the provider) → authorized (approved, not yet chargeable) → active
    consent_stage       text not null default 'none'
                        check (consent_stage in ('none', 'requested', 'authorized', 'active')),
    consented_at        timestamptz,
    revoked_at          timestamptz,
    last_collected_at   timestamptz,
    next_collection_at  timestamptz,
    primary key (merchant_id, collection_id),
    foreign key (merchant_id, collection_id) references collections (merchant_id, id)
);

-- One row per due date, written a few ahead of time; each has a `debit` job due at the same time.
create table installments (
    merchant_id   text not null,
    collection_id text not null,
    due_at        timestamptz not null,
    amount_minor  bigint not null check (amount_minor > 0),
    status        text not null default 'scheduled'
                  check (status in ('scheduled', 'processing', 'paid', 'failed', 'cancelled')),
    tries         integer not null default 0,
    last_error    text,
    primary key (merchant_id, collection_id, due_at),
    foreign key (merchant_id, collection_id) references mandates (merchant_id, collection_id)
);

create table debits (
    merchant_id        text not null,
    id                 text not null,
    collection_id      text not null,
    installment_due_at timestamptz,
    -- the merchant's (unique per collection), or Cowry's for scheduled installments
    reference          text not null,
    amount_minor       bigint not null check (amount_minor > 0),
    currency           char(3) not null,
    -- the calendar month (first day, in the collection's zone) the monthly limit counts it in
    month              date not null,
    status             text not null check (status in ('pending', 'succeeded', 'failed', 'unknown')),
    failure_class      text check (failure_class in ('hard', 'soft')),
    failure_reason     text,
    attempt_id         text not null,
    created_at         timestamptz not null,
    updated_at         timestamptz not null,
    primary key (merchant_id, id),
    unique (merchant_id, collection_id, reference),
    foreign key (merchant_id, collection_id) references mandates (merchant_id, collection_id)
);
create index debits_by_month on debits (merchant_id, collection_id, month);
-- the latest debits first (GET shows the latest 100; a merchant debit checks the last one's time)
create index debits_by_collection on debits (merchant_id, collection_id, created_at desc);
-- An installment is never charged twice at once: a new debit for it only after the last one failed.
create unique index debits_one_live_per_installment on debits (merchant_id, collection_id, installment_due_at)
    where installment_due_at is not null and status <> 'failed';

-- Provider calls made for a scheduled collection: the authorization request (scheduled_id only) and
-- each debit (both).
alter table provider_attempts add column scheduled_id text, add column debit_id text;
