-- Hardening after the outside probe.

-- A card payment follows its provider: a failed attempt is not final while
-- the intent can still succeed, so the last failure is kept beside a still
-- 'pending' status; 'failed' is reserved for intents that cannot succeed any
-- more (canceled, expired), and a success arriving after it still credits.
ALTER TABLE payments ADD COLUMN failure_reason TEXT;
ALTER TABLE payments ADD COLUMN provider_status TEXT;
CREATE INDEX payments_pending_idx ON payments (status, created_at);

-- Provider events that could not be applied (unknown payment, amount that
-- differs): kept for an admin to look at and replay, never silently dropped.
CREATE TABLE webhook_dead_letters (
    id          TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    resolved_at BIGINT,
    CONSTRAINT webhook_dead_letters_event_key UNIQUE (provider, event_id)
);

-- Running server processes and their heartbeats: an idempotency reservation
-- whose owner stopped beating belongs to a dead process and may be taken
-- over at once instead of after the whole lease.
CREATE TABLE server_instances (
    id           TEXT PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT;

-- Addresses an account signed in from successfully: its owner there is not
-- held back by the per-account limit that strangers' guesses use up.
CREATE TABLE login_known_addresses (
    user_id   TEXT NOT NULL REFERENCES users (id),
    address   TEXT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (user_id, address)
);

-- Sessions (refresh-token families) ended early: their access tokens stop
-- working at once; instances load the recent ones at start.
CREATE INDEX refresh_tokens_revoked_idx ON refresh_tokens (revoked_at);

-- An eSIM top-up is paid first and applied by the supplier second, like a
-- purchase: its record lets a sweep refund one that a dead process left
-- half-done, and applies it at most once (conditional status update).
CREATE TABLE esim_topups (
    id            TEXT PRIMARY KEY,
    esim_id       TEXT NOT NULL REFERENCES esims (id),
    user_id       TEXT NOT NULL REFERENCES users (id),
    plan_id       TEXT NOT NULL REFERENCES esim_plans (id),
    provider      TEXT NOT NULL,
    price         BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    operation_id  TEXT REFERENCES ledger_operations (id),
    status        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CONSTRAINT esim_topups_status_check CHECK (status IN ('pending', 'applied', 'failed'))
);
CREATE INDEX esim_topups_pending_idx ON esim_topups (status, created_at);
CREATE INDEX esim_topups_operation_idx ON esim_topups (operation_id);

-- A history in the order each balance changed, whatever the clocks of the
-- instances that wrote it: every account hands out positions from its own
-- counter in the same conditional update that changes its balance (one per
-- transfer that touches it, never below the wall clock in microseconds, so
-- histories of several accounts still merge in time order). Transfers from
-- before this have none; they sort by their time.
ALTER TABLE accounts ADD COLUMN last_position BIGINT NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN debit_position BIGINT;
ALTER TABLE transfers ADD COLUMN credit_position BIGINT;
DROP INDEX transfers_debit_idx;
DROP INDEX transfers_credit_idx;
CREATE INDEX transfers_debit_idx ON transfers (debit_account_id, debit_position);
CREATE INDEX transfers_credit_idx ON transfers (credit_account_id, credit_position);
