-- Test and live never mix: a merchant is one or the other (a business going live gets a live merchant
-- of its own), and its keys and provider accounts carry its mode.
alter table merchants add column mode text not null default 'test' check (mode in ('test', 'live'));
-- A rolled key keeps working until then (an overlap for deploying the new one); null: no end.
alter table api_keys add column expires_at timestamptz;
