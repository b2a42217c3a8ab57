-- vouchers: one-time enrolment challenges, the secret a device sends in its
-- SCEP request (the challengePassword of its CSR) to enrol for a stay with a
-- key it made itself. Only the SHA-256 of a challenge is kept (hex, the
-- lookup key); a challenge is used once (used_at) and expires within minutes
-- (expires_at). Rows are purged a day after they expire.
CREATE TABLE enrol_challenges (
    id         INTEGER PRIMARY KEY,
    hash       TEXT    NOT NULL UNIQUE,
    stay_id    INTEGER NOT NULL REFERENCES stays (id) ON DELETE CASCADE,
    platform   TEXT    NOT NULL DEFAULT '',
    label      TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    device_id  INTEGER REFERENCES devices (id)
);
CREATE INDEX enrol_challenges_stay ON enrol_challenges (stay_id);
CREATE INDEX enrol_challenges_expires ON enrol_challenges (expires_at);
