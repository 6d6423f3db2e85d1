-- Match ticketing. Seats are counted per category (sold <= capacity, enforced by
-- the conditional update and this CHECK); tickets carry a version that a
-- transfer bumps, so a QR code signed for an older version is revoked.

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    home_club_id    TEXT NOT NULL REFERENCES clubs (id),
    away_club_id    TEXT REFERENCES clubs (id),
    away_team       TEXT NOT NULL,
    competition     TEXT NOT NULL,
    venue           TEXT NOT NULL,
    kickoff_at      BIGINT NOT NULL,
    sale_starts_at  BIGINT NOT NULL,
    sale_ends_at    BIGINT NOT NULL,
    per_fan_limit   BIGINT NOT NULL DEFAULT 4,
    tickets_issued  BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT events_sale_window_check CHECK (sale_starts_at <= sale_ends_at AND sale_ends_at <= kickoff_at),
    CONSTRAINT events_per_fan_limit_check CHECK (per_fan_limit BETWEEN 1 AND 20)
);
CREATE INDEX events_kickoff_idx ON events (kickoff_at);

CREATE TABLE ticket_categories (
    id         TEXT PRIMARY KEY,
    event_id   TEXT NOT NULL REFERENCES events (id),
    name       TEXT NOT NULL,
    price      BIGINT NOT NULL,
    currency   TEXT NOT NULL,
    capacity   BIGINT NOT NULL,
    sold       BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    CONSTRAINT ticket_categories_name_key UNIQUE (event_id, name),
    CONSTRAINT ticket_categories_price_check CHECK (price > 0),
    CONSTRAINT ticket_categories_sold_check CHECK (sold >= 0 AND sold <= capacity)
);
CREATE INDEX ticket_categories_event_idx ON ticket_categories (event_id);

-- Tickets bought per fan and event, bounded by the event's per-fan limit.
CREATE TABLE event_fan_purchases (
    event_id TEXT NOT NULL REFERENCES events (id),
    user_id  TEXT NOT NULL REFERENCES users (id),
    bought   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, user_id),
    CONSTRAINT event_fan_purchases_bought_check CHECK (bought >= 0)
);

CREATE TABLE tickets (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events (id),
    category_id     TEXT NOT NULL REFERENCES ticket_categories (id),
    buyer_id        TEXT NOT NULL REFERENCES users (id),
    owner_id        TEXT NOT NULL REFERENCES users (id),
    holder_name     TEXT NOT NULL,
    serial          BIGINT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'valid',
    version         BIGINT NOT NULL DEFAULT 1,
    inside          BIGINT NOT NULL DEFAULT 0,
    price           BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    commission_bps  BIGINT NOT NULL,
    first_used_at   BIGINT,
    first_used_gate TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT tickets_serial_key UNIQUE (event_id, serial),
    CONSTRAINT tickets_status_check CHECK (status IN ('valid', 'used', 'refunded', 'revoked'))
);
CREATE INDEX tickets_owner_idx ON tickets (owner_id, id);
CREATE INDEX tickets_event_updated_idx ON tickets (event_id, updated_at);

-- Every scan, online or uploaded later by an offline gate device.
CREATE TABLE ticket_checkins (
    id         TEXT PRIMARY KEY,
    ticket_id  TEXT,
    event_id   TEXT NOT NULL,
    staff_id   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    gate       TEXT,
    nonce      TEXT,
    status     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    response   TEXT NOT NULL,
    source     TEXT NOT NULL,
    scanned_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT ticket_checkins_nonce_key UNIQUE (event_id, nonce)
);
CREATE INDEX ticket_checkins_ticket_idx ON ticket_checkins (ticket_id);

-- Ownership chain: each entry holds the hash of the one before and the
-- server's Ed25519 signature of its own hash.
CREATE TABLE ticket_provenance (
    ticket_id  TEXT NOT NULL REFERENCES tickets (id),
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    from_user  TEXT,
    to_user    TEXT,
    at         BIGINT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    signature  TEXT NOT NULL,
    PRIMARY KEY (ticket_id, seq)
);
