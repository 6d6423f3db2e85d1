-- Travel eSIMs. Plans are a catalogue; an eSIM is a profile bought from the
-- supplier through the configured provider, paid through the ledger first and
-- refunded there if provisioning fails.

CREATE TABLE esim_plans (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    region          TEXT NOT NULL,
    countries       TEXT NOT NULL,
    data_mb         BIGINT,
    validity_days   BIGINT NOT NULL,
    validity_starts TEXT NOT NULL DEFAULT 'first_use',
    price           BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    features        TEXT NOT NULL,
    popular         BIGINT NOT NULL DEFAULT 0,
    active          BIGINT NOT NULL DEFAULT 1,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT esim_plans_price_check CHECK (price > 0),
    CONSTRAINT esim_plans_validity_check CHECK (validity_days > 0),
    CONSTRAINT esim_plans_data_check CHECK (data_mb IS NULL OR data_mb > 0),
    CONSTRAINT esim_plans_starts_check CHECK (validity_starts IN ('first_use', 'purchase'))
);

CREATE TABLE esims (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    plan_id         TEXT NOT NULL REFERENCES esim_plans (id),
    provider        TEXT NOT NULL,
    status          TEXT NOT NULL,
    iccid           TEXT,
    matching_id     TEXT,
    smdp_address    TEXT,
    activation_code TEXT,
    data_total_mb   BIGINT,
    data_used_mb    BIGINT NOT NULL DEFAULT 0,
    validity_days   BIGINT NOT NULL,
    validity_starts TEXT NOT NULL,
    price           BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    first_used_at   BIGINT,
    expires_at      BIGINT,
    notified_80     BIGINT NOT NULL DEFAULT 0,
    notified_100    BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT esims_status_check CHECK (status IN ('provisioning', 'ready', 'active', 'depleted', 'expired', 'failed')),
    CONSTRAINT esims_iccid_key UNIQUE (iccid),
    CONSTRAINT esims_usage_check CHECK (data_used_mb >= 0)
);
CREATE INDEX esims_user_idx ON esims (user_id, id);

CREATE TABLE esim_webhook_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (provider, event_id)
);
