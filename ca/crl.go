package ca

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Revoked is one revoked certificate in a CRL.
type Revoked struct {
	Serial    *big.Int
	RevokedAt time.Time
	Reason    int // RFC 5280 CRLReason: 0 unspecified, 1 keyCompromise, 4 superseded, 5 cessationOfOperation, ...
}

// CRL returns a DER certificate revocation list signed by the intermediate,
// listing revoked, valid from thisUpdate until nextUpdate. Each call uses the
// next CRL number, kept in <dir>/crlnumber, so relying parties can tell a
// newer list from an older one.
func (a *Authority) CRL(revoked []Revoked, thisUpdate, nextUpdate time.Time) ([]byte, error) {
	if !nextUpdate.After(thisUpdate) {
		return nil, fmt.Errorf("ca: CRL next update %s is not after this update %s", nextUpdate.UTC().Format(time.RFC3339), thisUpdate.UTC().Format(time.RFC3339))
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, r := range revoked {
		if r.Serial == nil || r.Serial.Sign() <= 0 {
			return nil, fmt.Errorf("ca: revoked serial %v is not a positive number", r.Serial)
		}
		if r.Reason < 0 || r.Reason > 10 || r.Reason == 7 {
			return nil, fmt.Errorf("ca: revocation reason %d of serial %x is not an RFC 5280 CRLReason", r.Reason, r.Serial)
		}
		entries = append(entries, x509.RevocationListEntry{
			SerialNumber:   r.Serial,
			RevocationTime: r.RevokedAt,
			ReasonCode:     r.Reason,
		})
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	number, err := a.nextCRLNumber()
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateRevocationList(a.rand, &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                thisUpdate,
		NextUpdate:                nextUpdate,
		RevokedCertificateEntries: entries,
	}, a.intermediate, a.signer)
	if err != nil {
		return nil, fmt.Errorf("ca: signing the CRL: %w", err)
	}
	return der, nil
}

// nextCRLNumber reads, increments and stores the CRL number. The number is
// stored before it is used, so a crash can skip a number but never reuse one.
func (a *Authority) nextCRLNumber() (*big.Int, error) {
	path := filepath.Join(a.dir, crlNumberFile)
	n := new(big.Int)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("ca: %w", err)
	default:
		if _, ok := n.SetString(strings.TrimSpace(string(data)), 10); !ok || n.Sign() < 0 {
			return nil, fmt.Errorf("ca: %s does not hold a CRL number; it should hold one decimal number", path)
		}
	}
	n.Add(n, big.NewInt(1))
	if err := writeReplace(path, []byte(n.String()+"\n"), 0o600); err != nil {
		return nil, err
	}
	return n, nil
}
