// Package vouchers implements Keycard's hotel domain: stays, the voucher
// codes that let a guest enrol devices, the devices and their certificates,
// the policies a stay grants, and the tamper-evident audit log.
//
// It owns two rules the rest of Keycard asks about:
//
//   - Authorize: is this client certificate allowed on the network now?
//     It runs on every authentication (full and resumed TLS handshakes), does
//     one indexed query and no writes, and answers with a typed Reason.
//   - DueForCheckout: which devices must be dropped now, because their stay
//     ended (check-out passed or staff ended it) or they were revoked?
//     MarkDisconnected records that a device was dealt with, so each one is
//     returned once.
//
// A stay is the single source of truth. CreateStay returns a voucher code
// (groups of four characters, e.g. K7QX-M4TR-9PCW, from an alphabet without
// look-alike characters). The first group is a public selector; the rest is
// a secret verifier kept only as an argon2id hash with a per-voucher salt. A code may enrol devices
// until the stay's device cap is reached or the stay ends; guests may enrol
// before check-in (in the lobby) because the certificate's NotAfter is the
// stay's check-out anyway, and Authorize refuses a stay that has not
// started. Too many wrong codes lock the voucher until staff reissue it.
//
// Extending a stay (ExtendStay) does not make the guest enrol again. A
// certificate cannot be lengthened, so its NotAfter stays the check-out as
// first booked: an upper bound, while the stay remains the truth. Keycard
// is the only relying party for these certificates (its private CA, the
// clientAuth usage, checked only by its RADIUS server), so Authorize
// accepts a certificate whose only fault is a NotAfter in the past when the
// chain verifies at that NotAfter, the chain's CAs are still valid, the
// certificate is exactly the one on record, the device is not revoked and
// its stay, live now, was extended past that NotAfter. Every device that is
// not revoked holds a place under the stay's cap while the stay is live.
//
// Enrolment takes a public key or a CSR from the device: the server never
// sees a private key. Certificates are signed by an Issuer that cmd adapts
// from package ca; this package never imports ca, RADIUS or HTTP code. A
// device that makes its own key later (Apple's SCEP payload) enrols with a
// one-time challenge (MintEnrolChallenge, EnrolWithChallenge): 160 random
// bits, kept only as a hash, bound to its stay, valid for minutes, used
// once, in the same transaction as the enrolment.
//
// Every change is appended to an audit log in the same transaction as the
// change. Each row's hash covers its fields and the previous row's hash, and
// the audit_head table anchors the last row, so VerifyAudit finds an edited,
// deleted, reordered or truncated log. It also checks that every stay and
// device has the entries its state implies (stay.create, stay.end,
// device.enrol, device.revoke), which finds rows cut from the end together
// with a rewound audit_head. An attacker who can rewrite the whole database
// can rewrite the chain and the tables too: export AuditHead's hash off the
// box (logs, backups) to anchor it externally.
//
// Times are stored as UTC unix nanoseconds and the SQL avoids
// SQLite-only functions so a PostgreSQL backend can follow.
package vouchers
