-- A contact's collections, newest first: the contact's history (GET /contacts/{id}) and the prompt caps
-- per phone read them through this index instead of every collection of the merchant.
create index collections_by_contact on collections (merchant_id, contact_id, created_at desc);
