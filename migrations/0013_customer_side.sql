-- The customer's side (issue 14): transfers into virtual accounts count, and the hosted payment page.

-- The account number a collection offered for transfers: a Paystack customer's dedicated account
-- (shared by every collection shown it) or a sandbox account (one per collection). A transfer into it
-- is matched to a collection through this column.
alter table collections add column virtual_account text;
create index collections_by_virtual_account on collections (virtual_account, created_at)
    where virtual_account is not null;

-- What has been paid towards the collection so far: a transfer can be short. The collection completes
-- once this reaches amount_minor.
alter table collections add column amount_paid_minor bigint not null default 0;

-- A provider customer's dedicated account, made once per (account, email) and reused: Paystack keeps
-- one dedicated account per customer, and its customers are identified by email.
create table virtual_accounts (
    merchant_id    text not null references merchants (id),
    -- the merchant's provider account (slug)
    provider       text not null,
    email          text not null,
    customer_code  text,
    bank_name      text not null,
    account_number text not null,
    account_name   text not null,
    created_at     timestamptz not null default now(),
    primary key (merchant_id, provider, email)
);

-- Sandbox account numbers: each process takes a block of 1,000 serials at a time, so numbers are unique
-- across merchants and processes without a round trip per collection.
create sequence sandbox_account_serials increment by 1000 minvalue 1 maxvalue 999999000;

-- The hosted payment page (`/pay/{token}`): an unguessable token per collection, so the page's URL
-- cannot be derived from the merchant's reference.
alter table collections add column pay_token text;
create unique index collections_pay_token on collections (pay_token) where pay_token is not null;

-- A mobile-money collect belongs to the contact with its payer's phone (found or created), so a
-- customer's whole history is in one place.
alter table mobile_money_collects add column contact_id text;
create index mobile_money_collects_by_contact on mobile_money_collects (merchant_id, contact_id, created_at desc)
    where contact_id is not null;

-- A customer's identity at a provider that keeps customers of its own (Dollr's party and CUSTOMER
-- counterparty), per provider account and phone (a contact's identity): made once, then reused for
-- every collection and collect.
create table provider_parties (
    merchant_id     text not null references merchants (id),
    -- the merchant's provider account (slug)
    provider        text not null,
    phone           text not null,
    party_id        text not null,
    counterparty_id text not null,
    created_at      timestamptz not null default now(),
    primary key (merchant_id, provider, phone)
);
