-- A contact's collections, newest first: the contact's history (GET /contacts/{id}) and the prompt caps
-- per phone read them through this index instead of every collection of the merchant.
create index collections_by_contact on collections (merchant_id, contact_id, created_at desc);

-- A channel's delivery report that arrived before Cowry recorded the send it reports on (the channel
-- answered the send, reported delivery, and the report won the race with Cowry's own commit): kept
-- here and applied when the send is recorded. Both sides take the same advisory lock first.
create table early_delivery_reports (
    merchant_id         text not null,
    channel             text not null,
    provider_message_id text not null,
    delivered           boolean not null,
    reason              text,
    received_at         timestamptz not null default now(),
    primary key (merchant_id, channel, provider_message_id)
);
