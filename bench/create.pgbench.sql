-- The statement the server runs for POST /collections (INSERT_SQL in src/store/collections.rs), with
-- the pgbench expressions of create.pgbench.params.json in place of its 25 parameters; the unit test
-- `pgbench_script_runs_the_server_sql` keeps the two in step. Run with -M prepared (as the server does)
-- and -D merchant=<merchant id>.
\set n random(1, 1000000000)
\set r random(1, 1000000000)
with found as (
        -- By phone, else by email (the oldest): each a look-up on its own index, and no join to contacts, so
        -- that no cached generic plan planned on a young database can scan every contact.
        (select id, first_name, last_name, phone, email from contacts where merchant_id = :merchant and phone = ('+234803' || lpad((:n::bigint % 10000000)::text, 7, '0')))
        union all
        (select id, first_name, last_name, phone, email from contacts
         where merchant_id = :merchant and lower(email) = lower(('c' || :n || '@example.com')) order by created_at, id limit 1)
        limit 1
    ), inserted as (
        insert into contacts (merchant_id, id, first_name, last_name, phone, email, created_at, updated_at)
        select :merchant, ('contact_' || left(md5(:n || 'c' || :r), 26)), 'Amina', 'Lawal', ('+234803' || lpad((:n::bigint % 10000000)::text, 7, '0')), ('c' || :n || '@example.com'), now(), now() where not exists (select 1 from found)
        on conflict (merchant_id, phone) do update set updated_at = contacts.updated_at
        returning id, first_name, last_name, phone, email
    ), contact as (
        select * from inserted
        union all
        select * from found
    ), created as (
        insert into collections (merchant_id, id, type, reference, amount_minor, currency, status, contact_id,
                                 provider, expires_in, expires_at, due_at, payable, follow_up, metadata,
                                 created_at, updated_at, pay_token, virtual_account)
        select :merchant, ('pay_' || left(md5(:n || 'p' || :r), 26)), 'integrated', ('PSK_' || :n || '_' || :r), 4500000, 'NGN', 'pending', contact.id, 'paystack', 1440, (now() + interval '1440 minutes'), (now() + interval '1080 minutes'),
               '{"enabled": true,"methods": ["payment_link","virtual_account"],"options": [{"method": "payment_link","link": "http\u003a//127.0.0.1\u003a8080/pay/PSK_txn","expiresAt": "2025-11-14T17\u003a46\u003a07.000Z"},{"method": "virtual_account","bankName": "Cowry Sandbox Bank","accountNumber": "8256696249","accountName": "Amina Lawal","expiresAt": "2025-11-14T17\u003a46\u003a07.000Z"}]}'::json, '{"enabled": true,"startAfter": 20,"cadence": "every_10m","channels": ["whatsapp","sms"],"tone": "gentle"}'::json, '[{"name": "Standard Membership","description": "January plan renewal","quantity": 1}]'::json, now(), now(), ('pt_' || left(md5(:n || 't' || :r), 22)), '9990000013'
        from contact
        returning id
    ), event as (
        insert into collection_events (merchant_id, id, collection_id, type, created_at, snapshot)
        select :merchant, ('evt_' || left(md5(:n || 'e' || :r), 26)), id, 'collection.created', now(),
               jsonb_set('{"id": "pay_x", "type": "integrated", "dueAt": "2026-11-29T00\u003a01\u003a37.792Z", "amount": {"value": 45000, "currency": "NGN"}, "events": [{"id": "evt_x", "type": "collection.created", "timestamp": "2026-11-28T06\u003a01\u003a37.792Z"}], "status": "pending", "contact": {"id": "contact_x", "email": "b1_1@example.com", "phone": "+2348030000001", "lastName": "Lawal", "firstName": "Amina"}, "payable": {"payUrl": "http\u003a//127.0.0.1\u003a18090/pay/pt_KkmBuebwe2PootJAzYW4sCJV", "enabled": true, "methods": ["payment_link", "virtual_account"], "options": [{"link": "http\u003a//127.0.0.1\u003a18090/pay/pt_KkmBuebwe2PootJAzYW4sCJV", "method": "payment_link", "expiresAt": "2026-11-29T06\u003a01\u003a37.792Z"}, {"method": "virtual_account", "bankName": "Cowry Sandbox Bank", "expiresAt": "2026-11-29T06\u003a01\u003a37.792Z", "accountName": "Amina Lawal", "accountNumber": "0000000010"}]}, "followUp": {"tone": "gentle", "cadence": "every_10m", "enabled": true, "channels": ["whatsapp", "sms"], "startAfter": 20}, "metadata": [{"name": "Standard Membership", "quantity": 1, "description": "January plan renewal"}], "provider": "sandbox", "createdAt": "2026-11-28T06\u003a01\u003a37.792Z", "expiresAt": "2026-11-29T06\u003a01\u003a37.792Z", "expiresIn": 1440, "reference": "bench_x_1_1", "updatedAt": "2026-11-28T06\u003a01\u003a37.792Z", "completedAt": null}'::jsonb, '{contact}', (select jsonb_build_object('id', c.id, 'firstName', c.first_name,
                   'lastName', c.last_name, 'phone', c.phone, 'email', c.email) from contact c))
        from created
        returning id, type, stream_seq, snapshot
    ), deliveries as (
        -- Published now: one delivery (and its job) per enabled endpoint that wants the event.
        insert into webhook_deliveries (id, merchant_id, endpoint_id, event_id, event_type, payload, next_attempt_at)
        select 'whd_' || replace(gen_random_uuid()::text, '-', ''), :merchant, ep.id, e.id, e.type,
               '{"id": "evt_x", "type": "collection.created", "apiVersion": "2026-11-27", "livemode": false, "createdAt": "2026-11-28T06\u003a01\u003a37.792Z", "sequence": 0, "data": null}'::jsonb || jsonb_build_object('sequence', e.stream_seq, 'data', e.snapshot), now()
        from event e join webhook_endpoints ep
          on ep.merchant_id = :merchant and ep.enabled and (ep.events is null or e.type = any(ep.events))
        where e.snapshot is not null
        returning id
    ), timers as (
        -- Its deadline (overdue, then expired, on time) and its follow-up plan's first touch.
        insert into jobs (kind, key, merchant_id, payload, run_at)
        select 'deadline', :merchant || '/' || id, :merchant,
               jsonb_build_object('merchantId', :merchant::text, 'collectionId', id), (now() + interval '1080 minutes')
        from created
        union all
        select 'followup', :merchant || '/' || id, :merchant,
               jsonb_build_object('merchantId', :merchant::text, 'collectionId', id, 'seq', 1), (now() + interval '20 minutes')
        from created where (now() + interval '20 minutes')::timestamptz is not null
        union all
        select 'deliver', id, :merchant, '{}'::jsonb, now() from deliveries
    )
    select id as contact_id, first_name, last_name, phone, email from contact;
