-- Follow-ups: the messages Cowry sends a collection's customer, the channels it sends them on, and the
-- customer's say over them.

-- A merchant's own channel settings (one row per channel). `settings` holds what is not secret (the
-- WhatsApp phone-number id and template names, the SMS username and sender ID, the email from-address);
-- `credentials` what is (the WhatsApp token and app secret, the SMS API key, the SMTP URL), sealed like
-- provider credentials with the row's merchant and channel bound in. A test-mode merchant without a row
-- uses the emulated channel (WhatsApp, SMS) or the server's SMTP (email).
create table merchant_channels (
    merchant_id text not null references merchants (id),
    channel     text not null check (channel in ('whatsapp', 'sms', 'email')),
    base_url    text,
    settings    jsonb not null default '{}',
    credentials bytea,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (merchant_id, channel)
);

-- One message on one channel. A follow-up "touch" (`seq`) is one row per channel; the unique key makes
-- planning a touch twice (a job run again after a crash) write nothing new. A scheduled collection's
-- notice before a debit is a message too (tone `notice`, `seq` the debit's due minute since the epoch);
-- such a collection may have no contact.
create table messages (
    merchant_id         text not null references merchants (id),
    id                  text not null,
    collection_id       text not null,
    contact_id          text,
    seq                 int not null,
    channel             text not null check (channel in ('whatsapp', 'sms', 'email')),
    -- gentle, professional, urgent; notice (before a scheduled debit)
    tone                text not null,
    -- queued → sending → sent → delivered | undelivered; queued → cancelled (the collection closed or
    -- the customer opted out first); sending → failed (refused, or retries ran out) | unknown (the
    -- process died mid-send: it is not sent again); skipped rows were never sendable.
    status              text not null check (status in ('queued', 'sending', 'sent', 'delivered',
                                 'undelivered', 'failed', 'unknown', 'cancelled', 'skipped')),
    -- The E.164 number or the address it goes to.
    recipient           text not null,
    subject             text,
    body                text not null,
    -- Email: the HTML part (the plain-text part is `body`).
    html                text,
    -- WhatsApp: the template and its parameters.
    template            jsonb,
    parts               int,
    provider_message_id text,
    reason              text,
    attempts            int not null default 0,
    planned_at          timestamptz not null,
    sent_at             timestamptz,
    delivered_at        timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    primary key (merchant_id, id),
    unique (merchant_id, collection_id, seq, channel)
);
create index messages_by_contact on messages (merchant_id, contact_id, planned_at);
create index messages_by_provider_id on messages (channel, provider_message_id)
    where provider_message_id is not null;

-- A contact who said STOP on a channel (a reply, the gateway's opt-out list, or the merchant on their
-- behalf): nothing more goes to them on it, from any of the merchant's collections.
create table contact_opt_outs (
    merchant_id text not null,
    contact_id  text not null,
    channel     text not null check (channel in ('whatsapp', 'sms', 'email')),
    source      text not null,
    created_at  timestamptz not null default now(),
    primary key (merchant_id, contact_id, channel),
    foreign key (merchant_id, contact_id) references contacts (merchant_id, id)
);

-- WhatsApp business-initiated messages need the customer's recorded opt-in: {source, at}. The channel
-- the customer prefers and their language (BCP 47) are the merchant's to set.
alter table contacts
    add column whatsapp_opt_in   jsonb,
    add column preferred_channel text check (preferred_channel in ('whatsapp', 'sms', 'email')),
    add column language          text;
create index contacts_list on contacts (merchant_id, created_at desc, id desc);

-- When an unpaid collection becomes overdue (the merchant's `dueAt`, else three quarters of the way to
-- its expiry).
alter table collections add column due_at timestamptz;
