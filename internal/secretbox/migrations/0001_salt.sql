-- The salt of the key that seals NAS shared secrets. It is not secret (the
-- passphrase is); it lives in the database so that a backup carries it
-- together with the values it unseals.
CREATE TABLE secretbox_salt (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    salt BLOB    NOT NULL
);
