-- api: answers to POST requests sent with an Idempotency-Key, by the token
-- that sent them, so that a retry gets the first answer instead of making a
-- second change. status is 0 while the first request is being served.
-- request_hash is the hex SHA-256 of method, path and body. body never holds
-- a voucher code. Rows are purged 24 hours after created_at.
CREATE TABLE api_idempotency (
    token_name   TEXT    NOT NULL,
    idem_key     TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    status       INTEGER NOT NULL DEFAULT 0,
    location     TEXT    NOT NULL DEFAULT '',
    body         TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (token_name, idem_key)
);
CREATE INDEX api_idempotency_created ON api_idempotency (created_at);
