package ca

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.step.sm/crypto/keyutil"
)

func TestPortalCertificate(t *testing.T) {
	a := sharedCA(t)
	ctx := context.Background()
	const life = 300 * 24 * time.Hour
	hosts := []string{"127.0.0.1", "wifi.grandharbour.example", "::1"}

	cert, err := a.PortalCertificate(ctx, hosts, life)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if err := keyutil.VerifyPair(leaf.PublicKey, cert.PrivateKey); err != nil {
		t.Errorf("private key does not match: %v", err)
	}
	roots, inters := a.Pools()
	// A browser checks an IP-address URL against the IP SANs, a name
	// against the DNS SANs.
	for _, host := range []string{"127.0.0.1", "::1", "wifi.grandharbour.example"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inters, CurrentTime: t0,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("portal certificate does not verify for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "10.0.0.1", Roots: roots, Intermediates: inters, CurrentTime: t0}); err == nil {
		t.Error("portal certificate verifies for an address it was not issued for")
	}
	if !slices.Equal(leaf.DNSNames, []string{"wifi.grandharbour.example"}) || len(leaf.IPAddresses) != 2 ||
		!leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || leaf.Subject.CommonName != "127.0.0.1" {
		t.Errorf("DNS %v, IP %v, CN %q", leaf.DNSNames, leaf.IPAddresses, leaf.Subject.CommonName)
	}
	if info, err := os.Stat(filepath.Join(a.Dir(), portalKeyFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("portal key: %v %v; want mode 0600", info, err)
	}

	serialAt := func(t *testing.T, at time.Time, hosts []string) *x509.Certificate {
		t.Helper()
		b, err := Open(ctx, a.Dir(), testPass, WithNow(fixedNow(at)))
		if err != nil {
			t.Fatal(err)
		}
		c, err := b.PortalCertificate(ctx, hosts, life)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf
	}
	t.Run("kept while young", func(t *testing.T) {
		if got := serialAt(t, t0.Add(150*24*time.Hour), hosts); got.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			t.Error("re-issued a certificate with two thirds of its life left")
		}
	})
	t.Run("renewed in the last third", func(t *testing.T) {
		if got := serialAt(t, t0.Add(201*24*time.Hour), hosts); got.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			t.Error("not re-issued in the last third of its life")
		}
	})
	t.Run("re-issued for other hosts", func(t *testing.T) {
		got := serialAt(t, t0, []string{"192.0.2.10"})
		if len(got.IPAddresses) != 1 || !got.IPAddresses[0].Equal(net.ParseIP("192.0.2.10")) || len(got.DNSNames) != 0 {
			t.Errorf("DNS %v, IP %v", got.DNSNames, got.IPAddresses)
		}
	})
	t.Run("bad hosts", func(t *testing.T) {
		for _, bad := range [][]string{nil, {""}, {"Wifi.Example"}, {"localhost"}, {"127.0.0.1", "127.0.0.1"}, {"../x.y"}} {
			if _, err := a.PortalCertificate(ctx, bad, life); err == nil {
				t.Errorf("accepted hosts %q", bad)
			}
		}
	})
}
