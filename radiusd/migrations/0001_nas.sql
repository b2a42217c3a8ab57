-- NAS clients: the access points and controllers allowed to send RADIUS
-- requests. The shared secret is sealed with the operator's passphrase
-- (internal/secretbox, context "nas:<name>"); it is never stored in clear.
CREATE TABLE nas (
	id                            INTEGER PRIMARY KEY AUTOINCREMENT,
	name                          TEXT    NOT NULL UNIQUE,
	network                       TEXT    NOT NULL UNIQUE,
	secret_sealed                 TEXT    NOT NULL,
	das_port                      INTEGER NOT NULL DEFAULT 3799 CHECK (das_port BETWEEN 1 AND 65535),
	require_message_authenticator INTEGER NOT NULL DEFAULT 1,
	created_at                    TEXT    NOT NULL
);
