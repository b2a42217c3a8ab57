// Package secretbox seals small secrets (NAS shared secrets) for storage in
// the database, with a key derived from the operator's passphrase.
//
// The key is argon2id(passphrase, salt). The salt is random and kept in the
// database (table secretbox_salt) so a backup carries it; it is not secret:
// without the passphrase a copied database reveals nothing.
// Each sealed value is AES-256-GCM with a random nonce, bound to a context
// string (for example "nas:ap-lobby") so a sealed value cannot be moved to
// another row.
package secretbox
