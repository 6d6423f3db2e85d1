-- Recommendations, insights and predictions.

-- Real results the match model is fitted on: shipped seasons (`dataset`) and
-- results admins record for played events (`admin`).
CREATE TABLE match_results (
    id          TEXT PRIMARY KEY,
    competition TEXT NOT NULL,
    season      TEXT NOT NULL,
    played_on   BIGINT NOT NULL,
    home_team   TEXT NOT NULL,
    away_team   TEXT NOT NULL,
    home_goals  BIGINT NOT NULL,
    away_goals  BIGINT NOT NULL,
    event_id    TEXT REFERENCES events (id),
    source      TEXT NOT NULL,
    recorded_by TEXT REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    CONSTRAINT match_results_goals_check CHECK (home_goals BETWEEN 0 AND 99 AND away_goals BETWEEN 0 AND 99),
    CONSTRAINT match_results_source_check CHECK (source IN ('dataset', 'admin')),
    CONSTRAINT match_results_event_key UNIQUE (event_id),
    CONSTRAINT match_results_fixture_key UNIQUE (competition, season, played_on, home_team)
);
CREATE INDEX match_results_played_idx ON match_results (played_on);

-- Built recommendation models; every instance serves the newest.
CREATE TABLE ai_models (
    id           TEXT PRIMARY KEY,
    built_at     BIGINT NOT NULL,
    fans         BIGINT NOT NULL,
    interactions BIGINT NOT NULL,
    build_ms     BIGINT NOT NULL,
    payload      TEXT NOT NULL
);
CREATE INDEX ai_models_built_idx ON ai_models (built_at);

-- A fan's own activity, read for their insights.
CREATE INDEX messages_user_idx ON messages (user_id, created_at);
CREATE INDEX post_likes_user_idx ON post_likes (user_id);
CREATE INDEX post_comments_user_idx ON post_comments (user_id);
CREATE INDEX tickets_buyer_idx ON tickets (buyer_id);

-- One instance at a time rebuilds the model when it is due (a lease).
CREATE TABLE ai_jobs (
    name   TEXT PRIMARY KEY,
    holder TEXT,
    until  BIGINT NOT NULL
);
INSERT INTO ai_jobs (name, holder, until) VALUES ('rebuild', NULL, 0);
