-- webhooks: the durable outbox of events for the hotel's other systems.
-- Times are UTC unix nanoseconds (INTEGER). The SQL is SQLite's and
-- PostgreSQL's alike (INTEGER PRIMARY KEY would be an identity column
-- there).

-- One row per event, written in the same transaction that advances the
-- cursor it came from: (source, source_id) names what the event is about
-- ("audit", 42: audit entry 42; "session.stopped", 17), so following the
-- same changes again after a crash inserts nothing twice. event_id is the
-- id receivers see and dedupe by; body is the exact JSON posted, signed
-- afresh on each attempt.
CREATE TABLE webhook_events (
    id          INTEGER PRIMARY KEY,
    event_id    TEXT    NOT NULL UNIQUE,
    source      TEXT    NOT NULL,
    source_id   INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    occurred_at INTEGER NOT NULL,
    enqueued_at INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    UNIQUE (source, source_id)
);

-- One row per event and endpoint (the endpoint's URL as configured).
-- state: 'pending' (next_attempt_at says when), 'delivered' (a 2xx answer,
-- at delivered_at) or 'failed' (max attempts reached; kept, visible).
-- A delivery is claimed before it is sent: attempts counts up and
-- next_attempt_at moves past the attempt, so a crash mid-attempt is
-- retried and never loops forever.
CREATE TABLE webhook_deliveries (
    event_id        INTEGER NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint        TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_attempt_at INTEGER,
    delivered_at    INTEGER,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (event_id, endpoint)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint, state, next_attempt_at);

-- Where each follower is: 'audit' (the last audit entry id turned into
-- events), 'sessions' (the last session id seen).
CREATE TABLE webhook_cursors (
    name     TEXT    PRIMARY KEY,
    position INTEGER NOT NULL
);

-- Sessions announced as started and not yet as stopped: the sessions
-- follower checks only these for a stop.
CREATE TABLE webhook_open_sessions (
    session_id INTEGER PRIMARY KEY
);
