package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/smallstep/certificates/cas/apiv1"
	"go.step.sm/crypto/x509util"
)

// DeviceRequest asks for a guest device's client certificate.
type DeviceRequest struct {
	// PublicKey is the device's key (from the device, or from a CSR whose
	// signature the caller checked). ECDSA P-256/P-384, RSA of 2048 bits or
	// more, or Ed25519.
	PublicKey crypto.PublicKey
	// CommonName is the device identity, e.g. "d-<deviceID>".
	CommonName string
	// URIs go into the subject alternative names, e.g.
	// urn:keycard:device:<deviceID>.
	URIs []*url.URL
	// NotAfter is the end of the stay (check-out). The certificate ends at
	// exactly this second.
	NotAfter time.Time
}

// IssueDevice signs a client certificate for a guest's device: EKU
// clientAuth only, key usage digitalSignature, a random serial, valid from
// five minutes ago until req.NotAfter (to the second, X.509's precision).
// It refuses a NotAfter that is not in the future or that is after the
// intermediate expires — the certificate would not verify past that point.
func (a *Authority) IssueDevice(ctx context.Context, req DeviceRequest) (*x509.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkPublicKey(req.PublicKey); err != nil {
		return nil, err
	}
	switch {
	case req.CommonName == "":
		return nil, errors.New("ca: device certificate needs a common name")
	case len(req.CommonName) > 64:
		return nil, fmt.Errorf("ca: common name %q is longer than 64 characters", req.CommonName)
	}
	for _, u := range req.URIs {
		if u == nil || u.Scheme == "" {
			return nil, fmt.Errorf("ca: device URI %v is not an absolute URI", u)
		}
	}
	now := a.now()
	notBefore := now.Add(-backdate)
	notAfter := req.NotAfter.Truncate(time.Second)
	switch {
	case !notAfter.After(now):
		return nil, fmt.Errorf("ca: device certificate would end at %s, which is not after now (%s)", notAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case notAfter.After(a.intermediate.NotAfter):
		return nil, fmt.Errorf("ca: device certificate would end at %s, after the issuing CA expires (%s); end the stay earlier or renew the CA", notAfter.UTC().Format(time.RFC3339), a.intermediate.NotAfter.UTC().Format(time.RFC3339))
	}
	sn, err := serial(a.rand)
	if err != nil {
		return nil, err
	}
	tmpl := (&x509util.Certificate{
		Subject: x509util.Subject{
			CommonName:   req.CommonName,
			Organization: a.intermediate.Subject.Organization,
		},
		SerialNumber:     x509util.SerialNumber{Int: sn},
		URIs:             x509util.MultiURL(req.URIs),
		NotBefore:        notBefore,
		NotAfter:         notAfter,
		KeyUsage:         x509util.KeyUsage(x509.KeyUsageDigitalSignature),
		ExtKeyUsage:      x509util.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraints: &x509util.BasicConstraints{IsCA: false, MaxPathLen: -1},
		PublicKey:        req.PublicKey,
	}).GetCertificate()
	resp, err := a.cas.CreateCertificate(&apiv1.CreateCertificateRequest{
		Template: tmpl,
		Lifetime: notAfter.Sub(notBefore),
	})
	if err != nil {
		return nil, fmt.Errorf("ca: signing device certificate for %s: %w", req.CommonName, err)
	}
	return resp.Certificate, nil
}

// checkPublicKey accepts the key types guests' devices make and rejects weak
// ones.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case nil:
		return errors.New("ca: device certificate needs a public key")
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() && k.Curve != elliptic.P521() {
			return fmt.Errorf("ca: ECDSA curve %s is not supported; use P-256 or P-384", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("ca: RSA key of %d bits is too weak; use 2048 bits or more", k.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("ca: unsupported public key type %T", pub)
	}
	return nil
}
