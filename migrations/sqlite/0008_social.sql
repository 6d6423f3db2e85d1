-- Fan chat, feed and the live event log.

-- Every event a live client must not miss (a message posted, edited or
-- deleted, a read marker moved, a membership change, a notification), in
-- commit order: a client that reconnects asks for what follows the last `seq`
-- it saw. Appends are serialised (an advisory lock on PostgreSQL, the one
-- writer on SQLite), so `seq` order is commit order and no reader can see 11
-- before 10 commits.
CREATE TABLE live_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- `user:<id>` or `conversation:<id>`
    topic      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX live_events_topic_idx ON live_events (topic, seq);
CREATE INDEX live_events_created_idx ON live_events (created_at);

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    name             TEXT,
    owner_id         TEXT REFERENCES users (id),
    -- The club whose public room this is (kind 'club').
    club_id          TEXT REFERENCES clubs (id),
    -- 'smaller id|larger id' of a direct conversation: asking twice finds one.
    direct_key       TEXT,
    last_message_seq BIGINT,
    activity_at      BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    CONSTRAINT conversations_kind_check CHECK (kind IN ('direct', 'group', 'club')),
    CONSTRAINT conversations_direct_key UNIQUE (direct_key),
    CONSTRAINT conversations_club_key UNIQUE (club_id),
    CONSTRAINT conversations_shape_check CHECK (
        (kind = 'direct' AND direct_key IS NOT NULL AND club_id IS NULL)
        OR (kind = 'group' AND owner_id IS NOT NULL AND direct_key IS NULL AND club_id IS NULL)
        OR (kind = 'club' AND club_id IS NOT NULL AND direct_key IS NULL))
);

CREATE TABLE conversation_members (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    user_id         TEXT NOT NULL REFERENCES users (id),
    joined_at       BIGINT NOT NULL,
    -- `seq` of the last message this member has read.
    last_read_seq   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_user_idx ON conversation_members (user_id);

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    user_id         TEXT NOT NULL REFERENCES users (id),
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    edited_at       BIGINT,
    deleted_at      BIGINT,
    hidden_at       BIGINT,
    hidden_by       TEXT REFERENCES users (id),
    CONSTRAINT messages_id_key UNIQUE (id)
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, seq);

CREATE TABLE posts (
    id            TEXT PRIMARY KEY,
    author_id     TEXT NOT NULL REFERENCES users (id),
    -- Set when staff post in their club's name.
    club_id       TEXT REFERENCES clubs (id),
    content       TEXT NOT NULL,
    image_url     TEXT,
    like_count    BIGINT NOT NULL DEFAULT 0,
    comment_count BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT,
    hidden_at     BIGINT,
    hidden_by     TEXT REFERENCES users (id),
    CONSTRAINT posts_counts_check CHECK (like_count >= 0 AND comment_count >= 0)
);
CREATE INDEX posts_club_idx ON posts (club_id, created_at);
CREATE INDEX posts_author_idx ON posts (author_id, created_at);

CREATE TABLE post_likes (
    post_id    TEXT NOT NULL REFERENCES posts (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (post_id, user_id)
);

CREATE TABLE post_comments (
    id         TEXT PRIMARY KEY,
    post_id    TEXT NOT NULL REFERENCES posts (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    content    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    hidden_at  BIGINT,
    hidden_by  TEXT REFERENCES users (id)
);
CREATE INDEX post_comments_post_idx ON post_comments (post_id, id);

-- A fan follows a club or another fan.
CREATE TABLE follows (
    follower_id TEXT NOT NULL REFERENCES users (id),
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (follower_id, target_kind, target_id),
    CONSTRAINT follows_kind_check CHECK (target_kind IN ('club', 'user'))
);
CREATE INDEX follows_target_idx ON follows (target_kind, target_id);

CREATE TABLE blocks (
    blocker_id TEXT NOT NULL REFERENCES users (id),
    blocked_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id),
    CONSTRAINT blocks_self_check CHECK (blocker_id <> blocked_id)
);
CREATE INDEX blocks_blocked_idx ON blocks (blocked_id);

-- A fan's report of a message, post or comment, for the staff of the club
-- whose space it is in (club_id) or, elsewhere, for admins.
CREATE TABLE reports (
    id          TEXT PRIMARY KEY,
    reporter_id TEXT NOT NULL REFERENCES users (id),
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    club_id     TEXT REFERENCES clubs (id),
    reason      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    resolved_at BIGINT,
    CONSTRAINT reports_kind_check CHECK (target_kind IN ('message', 'post', 'comment')),
    CONSTRAINT reports_once_key UNIQUE (reporter_id, target_kind, target_id)
);
CREATE INDEX reports_open_idx ON reports (club_id, resolved_at);
