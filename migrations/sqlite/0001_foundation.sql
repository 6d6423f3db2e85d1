-- Clubs, accounts, sessions, notifications and server secrets.
-- Times are BIGINT milliseconds since the Unix epoch (UTC); ids are UUID v7 text.

CREATE TABLE clubs (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    short_name      TEXT NOT NULL,
    league          TEXT NOT NULL,
    country         TEXT NOT NULL,
    currency        TEXT NOT NULL,
    primary_color   TEXT NOT NULL,
    secondary_color TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    name          TEXT NOT NULL,
    club_id       TEXT REFERENCES clubs (id),
    role          TEXT NOT NULL DEFAULT 'fan',
    staff_club_id TEXT REFERENCES clubs (id),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_role_check CHECK (role IN ('fan', 'staff', 'admin')),
    CONSTRAINT users_staff_club_check CHECK (role <> 'staff' OR staff_club_id IS NOT NULL)
);

-- Refresh tokens rotate: each use marks the row rotated and issues a child in the
-- same family; presenting a rotated token again revokes the whole family.
CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT,
    revoked_at BIGINT,
    CONSTRAINT refresh_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    data       TEXT,
    created_at BIGINT NOT NULL,
    read_at    BIGINT
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id);

-- Secrets the server generates for itself (development JWT key, ticket signing key).
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
