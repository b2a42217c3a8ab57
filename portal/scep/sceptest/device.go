// Package sceptest is a SCEP client (RFC 8894) that plays a guest's device
// in tests: it makes its own RSA key, asks the server for its capabilities
// and certificates, sends a PKCSReq whose CSR carries the enrolment
// challenge, and reads the CertRep. It does what Apple's SCEP payload does,
// on github.com/smallstep/scep's client helpers (NewCSRRequest,
// ParsePKIMessage, DecryptPKIEnvelope), so the server is checked against an
// implementation other than its own.
//
// smallstep/pkcs7 picks the request's cipher from a package variable;
// Device sets it for the duration of each request under a lock, so Devices
// may run concurrently, but not beside other code that encrypts with pkcs7
// and relies on that variable.
package sceptest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/smallstep/pkcs7"
	"github.com/smallstep/scep"
	"github.com/smallstep/scep/x509util"
)

// Device is a guest's device enrolling through SCEP.
type Device struct {
	// Key is the device's own key; NewDevice makes RSA 2048, as Apple's
	// SCEP payload does.
	Key crypto.Signer
	// Cert is a self-signed certificate for Key: it signs the request and
	// the server encrypts its answer to it.
	Cert *x509.Certificate
	// Cipher encrypts requests: one of pkcs7.EncryptionAlgorithm*. The
	// default, AES-128-CBC, is what the "AES" capability promises.
	Cipher int
	// GET sends PKIOperation as a GET with the message in the query, as
	// servers without POSTPKIOperation need, with '+' and '/' left
	// unescaped as macOS sends them.
	GET bool
	// HTTP is the client; nil is http.DefaultClient.
	HTTP *http.Client
}

// NewDevice makes a device with a fresh RSA 2048 key.
func NewDevice() (*Device, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return NewDeviceWithKey(key)
}

// NewDeviceWithKey makes a device with key (RSA or ECDSA) and a
// self-signed certificate for it.
func NewDeviceWithKey(key crypto.Signer) (*Device, error) {
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: "SCEP test device"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Device{Key: key, Cert: cert, Cipher: pkcs7.EncryptionAlgorithmAES128CBC}, nil
}

// HTTPError is a SCEP answer that is not 200 OK.
type HTTPError struct {
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("sceptest: HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// Failure is a FAILURE CertRep.
type Failure struct {
	Info scep.FailInfo
	Text string // failInfoText, when the server sent one
}

func (f *Failure) Error() string {
	return fmt.Sprintf("sceptest: enrolment refused: %s: %s", f.Info, f.Text)
}

func (d *Device) client() *http.Client {
	if d.HTTP != nil {
		return d.HTTP
	}
	return http.DefaultClient
}

func (d *Device) do(req *http.Request) ([]byte, string, error) {
	resp, err := d.client().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", &HTTPError{Status: resp.StatusCode, Body: string(body)}
	}
	return body, resp.Header.Get("Content-Type"), nil
}

func (d *Device) get(ctx context.Context, server, operation string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"?operation="+operation, nil)
	if err != nil {
		return nil, "", err
	}
	return d.do(req)
}

// GetCACaps returns the server's capabilities, one per line of its answer.
func (d *Device) GetCACaps(ctx context.Context, server string) ([]string, error) {
	body, _, err := d.get(ctx, server, "GetCACaps")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(body)), nil
}

// GetCACert returns the certificates of the server's GetCACert answer, in
// order, and its content type.
func (d *Device) GetCACert(ctx context.Context, server string) ([]*x509.Certificate, string, error) {
	body, ctype, err := d.get(ctx, server, "GetCACert")
	if err != nil {
		return nil, "", err
	}
	if ctype == "application/x-x509-ca-cert" {
		c, err := x509.ParseCertificate(body)
		return []*x509.Certificate{c}, ctype, err
	}
	certs, err := scep.CACerts(body)
	return certs, ctype, err
}

// CSR is the device's certificate request carrying challenge as its
// challengePassword ("" for none).
func (d *Device) CSR(challenge string) (*x509.CertificateRequest, error) {
	der, err := x509util.CreateCertificateRequest(rand.Reader, &x509util.CertificateRequest{
		CertificateRequest: x509.CertificateRequest{Subject: pkix.Name{CommonName: "Guest iPhone"}},
		ChallengePassword:  challenge,
	}, d.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificateRequest(der)
}

// cipherMu serialises the use of pkcs7.ContentEncryptionAlgorithm.
var cipherMu sync.Mutex

// Message wraps csr in a PKIMessage of the given type (scep.PKCSReq for an
// enrolment), encrypted to the certificates among to that allow key
// encipherment (the RA) and signed with the device's key.
func (d *Device) Message(typ scep.MessageType, csr *x509.CertificateRequest, to []*x509.Certificate) (*scep.PKIMessage, error) {
	cipherMu.Lock()
	defer cipherMu.Unlock()
	defer func(old int) { pkcs7.ContentEncryptionAlgorithm = old }(pkcs7.ContentEncryptionAlgorithm)
	pkcs7.ContentEncryptionAlgorithm = d.Cipher
	return scep.NewCSRRequest(csr, &scep.PKIMessage{
		MessageType: typ,
		Recipients:  to,
		SignerKey:   d.Key,
		SignerCert:  d.Cert,
	}, scep.WithCertsSelector(scep.EnciphermentCertsSelector()))
}

// PKIOperation sends a PKIMessage and returns the server's answer.
func (d *Device) PKIOperation(ctx context.Context, server string, msg []byte) ([]byte, error) {
	var req *http.Request
	var err error
	if d.GET {
		// Like macOS: the padding escaped, '+' and '/' as they are.
		m := strings.ReplaceAll(base64.StdEncoding.EncodeToString(msg), "=", "%3D")
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, server+"?operation=PKIOperation&message="+m, nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, server+"?operation=PKIOperation", bytes.NewReader(msg))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-pki-message")
		}
	}
	if err != nil {
		return nil, err
	}
	body, ctype, err := d.do(req)
	if err != nil {
		return nil, err
	}
	if ctype != "application/x-pki-message" {
		return nil, fmt.Errorf("sceptest: PKIOperation answered %q, want application/x-pki-message", ctype)
	}
	return body, nil
}

