-- The statement the server runs for POST /collections (INSERT_SQL in src/store/collections.rs), with
-- the pgbench expressions of create.pgbench.params.json in place of its 23 parameters; the unit test
-- `pgbench_script_runs_the_server_sql` keeps the two in step. Run with -M prepared (as the server does)
-- and -D merchant=<merchant id>.
\set n random(1, 1000000000)
\set r random(1, 1000000000)
with found as (
        -- Two lookups each served by its own index whatever the statistics say (an OR of the two made
        -- the cached generic plan scan every contact of the merchant on a young database).
        select coalesce(
            (select id from contacts where merchant_id = :merchant and phone = ('+234803' || lpad((:n::bigint % 10000000)::text, 7, '0'))),
            (select id from contacts where merchant_id = :merchant and lower(email) = lower(('c' || :n || '@example.com'))
             order by created_at, id limit 1)) as id
    ), inserted as (
        insert into contacts (merchant_id, id, first_name, last_name, phone, email, created_at, updated_at)
        select :merchant, ('contact_' || left(md5(:n || 'c' || :r), 26)), 'Amina', 'Lawal', ('+234803' || lpad((:n::bigint % 10000000)::text, 7, '0')), ('c' || :n || '@example.com'), now(), now() where (select id from found) is null
        on conflict (merchant_id, phone) do update set updated_at = contacts.updated_at
        returning id, first_name, last_name, phone, email
    ), contact as (
        select * from inserted
        union all
        select c.id, c.first_name, c.last_name, c.phone, c.email
        from contacts c where c.merchant_id = :merchant and c.id = (select id from found)
    ), created as (
        insert into collections (merchant_id, id, type, reference, amount_minor, currency, status, contact_id,
                                 provider, expires_in, expires_at, due_at, payable, follow_up, metadata,
                                 created_at, updated_at, pay_token, virtual_account)
        select :merchant, ('pay_' || left(md5(:n || 'p' || :r), 26)), 'integrated', ('PSK_' || :n || '_' || :r), 4500000, 'NGN', 'pending', contact.id, 'paystack', 1440, (now() + interval '1440 minutes'), (now() + interval '1080 minutes'),
               '{"enabled": true,"methods": ["payment_link","virtual_account"],"options": [{"method": "payment_link","link": "http\u003a//127.0.0.1\u003a8080/pay/PSK_txn","expiresAt": "2025-11-14T17\u003a46\u003a07.000Z"},{"method": "virtual_account","bankName": "Cowry Sandbox Bank","accountNumber": "8256696249","accountName": "Amina Lawal","expiresAt": "2025-11-14T17\u003a46\u003a07.000Z"}]}'::json, '{"enabled": true,"startAfter": 20,"cadence": "every_10m","channels": ["whatsapp","sms"],"tone": "gentle"}'::json, '[{"name": "Standard Membership","description": "January plan renewal","quantity": 1}]'::json, now(), now(), ('pt_' || left(md5(:n || 't' || :r), 22)), '9990000013'
        from contact
        returning id
    ), event as (
        insert into collection_events (merchant_id, id, collection_id, type, created_at)
        select :merchant, ('evt_' || left(md5(:n || 'e' || :r), 26)), id, 'collection.created', now() from created
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
    )
    select id as contact_id, first_name, last_name, phone, email from contact;
