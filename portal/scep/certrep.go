package scep

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"fmt"

	"github.com/smallstep/pkcs7"
	smallscep "github.com/smallstep/scep"
)

// SCEP's signed attributes (RFC 8894 section 3.2.1).
var (
	oidMessageType    = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 2}
	oidPKIStatus      = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 3}
	oidFailInfo       = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 4}
	oidSenderNonce    = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 5}
	oidRecipientNonce = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 6}
	oidTransactionID  = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 7}
	oidFailInfoText   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 24, 1}
)

// reason is why a request was refused: logged with every refusal and
// mapped to the failInfo and failInfoText the device gets.
type reason string

const (
	reasonTooLarge           reason = "message too large"
	reasonNotPKIMessage      reason = "not a PKIMessage"
	reasonUnsupportedMessage reason = "unsupported message type"
	reasonNoSigner           reason = "no signer certificate"
	reasonSignerNotRSA       reason = "signer key not RSA"
	reasonUndecryptable      reason = "envelope does not decrypt"
	reasonUnreadableCSR      reason = "CSR does not parse"
	reasonInvalidCSR         reason = "CSR refused"
	reasonNoChallenge        reason = "no challenge"
	reasonUnknownChallenge   reason = "unknown challenge"
	reasonChallengeUsed      reason = "challenge used"
	reasonChallengeExpired   reason = "challenge expired"
	reasonStayEnded          reason = "stay ended"
	reasonDeviceCap          reason = "device cap"
	reasonInternal           reason = "internal error"
)

// failInfo is the SCEP failInfo for the reason: badAlg when the answer
// cannot be encrypted to the device's key, badMessageCheck when the
// request cannot be read (a content key that does not decrypt and a
// decrypted CSR that does not parse look the same: a wrong key gives
// noise), badRequest for everything the Enroller refuses.
func (r reason) failInfo() smallscep.FailInfo {
	switch r {
	case reasonSignerNotRSA:
		return smallscep.BadAlg
	case reasonUndecryptable, reasonUnreadableCSR, reasonNoSigner:
		return smallscep.BadMessageCheck
	default:
		return smallscep.BadRequest
	}
}

// text is the failInfoText: what a device may show the guest. It says the
// same for an unknown, a used and an expired challenge.
func (r reason) text() string {
	switch r {
	case reasonUnknownChallenge, reasonChallengeUsed, reasonChallengeExpired:
		return "This Wi-Fi profile has expired or was already installed. Open the hotel's Wi-Fi page again for a new one."
	case reasonStayEnded:
		return "Your stay has ended."
	case reasonDeviceCap:
		return "Your stay has all the devices it may have. Remove one on the hotel's Wi-Fi page first."
	case reasonInternal:
		return "Keycard could not issue the certificate. Please ask the front desk."
	default:
		return "The certificate request was not accepted."
	}
}

// success is the CertRep carrying cert: a degenerate PKCS#7 holding it,
// encrypted to the device's signing certificate with c, in a SignedData
// signed by the RA with SHA-256.
func (h *handler) success(t *transaction, cert *x509.Certificate, c contentCipher) ([]byte, error) {
	certs, err := smallscep.DegenerateCertificates([]*x509.Certificate{cert})
	if err != nil {
		return nil, fmt.Errorf("scep: %w", err)
	}
	env, err := envelope(rand.Reader, certs, t.signer, c)
	if err != nil {
		return nil, err
	}
	sd, err := pkcs7.NewSignedData(env)
	if err != nil {
		return nil, fmt.Errorf("scep: %w", err)
	}
	// Some clients take the first certificate of the SignedData as theirs.
	sd.AddCertificate(cert)
	return h.sign(sd, t, smallscep.SUCCESS)
}

// failure is a FAILURE CertRep with the reason's failInfo and text.
func (h *handler) failure(t *transaction, why reason) ([]byte, error) {
	sd, err := pkcs7.NewSignedData(nil)
	if err != nil {
		return nil, fmt.Errorf("scep: %w", err)
	}
	return h.sign(sd, t, smallscep.FAILURE,
		pkcs7.Attribute{Type: oidFailInfo, Value: string(why.failInfo())},
		pkcs7.Attribute{Type: oidFailInfoText, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(why.text())}})
}

// sign signs sd as the RA with the CertRep attributes: the request's
// transaction ID, its nonce as recipientNonce, a fresh senderNonce.
func (h *handler) sign(sd *pkcs7.SignedData, t *transaction, status smallscep.PKIStatus, extra ...pkcs7.Attribute) ([]byte, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("scep: nonce: %w", err)
	}
	attrs := append([]pkcs7.Attribute{
		{Type: oidTransactionID, Value: string(t.req.TransactionID)},
		{Type: oidMessageType, Value: string(smallscep.CertRep)},
		{Type: oidPKIStatus, Value: string(status)},
		{Type: oidSenderNonce, Value: nonce},
		{Type: oidRecipientNonce, Value: []byte(t.req.SenderNonce)},
	}, extra...)
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(h.ra, h.key, pkcs7.SignerInfoConfig{ExtraSignedAttributes: attrs}); err != nil {
		return nil, fmt.Errorf("scep: signing the CertRep: %w", err)
	}
	out, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("scep: %w", err)
	}
	return out, nil
}
