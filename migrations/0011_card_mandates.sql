-- A mandate is consented on one of two Paystack rails: a direct-debit authorization of a bank account
-- (NGN), or a card whose first, small charge leaves a reusable authorization (refunded at once).
alter table mandates
    add column consent_rail text not null default 'direct_debit'
        check (consent_rail in ('direct_debit', 'card')),
    -- Paystack's customer code (`CUS_…`) of a direct-debit authorization: what the activation-charge retry
    -- names. Not a secret.
    add column provider_customer text;
