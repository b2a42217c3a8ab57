-- vouchers: stays, their vouchers, enrolled devices and the audit log.
-- Times are UTC unix nanoseconds (INTEGER) so comparisons stay portable SQL.

CREATE TABLE stays (
    id          INTEGER PRIMARY KEY,
    room        TEXT    NOT NULL,
    guest_name  TEXT    NOT NULL,
    check_in    INTEGER NOT NULL,
    check_out   INTEGER NOT NULL,
    max_devices INTEGER NOT NULL CHECK (max_devices BETWEEN 1 AND 50),
    policy      TEXT    NOT NULL,
    ended_at    INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX stays_check_out ON stays (check_out);

-- One voucher per stay. The selector (first code group) is public and finds
-- the row; only a hash of the secret verifier is kept.
CREATE TABLE vouchers (
    stay_id       INTEGER PRIMARY KEY REFERENCES stays (id) ON DELETE CASCADE,
    selector      TEXT    NOT NULL UNIQUE,
    verifier_hash TEXT    NOT NULL,
    failed_tries  INTEGER NOT NULL DEFAULT 0,
    locked_at     INTEGER,
    issued_at     INTEGER NOT NULL
);

-- serial is NULL only inside the enrolment transaction, between the insert
-- and the certificate coming back from the issuer.
CREATE TABLE devices (
    id              INTEGER PRIMARY KEY,
    stay_id         INTEGER NOT NULL REFERENCES stays (id),
    serial          TEXT UNIQUE,
    identity        TEXT    NOT NULL DEFAULT '',
    platform        TEXT    NOT NULL DEFAULT '',
    label           TEXT    NOT NULL DEFAULT '',
    enrolled_at     INTEGER NOT NULL,
    not_after       INTEGER NOT NULL DEFAULT 0,
    revoked_at      INTEGER,
    revoke_reason   TEXT    NOT NULL DEFAULT '',
    disconnected_at INTEGER
);
CREATE INDEX devices_stay ON devices (stay_id);
CREATE INDEX devices_connected ON devices (stay_id) WHERE disconnected_at IS NULL;
CREATE INDEX devices_revoked ON devices (revoked_at) WHERE revoked_at IS NOT NULL;

-- Append-only, hash-chained audit log. id is assigned by the writer
-- (audit_head.last_id + 1), never by the database, so a gap means a
-- deleted row.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    source    TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);

-- The anchor: the last row's id and hash, updated in the same transaction as
-- every append, so deleting rows from the tail is detected too.
CREATE TABLE audit_head (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    last_id INTEGER NOT NULL,
    hash    TEXT    NOT NULL
);
INSERT INTO audit_head (id, last_id, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
