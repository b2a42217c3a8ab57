-- sessions: accounting sessions (RFC 2866), one row per (NAS, Acct-Session-Id),
-- built from Start, Interim-Update and Stop records.
-- Times are UTC unix nanoseconds (INTEGER), session_time is nanoseconds,
-- counters are cumulative totals (octets already joined with their
-- Gigawords). Addresses are text ('' when the NAS did not send one).
-- stay_id and device_id are NULL while no record has said whom the session
-- belongs to; they are not foreign keys, so accounting is kept even for a
-- stay or device that is unknown or later deleted.

CREATE TABLE sessions (
    id                 INTEGER PRIMARY KEY,
    nas                TEXT    NOT NULL,
    acct_session_id    TEXT    NOT NULL,
    stay_id            INTEGER,
    device_id          INTEGER,
    user_name          TEXT    NOT NULL DEFAULT '',
    calling_station_id TEXT    NOT NULL DEFAULT '',
    called_station_id  TEXT    NOT NULL DEFAULT '',
    framed_ip          TEXT    NOT NULL DEFAULT '',
    nas_address        TEXT    NOT NULL DEFAULT '',
    nas_ip_address     TEXT    NOT NULL DEFAULT '',
    nas_ipv6_address   TEXT    NOT NULL DEFAULT '',
    nas_identifier     TEXT    NOT NULL DEFAULT '',
    started_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    stopped_at         INTEGER,
    session_time       INTEGER NOT NULL DEFAULT 0,
    input_octets       INTEGER NOT NULL DEFAULT 0,
    output_octets      INTEGER NOT NULL DEFAULT 0,
    input_packets      INTEGER NOT NULL DEFAULT 0,
    output_packets     INTEGER NOT NULL DEFAULT 0,
    terminate_cause    TEXT    NOT NULL DEFAULT '',
    disconnect_at      INTEGER,
    disconnect_outcome TEXT    NOT NULL DEFAULT '',
    UNIQUE (nas, acct_session_id)
);

-- Open sessions: loaded at start-up, closed by Accounting-On/Off per NAS.
CREATE INDEX sessions_open ON sessions (nas, updated_at) WHERE stopped_at IS NULL;
CREATE INDEX sessions_stay ON sessions (stay_id, started_at);
CREATE INDEX sessions_device ON sessions (device_id, started_at);
CREATE INDEX sessions_started ON sessions (started_at, id);
