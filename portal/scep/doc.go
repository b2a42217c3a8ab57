// Package scep implements the server side of the Simple Certificate
// Enrolment Protocol (SCEP, RFC 8894) for guests' devices: the device makes
// its own key, Keycard certifies it for the stay, and the private key never
// leaves the device. Apple's configuration profiles do this with a
// com.apple.security.scep payload whose Challenge is a one-time secret
// minted for the stay (vouchers.Store.MintEnrolChallenge).
//
// The handler answers three operations, as query parameters on one URL
// (the portal mounts it at /scep on the guest portal's HTTPS listener):
//
//   - GET ?operation=GetCACaps: POSTPKIOperation, SHA-256, AES and
//     SCEPStandard, one per line.
//   - GET ?operation=GetCACert: the RA certificate, the issuing
//     intermediate and the root, as a degenerate PKCS#7 (certificates only)
//     of type application/x-x509-ca-ra-cert. Devices encrypt to the
//     certificate with the keyEncipherment usage: the RA.
//   - POST ?operation=PKIOperation (or GET with the message in base64 in
//     ?message=): a PKCSReq PKIMessage. The handler checks its signature,
//     decrypts the envelope with the RA key, reads the CSR and its
//     challengePassword and hands both to Enroller.EnrolWithChallenge
//     (vouchers decides: the challenge, the stay, the cap, the key). The
//     answer is a CertRep signed by the RA: SUCCESS with the certificate,
//     encrypted to the device's signing certificate, or FAILURE with a
//     failInfo (badRequest, badMessageCheck, badAlg) and a short
//     failInfoText. The reason is logged, never the challenge.
//
// Keycard's CA is ECDSA, and SCEP's envelope needs RSA key transport, so
// the RA has its own RSA key (ca.Authority.RACertificate). The handler
// never answers PENDING, so devices never poll (CertPoll), and it does not
// renew (RenewalReq): a certificate lasts the stay, and the next stay
// brings a new profile. Parsing and signature checks use
// github.com/smallstep/scep and github.com/smallstep/pkcs7; the answer's
// envelope is built here so that its cipher is chosen per request (the
// same AES or 3DES the device used, AES-128-CBC otherwise) rather than
// through pkcs7's package-wide setting.
//
// The RA decrypts what anyone on the onboarding network sends it, so it
// must not be a padding oracle: a content key with bad RSA PKCS #1 v1.5
// padding decrypts to a random key (implicit rejection) and every failure
// to open the envelope gets the same answer (badMessageCheck). Parser
// panics in the libraries become that answer too.
//
// Every buffer is bounded by Options.MaxMessageBytes: a larger POST body or
// GET message is refused with 413 before it is parsed.
package scep