// CertRep is the server's answer to a request, checked: signed by the RA,
// for the request's transaction, with its nonce.
type CertRep struct {
	Status      scep.PKIStatus
	Failure     *Failure          // for FAILURE
	Certificate *x509.Certificate // for SUCCESS, decrypted
	// Envelope is the encrypted pkcsPKIEnvelope (a CMS EnvelopedData)
	// of a SUCCESS, as sent.
	Envelope []byte
}

var oidFailInfoText = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 24, 1}

// ReadCertRep checks and opens the answer to req, which must be signed by
// ra.
func (d *Device) ReadCertRep(raw []byte, req *scep.PKIMessage, ra *x509.Certificate) (*CertRep, error) {
	msg, err := scep.ParsePKIMessage(raw, scep.WithCACerts([]*x509.Certificate{ra}))
	if err != nil {
		return nil, fmt.Errorf("sceptest: CertRep not signed by the RA: %w", err)
	}
	switch {
	case msg.MessageType != scep.CertRep:
		return nil, fmt.Errorf("sceptest: answer is a %s, want a CertRep", msg.MessageType)
	case msg.TransactionID != req.TransactionID:
		return nil, fmt.Errorf("sceptest: answer for transaction %q, want %q", msg.TransactionID, req.TransactionID)
	case !bytes.Equal(msg.RecipientNonce, req.SenderNonce):
		return nil, errors.New("sceptest: answer's recipientNonce is not the request's senderNonce")
	}
	rep := &CertRep{Status: msg.PKIStatus}
	switch msg.PKIStatus {
	case scep.FAILURE:
		rep.Failure = &Failure{Info: msg.FailInfo}
		if p7, err := pkcs7.Parse(raw); err == nil {
			_ = p7.UnmarshalSignedAttribute(oidFailInfoText, &rep.Failure.Text)
		}
		return rep, nil
	case scep.SUCCESS:
		p7, err := pkcs7.Parse(raw)
		if err != nil {
			return nil, err
		}
		rep.Envelope = p7.Content
		if err := msg.DecryptPKIEnvelope(d.Cert, d.Key); err != nil {
			return nil, fmt.Errorf("sceptest: decrypting the certificate: %w", err)
		}
		rep.Certificate = msg.CertRepMessage.Certificate
		return rep, nil
	default:
		return nil, fmt.Errorf("sceptest: pkiStatus %s", msg.PKIStatus)
	}
}

// Enrol does what a device does on installing a profile with a SCEP
// payload: GetCACaps, GetCACert, a PKCSReq with challenge encrypted to the
// RA, and returns the certificate; a refusal is a *Failure, an HTTP error
// an *HTTPError.
func (d *Device) Enrol(ctx context.Context, server, challenge string) (*x509.Certificate, error) {
	caps, err := d.GetCACaps(ctx, server)
	if err != nil {
		return nil, err
	}
	hasPOST := false
	for _, c := range caps {
		hasPOST = hasPOST || c == "POSTPKIOperation" || c == "SCEPStandard"
	}
	certs, _, err := d.GetCACert(ctx, server)
	if err != nil {
		return nil, err
	}
	ras := scep.EnciphermentCertsSelector().SelectCerts(certs)
	if len(ras) != 1 {
		return nil, fmt.Errorf("sceptest: GetCACert has %d certificates for key encipherment, want 1 (the RA)", len(ras))
	}
	csr, err := d.CSR(challenge)
	if err != nil {
		return nil, err
	}
	req, err := d.Message(scep.PKCSReq, csr, certs)
	if err != nil {
		return nil, err
	}
	dev := *d
	dev.GET = d.GET || !hasPOST
	raw, err := dev.PKIOperation(ctx, server, req.Raw)
	if err != nil {
		return nil, err
	}
	rep, err := d.ReadCertRep(raw, req, ras[0])
	if err != nil {
		return nil, err
	}
	if rep.Failure != nil {
		return nil, rep.Failure
	}
	return rep.Certificate, nil
}
