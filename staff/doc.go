// Package staff implements Keycard's staff accounts, their web login
// sessions, and the API tokens of the hotel's property-management system
// (PMS). It speaks no HTTP: the front-desk pages and the REST API in
// portal/ call it, and so does the keycard CLI.
//
// # Accounts
//
// An account has a name, a role (RoleFrontDesk or RoleAdmin; Allowed says
// what each may do), an argon2id password hash in PHC form
// ($argon2id$v=19$m=19456,t=2,p=1$salt$hash, so the costs can be raised
// and old hashes are redone at the next login), a TOTP secret sealed with
// the operator's passphrase (internal/secretbox), and ten single-use
// recovery codes kept as hashes. CheckPassword is the password policy: at
// least 12 characters, none of a few hundred of the most common passwords
// (also with digits or symbols around them), no keyboard run, no short
// pattern repeated, not containing the account name.
//
// An admin adds an account (Add) with a password set or generated; at the
// first login the holder sets up TOTP (the QR code of BeginEnrolment,
// confirmed with ConfirmEnrolment) and is told to change the password
// (Account.MustChangePassword). Later logins need the password and a TOTP
// code, or a recovery code. Changing one's own password or TOTP needs the
// current TOTP code (ChangePassword, BeginTOTPChange, ConfirmTOTPChange,
// NewRecoveryCodes). A TOTP code is good once: the last time step used is
// stored and a code for it or an earlier step is refused.
//
// # Guessing
//
// Three guards, each with its own scope:
//
//   - A growing delay per account: after the n-th wrong password or code
//     in a row the account takes no attempt for AttemptDelay·2^(n-1) (1s,
//     2s, 4s, 8s). An attempt inside the delay is refused unchecked. A
//     password attempt is counted as wrong before its hash is checked, so
//     parallel guesses meet the delay too.
//   - A lock per account, persisted: MaxFailedPasswords wrong passwords in
//     a row, or MaxFailedCodes wrong codes in a row, from any mix of
//     addresses, lock the account for Lockout, twice as long for each
//     further lock before a successful login (15 min, 30 min, 1 h … at
//     most 24 h). A locked account's error (*LockedError) says what to do:
//     ask an admin to run `keycard staff reset-password NAME`, or wait
//     until the time it names. An admin's ResetPassword lifts the lock.
//   - A block per client address, in memory: AddressMaxFailures failed
//     attempts of any kind (unknown names, wrong passwords and codes,
//     attempts refused by a delay or lock) from one IPv4 address or IPv6
//     /64 within AddressWindow block that address for AddressBlock,
//     doubling with each block. A blocked address is refused before any
//     account is looked at and its attempts count against no account, so
//     it cannot lock anyone out any further; the account's holder, from
//     another address, still logs in. An address spraying guesses over
//     many accounts (one or two each, under every account's limit) is
//     stopped by the block. A guesser aiming at one account locks it after
//     MaxFailedPasswords tries whatever its address; that is the price of
//     a per-account limit, and the lock message tells the holder the way
//     back. A lock stops new logins only: sessions already open go on, so
//     a guesser cannot log the holder out.
//
// Every login, failed attempt (which step, why, from where), lockout,
// address block, password change or reset, TOTP set-up, change or reset,
// recovery-code renewal, account change and token change is written to the
// audit log (an Auditor, *vouchers.Store) in the same transaction as the
// change. Nothing secret is ever written there or logged: no password,
// TOTP secret or code, recovery code, session id or token; a name that
// does not exist is not written either (it may be a password typed in the
// wrong box).
//
// # Sessions and tokens
//
// Session ids and API tokens are 256 random bits; the database keeps their
// SHA-256 only (see SessionPrefix). A session ends after IdleTimeout
// without use, SessionLifetime after login, on logout (EndSession), and for
// all of an account's sessions when its password changes or is reset, its
// TOTP is reset, or it is disabled. SessionByToken reads the account afresh
// on every call, so a disabled account or a changed role takes effect on
// the next request. API tokens ("kc_…") are named, carry Scopes, are shown
// once, can be revoked, and record when they were last used.
package staff
