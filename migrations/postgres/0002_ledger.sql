-- Double-entry ledger. Amounts are BIGINT minor units of the account's currency.

-- One account per (kind, owner, currency): a fan's wallet (kind 'user', owner =
-- user id), a payment provider's funding account, a club's revenue account, the
-- platform's fee account, the eSIM supplier. Only fan wallets are bounded below
-- by zero; system accounts go negative by design (a funding account's balance
-- is minus the money that came in from outside), so every currency sums to zero.
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    currency   TEXT NOT NULL,
    balance    BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    CONSTRAINT accounts_owner_key UNIQUE (kind, owner_id, currency),
    CONSTRAINT accounts_user_balance_nonnegative CHECK (kind <> 'user' OR balance >= 0)
);

-- A business operation (a deposit, a transfer, a checkout): its transfers commit
-- together. With an Idempotency-Key, the key is bound to the operation in the
-- same transaction, so a retry can never post it twice.
CREATE TABLE ledger_operations (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    user_id         TEXT,
    idempotency_key TEXT,
    created_at      BIGINT NOT NULL,
    CONSTRAINT ledger_operations_idempotency_key UNIQUE (user_id, idempotency_key)
);

CREATE TABLE transfers (
    id                   TEXT PRIMARY KEY,
    operation_id         TEXT NOT NULL REFERENCES ledger_operations (id),
    debit_account_id     TEXT NOT NULL REFERENCES accounts (id),
    credit_account_id    TEXT NOT NULL REFERENCES accounts (id),
    amount               BIGINT NOT NULL,
    currency             TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    reference_type       TEXT,
    reference_id         TEXT,
    note                 TEXT,
    metadata             TEXT,
    debit_balance_after  BIGINT NOT NULL,
    credit_balance_after BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    CONSTRAINT transfers_amount_positive CHECK (amount > 0),
    CONSTRAINT transfers_distinct_accounts CHECK (debit_account_id <> credit_account_id)
);
CREATE INDEX transfers_debit_idx ON transfers (debit_account_id, id);
CREATE INDEX transfers_credit_idx ON transfers (credit_account_id, id);
CREATE INDEX transfers_operation_idx ON transfers (operation_id);
CREATE INDEX transfers_reference_idx ON transfers (reference_type, reference_id);

-- Transfers are history: corrections are new transfers, never edits.
CREATE FUNCTION transfers_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'transfers are immutable';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER transfers_no_update BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION transfers_immutable();

-- Deposits through a payment provider. 'pending' until the provider confirms.
CREATE TABLE payments (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    provider     TEXT NOT NULL,
    method       TEXT NOT NULL,
    amount       BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL,
    provider_ref TEXT,
    client_secret TEXT,
    operation_id TEXT REFERENCES ledger_operations (id),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    CONSTRAINT payments_amount_positive CHECK (amount > 0),
    CONSTRAINT payments_status_check CHECK (status IN ('pending', 'succeeded', 'failed')),
    CONSTRAINT payments_provider_ref_key UNIQUE (provider, provider_ref)
);
CREATE INDEX payments_user_idx ON payments (user_id, id);

-- Running deposit total per user, currency and UTC day, bounded by a
-- conditional update so concurrent deposits cannot exceed the daily limit.
CREATE TABLE deposit_usage (
    user_id  TEXT NOT NULL,
    currency TEXT NOT NULL,
    day      BIGINT NOT NULL,
    total    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, currency, day)
);

-- Provider webhook events already handled (deliveries are at-least-once).
CREATE TABLE webhook_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (provider, event_id)
);

-- Idempotency-Key records (IETF httpapi draft), per user.
CREATE TABLE idempotency_keys (
    user_id         TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    state           TEXT NOT NULL,
    response_status BIGINT,
    response_type   TEXT,
    response_body   TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key),
    CONSTRAINT idempotency_state_check CHECK (state IN ('in_flight', 'done'))
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
