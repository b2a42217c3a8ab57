package vouchers_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"keycard/internal/store"
	"keycard/vouchers"
)

// selfSigner stands in for package ca in this example.
type selfSigner struct {
	key  *ecdsa.PrivateKey
	root *x509.Certificate
}

func (s selfSigner) IssueDeviceCertificate(_ context.Context, req vouchers.CertificateRequest) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(0x5eed),
		Subject:      pkix.Name{CommonName: req.CommonName},
		URIs:         req.URIs,
		NotBefore:    req.NotAfter.Add(-72 * time.Hour),
		NotAfter:     req.NotAfter,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, s.root, req.PublicKey, s.key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func Example() {
	ctx := context.Background()
	db, _ := store.Open(ctx, ":memory:")
	defer db.Close()
	if err := vouchers.Migrate(ctx, db); err != nil {
		panic(err)
	}
	// A throwaway CA; Keycard wires package ca here.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example Hotel CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
	root, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(root)

	hotel, err := vouchers.New(db, vouchers.Options{
		Policies: map[string]vouchers.Policy{"standard": {VLAN: 100}},
		Issuer:   selfSigner{key: caKey, root: root},
		Roots:    roots,
	})
	if err != nil {
		panic(err)
	}

	// The front desk checks a guest in for two nights.
	now := time.Now()
	stay, code, err := hotel.CreateStay(ctx, vouchers.Actor{Name: "staff:alice", Source: "front-desk"}, vouchers.NewStay{
		Room: "101", GuestName: "Ada Lovelace", CheckOut: now.Add(48 * time.Hour), MaxDevices: 2, Policy: "standard",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("voucher code has", len(code), "characters")

	// The guest's phone makes its own key and redeems the code.
	phone, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	device, cert, err := hotel.Redeem(ctx, vouchers.Actor{Name: "guest", Source: "10.0.0.5"}, code,
		vouchers.Enrolment{PublicKey: phone.Public(), Platform: "ios"})
	if err != nil {
		panic(err)
	}
	fmt.Println(device.Identity, cert.URIs[0], device.StayID == stay.ID)

	// The access point asks whether the phone may join.
	dec, err := hotel.Authorize(ctx, cert, now)
	if err != nil {
		panic(err)
	}
	fmt.Println(dec.Allowed, dec.Reason, dec.Policy.VLAN, dec.SecondsLeft() > 47*3600)
	// Output:
	// voucher code has 14 characters
	// device-1 urn:keycard:device:1 true
	// true ok 100 true
}
