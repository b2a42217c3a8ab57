// Package ca implements Keycard's certificate authority: a long-lived root, an
// issuing intermediate that signs everything else, the RADIUS and portal
// server certificates, the guests' device certificates and the CRL.
//
// Signing goes through smallstep's CAS interface (cas/apiv1) with the
// embedded softcas, so an external step-ca or Vault can take its place later
// without changing callers. Keys are ECDSA P-256, made with
// go.step.sm/crypto/keyutil, and stored encrypted at rest (PKCS#8, PBES2 with
// AES-256 and PBKDF2) with the passphrase the admin supplies; a wrong
// passphrase is reported as [ErrWrongPassphrase].
//
// Files in the CA folder (mode 0700):
//
//	root.crt, root.key                  the root; its key is only read to re-issue the intermediate
//	intermediate.crt, intermediate.key  the issuing CA; its key is decrypted by Open
//	<name>.crt, <name>.key              server certificates (RADIUS, portal), re-issued automatically
//	scep-ra.crt, scep-ra.key            the SCEP RA: RSA 2048 (Apple devices encrypt their CSR to it), re-issued automatically
//	crlnumber                           the last CRL number used
//
// Lifecycle: [Init] creates a CA once (and refuses to touch an existing one),
// [Open] loads it on every start. An [Authority] is safe for concurrent use.
//
// The package signs what it is asked to sign: deciding whether a device may
// have a certificate, and until when, belongs to package vouchers.
package ca
