package ca

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.step.sm/crypto/keyutil"
)

func TestRACertificate(t *testing.T) {
	a := sharedCA(t)
	ctx := context.Background()
	const life = 365 * 24 * time.Hour

	cert, err := a.RACertificate(ctx, life)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if leaf == nil || len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[0], leaf.Raw) || !bytes.Equal(cert.Certificate[1], a.Intermediate().Raw) {
		t.Fatal("tls.Certificate is not [RA, intermediate] with Leaf set")
	}
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 2048 {
		t.Fatalf("RA key %T, want RSA 2048 (what SCEP clients encrypt to)", leaf.PublicKey)
	}
	// SCEP needs the key to decrypt requests as well as to sign answers.
	priv, ok := cert.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("RA private key is a %T, want *rsa.PrivateKey (a crypto.Decrypter)", cert.PrivateKey)
	}
	if err := keyutil.VerifyPair(leaf.PublicKey, priv); err != nil {
		t.Errorf("RA private key does not match: %v", err)
	}
	if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment; leaf.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want digitalSignature|keyEncipherment (%v)", leaf.KeyUsage, want)
	}
	if leaf.IsCA || len(leaf.ExtKeyUsage) != 0 || len(leaf.DNSNames) != 0 {
		t.Errorf("IsCA %v, EKU %v, DNS %v: an RA is neither a CA nor a TLS server", leaf.IsCA, leaf.ExtKeyUsage, leaf.DNSNames)
	}
	if leaf.Subject.CommonName != "Grand Harbour Hotel SCEP RA" || !slices.Equal(leaf.Subject.Organization, []string{"Grand Harbour Hotel"}) {
		t.Errorf("subject %v, want CN=Grand Harbour Hotel SCEP RA, O=Grand Harbour Hotel", leaf.Subject)
	}
	roots, inters := a.Pools()
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("RA does not chain to the root: %v", err)
	}
	if !leaf.NotAfter.Equal(t0.Add(life)) || !leaf.NotBefore.Equal(t0.Add(-backdate)) {
		t.Errorf("valid %v .. %v, want %v .. %v", leaf.NotBefore, leaf.NotAfter, t0.Add(-backdate), t0.Add(life))
	}

	// The key is kept encrypted at rest, readable by the service only.
	keyPath := filepath.Join(a.Dir(), raKeyFile)
	info, err := os.Stat(keyPath)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("RA key file: %v %v; want mode 0600", info, err)
	}
	data, _ := os.ReadFile(keyPath)
	if block, _ := pem.Decode(data); block == nil || block.Type != "ENCRYPTED PRIVATE KEY" {
		t.Error("RA key is not an encrypted PEM key")
	}
	if bytes.Contains(data, testPass) {
		t.Error("RA key file contains the passphrase")
	}

	serialAt := func(t *testing.T, at time.Time) *big.Int {
		t.Helper()
		b, err := Open(ctx, a.Dir(), testPass, WithNow(fixedNow(at)))
		if err != nil {
			t.Fatal(err)
		}
		c, err := b.RACertificate(ctx, life)
		if err != nil {
			t.Fatal(err)
		}
		if c.Leaf.CheckSignatureFrom(a.Intermediate()) != nil {
			t.Error("RA not issued by the intermediate")
		}
		return c.Leaf.SerialNumber
	}
	first := leaf.SerialNumber
	t.Run("kept while young", func(t *testing.T) {
		if got := serialAt(t, t0.Add(200*24*time.Hour)); got.Cmp(first) != 0 {
			t.Error("re-issued an RA certificate with more than a third of its life left")
		}
	})
	t.Run("apart from the server certificates", func(t *testing.T) {
		srv, err := a.ServerCertificate(ctx, "portal.grandharbour.example", life)
		if err != nil {
			t.Fatal(err)
		}
		if srv.Leaf.SerialNumber.Cmp(first) == 0 {
			t.Error("the portal's server certificate is the RA")
		}
		if got := serialAt(t, t0); got.Cmp(first) != 0 {
			t.Error("issuing a server certificate replaced the RA")
		}
	})
	t.Run("renewed in the last third", func(t *testing.T) {
		renewed := serialAt(t, t0.Add(250*24*time.Hour))
		if renewed.Cmp(first) == 0 {
			t.Fatal("not re-issued in the last third of its life")
		}
		if got := serialAt(t, t0.Add(251*24*time.Hour)); got.Cmp(renewed) != 0 {
			t.Error("the renewed RA certificate was not kept")
		}
	})
	t.Run("repaired when the key does not match", func(t *testing.T) {
		// A crash between the key and the certificate writes.
		other, err := keyutil.GenerateSigner("RSA", "", 2048)
		if err != nil {
			t.Fatal(err)
		}
		pemKey, err := encodeKey(other, testPass)
		if err != nil {
			t.Fatal(err)
		}
		before := serialAt(t, t0.Add(251*24*time.Hour))
		if err := os.WriteFile(keyPath, pemKey, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := Open(ctx, a.Dir(), testPass, WithNow(fixedNow(t0.Add(251*24*time.Hour))))
		if err != nil {
			t.Fatal(err)
		}
		c, err := b.RACertificate(ctx, life)
		if err != nil {
			t.Fatal(err)
		}
		if c.Leaf.SerialNumber.Cmp(before) == 0 {
			t.Error("kept a certificate whose key is gone")
		}
		if err := keyutil.VerifyPair(c.Leaf.PublicKey, c.PrivateKey); err != nil {
			t.Errorf("repaired RA: %v", err)
		}
	})
	t.Run("replaced when it is not an RSA RA", func(t *testing.T) {
		// Someone copied a server certificate (ECDSA, serverAuth) over it.
		src, _ := os.ReadFile(filepath.Join(a.Dir(), "portal.grandharbour.example.crt"))
		srcKey, _ := os.ReadFile(filepath.Join(a.Dir(), "portal.grandharbour.example.key"))
		if err := os.WriteFile(filepath.Join(a.Dir(), raCertFile), src, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyPath, srcKey, 0o600); err != nil {
			t.Fatal(err)
		}
		// A moment the RA in place would otherwise be kept.
		b, err := Open(ctx, a.Dir(), testPass, WithNow(fixedNow(t0.Add(251*24*time.Hour))))
		if err != nil {
			t.Fatal(err)
		}
		c, err := b.RACertificate(ctx, life)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Leaf.PublicKey.(*rsa.PublicKey); !ok || c.Leaf.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
			t.Errorf("RA is a %T with key usage %v", c.Leaf.PublicKey, c.Leaf.KeyUsage)
		}
	})
	t.Run("capped at the intermediate's end", func(t *testing.T) {
		b, err := Open(ctx, a.Dir(), testPass, WithNow(fixedNow(a.Intermediate().NotAfter.Add(-24*time.Hour))))
		if err != nil {
			t.Fatal(err)
		}
		c, err := b.RACertificate(ctx, life)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Leaf.NotAfter.Equal(a.Intermediate().NotAfter) {
			t.Errorf("NotAfter %v, want the intermediate's %v", c.Leaf.NotAfter, a.Intermediate().NotAfter)
		}
	})
	t.Run("bad lifetime", func(t *testing.T) {
		for _, d := range []time.Duration{0, -time.Hour} {
			if _, err := a.RACertificate(ctx, d); err == nil {
				t.Errorf("accepted lifetime %s", d)
			}
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := a.RACertificate(cctx, life); err == nil {
			t.Error("ran with a cancelled context")
		}
	})
}
