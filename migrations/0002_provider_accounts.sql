-- Provider accounts: the merchant's providers list gains where to reach each provider and the
-- credentials to use, encrypted at rest (AES-256-GCM; nonce || ciphertext, the row's merchant and slug
-- bound in as associated data). Test-mode accounts without credentials talk to the emulators.
alter table merchant_providers
    add column base_url    text,
    add column credentials bytea,
    add column updated_at  timestamptz not null default now();
