-- staff: the people who run the front desk and the hotel's admins, their
-- web login sessions, and the API tokens of the property-management system.
-- Times are UTC unix nanoseconds (INTEGER), as in the other packages, so the
-- comparisons stay portable SQL. Nothing here is a secret in clear: the
-- password is an argon2id hash (PHC string with its costs), the TOTP secret
-- is sealed with the operator's passphrase (internal/secretbox, context
-- "staff:totp:<id>"), and recovery codes, session ids and API tokens are kept
-- as SHA-256 hashes of 80- or 256-bit random values.

CREATE TABLE staff (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT    NOT NULL UNIQUE,
    role                 TEXT    NOT NULL CHECK (role IN ('front_desk', 'admin')),
    password_hash        TEXT    NOT NULL,
    password_changed_at  INTEGER NOT NULL,
    -- 1 while the password is one an admin chose or generated.
    must_change_password INTEGER NOT NULL DEFAULT 1,
    totp_sealed          TEXT    NOT NULL DEFAULT '',
    totp_enrolled        INTEGER NOT NULL DEFAULT 0,
    -- A secret shown as a QR code and not yet confirmed with a code.
    totp_pending_sealed  TEXT    NOT NULL DEFAULT '',
    totp_pending_at      INTEGER,
    -- The last TOTP time step accepted: a code for it or an earlier step is
    -- a replay.
    totp_last_step       INTEGER NOT NULL DEFAULT 0,
    failed_passwords     INTEGER NOT NULL DEFAULT 0,
    failed_codes         INTEGER NOT NULL DEFAULT 0,
    -- The growing delay: no attempt is checked before this time.
    next_attempt_at      INTEGER NOT NULL DEFAULT 0,
    locked_until         INTEGER,
    lock_reason          TEXT    NOT NULL DEFAULT '',
    -- Lockouts since the last successful login: each one lasts twice as long.
    lockouts             INTEGER NOT NULL DEFAULT 0,
    disabled_at          INTEGER,
    last_login_at        INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

CREATE TABLE staff_recovery_codes (
    account_id INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, code_hash)
);

-- stage 'second_factor': the password was right, the TOTP code (or the
-- enrolment) is still to come; such a row only lets the login finish.
CREATE TABLE staff_sessions (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    token_hash   TEXT    NOT NULL UNIQUE,
    stage        TEXT    NOT NULL CHECK (stage IN ('second_factor', 'full')),
    client       TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX staff_sessions_account ON staff_sessions (account_id);
CREATE INDEX staff_sessions_expires ON staff_sessions (expires_at);

-- Revoked tokens are kept for the record; a name is unique among the live.
CREATE TABLE staff_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE UNIQUE INDEX staff_tokens_live_name ON staff_tokens (name) WHERE revoked_at IS NULL;
