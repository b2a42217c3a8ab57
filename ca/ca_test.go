package ca

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.step.sm/crypto/keyutil"
	"software.sslmate.com/src/go-pkcs12"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

var testPass = []byte("correct horse battery staple")

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

// Creating a CA costs two PBKDF2 key derivations, so the tests that only
// read share one.
var shared struct {
	once sync.Once
	dir  string
	a    *Authority
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func sharedCA(t *testing.T) *Authority {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "keycard-ca-test-")
		if shared.err != nil {
			return
		}
		shared.a, shared.err = Init(context.Background(), filepath.Join(shared.dir, "ca"), testPass, InitOptions{
			Organization: "Grand Harbour Hotel",
			Now:          fixedNow(t0),
		})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.a
}

func newDeviceKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// snapshot hashes every file in dir, to prove a failed call changed nothing.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][32]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = sha256.Sum256(data)
	}
	return m
}

func sameFiles(t *testing.T, before, after map[string][32]byte) {
	t.Helper()
	if len(before) != len(after) {
		t.Errorf("files changed: %d before, %d after", len(before), len(after))
	}
	for name, h := range before {
		if after[name] != h {
			t.Errorf("%s changed", name)
		}
	}
}

func TestInitCreatesRootAndIntermediate(t *testing.T) {
	a := sharedCA(t)
	root, inter := a.Root(), a.Intermediate()

	if !root.IsCA || root.CheckSignatureFrom(root) != nil {
		t.Error("root is not a self-signed CA")
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		t.Errorf("intermediate not signed by root: %v", err)
	}
	if !inter.IsCA || inter.MaxPathLen != 0 || !inter.MaxPathLenZero {
		t.Errorf("intermediate IsCA=%v MaxPathLen=%d zero=%v; want a CA with path length 0", inter.IsCA, inter.MaxPathLen, inter.MaxPathLenZero)
	}
	for _, c := range []*x509.Certificate{root, inter} {
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Errorf("%s: key %T, want ECDSA P-256", c.Subject.CommonName, c.PublicKey)
		}
		if c.KeyUsage&x509.KeyUsageCertSign == 0 || c.KeyUsage&x509.KeyUsageCRLSign == 0 {
			t.Errorf("%s: key usage %v lacks certSign or cRLSign", c.Subject.CommonName, c.KeyUsage)
		}
		if !slices.Equal(c.Subject.Organization, []string{"Grand Harbour Hotel"}) {
			t.Errorf("%s: organization %v", c.Subject.CommonName, c.Subject.Organization)
		}
	}
	if want := t0.Add(DefaultRootLifetime); !root.NotAfter.Equal(want) {
		t.Errorf("root NotAfter %v, want %v", root.NotAfter, want)
	}
	if want := t0.Add(DefaultIntermediateLifetime); !inter.NotAfter.Equal(want) {
		t.Errorf("intermediate NotAfter %v, want %v", inter.NotAfter, want)
	}
	if chain := a.Chain(); len(chain) != 2 || chain[0] != inter || chain[1] != root {
		t.Errorf("Chain() = %v, want [intermediate root]", chain)
	}

	info, err := os.Stat(a.Dir())
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("CA dir mode %v, %v; want 0700", info.Mode().Perm(), err)
	}
	for _, name := range []string{rootKeyFile, intermediateKeyFile} {
		path := filepath.Join(a.Dir(), name)
		info, err := os.Stat(path)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, %v; want 0600", name, info.Mode().Perm(), err)
		}
		data, _ := os.ReadFile(path)
		if block, _ := pem.Decode(data); block == nil || block.Type != "ENCRYPTED PRIVATE KEY" {
			t.Errorf("%s is not an encrypted PEM key", name)
		}
		if bytes.Contains(data, testPass) {
			t.Errorf("%s contains the passphrase", name)
		}
	}
}

func TestOpen(t *testing.T) {
	a := sharedCA(t)
	dir := a.Dir()

	t.Run("right passphrase", func(t *testing.T) {
		b, err := Open(context.Background(), dir, testPass, WithNow(fixedNow(t0)))
		if err != nil {
			t.Fatal(err)
		}
		if !b.Root().Equal(a.Root()) || !b.Intermediate().Equal(a.Intermediate()) {
			t.Error("Open loaded other certificates than Init made")
		}
		// The opened CA signs: its device certificates verify.
		cert, err := b.IssueDevice(context.Background(), DeviceRequest{PublicKey: newDeviceKey(t).Public(), CommonName: "d-1", NotAfter: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := cert.CheckSignatureFrom(a.Intermediate()); err != nil {
			t.Error(err)
		}
	})

	t.Run("wrong passphrase", func(t *testing.T) {
		before := snapshot(t, dir)
		_, err := Open(context.Background(), dir, []byte("Tr0ub4dor&3"))
		if !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("err = %v, want ErrWrongPassphrase", err)
		}
		sameFiles(t, before, snapshot(t, dir))
	})

	t.Run("empty passphrase", func(t *testing.T) {
		if _, err := Open(context.Background(), dir, nil); !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("err = %v, want ErrWrongPassphrase", err)
		}
	})

	t.Run("no CA", func(t *testing.T) {
		_, err := Open(context.Background(), t.TempDir(), testPass)
		if !errors.Is(err, ErrNotInitialised) {
			t.Fatalf("err = %v, want ErrNotInitialised", err)
		}
	})

	t.Run("missing folder", func(t *testing.T) {
		_, err := Open(context.Background(), filepath.Join(t.TempDir(), "nope"), testPass)
		if !errors.Is(err, ErrNotInitialised) {
			t.Fatalf("err = %v, want ErrNotInitialised", err)
		}
	})

	t.Run("incomplete CA", func(t *testing.T) {
		half := t.TempDir()
		data, _ := os.ReadFile(filepath.Join(dir, rootCertFile))
		os.WriteFile(filepath.Join(half, rootCertFile), data, 0o644)
		_, err := Open(context.Background(), half, testPass)
		if err == nil || errors.Is(err, ErrNotInitialised) {
			t.Fatalf("err = %v, want an incomplete-CA error", err)
		}
	})
}

func TestInitTwiceIsRefused(t *testing.T) {
	a := sharedCA(t)
	before := snapshot(t, a.Dir())
	_, err := Init(context.Background(), a.Dir(), []byte("another passphrase"), InitOptions{})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	sameFiles(t, before, snapshot(t, a.Dir()))
}

// failAfter is a context whose Err turns non-nil after n calls.
type failAfter struct {
	context.Context
	n int
}

func (c *failAfter) Err() error {
	if c.n <= 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

func TestInitLeavesNoHalfCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	// Init checks the context once on entry and once before each file:
	// fail after two of the four files are written.
	ctx := &failAfter{Context: context.Background(), n: 3}
	if _, err := Init(ctx, dir, testPass, InitOptions{Now: fixedNow(t0)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("Init left files behind: %v", names)
	}
	if _, err := Open(context.Background(), dir, testPass); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("Open after a failed Init: %v, want ErrNotInitialised", err)
	}
}

func TestInitOptionsChecked(t *testing.T) {
	tests := []struct {
		name string
		pass []byte
		opts InitOptions
	}{
		{"empty passphrase", nil, InitOptions{}},
		{"intermediate outlives root", testPass, InitOptions{RootLifetime: time.Hour, IntermediateLifetime: 2 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ca")
			if _, err := Init(context.Background(), dir, tt.pass, tt.opts); err == nil {
				t.Fatal("Init accepted it")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("Init left %d files", len(entries))
			}
		})
	}
}

func TestIssueDevice(t *testing.T) {
	a := sharedCA(t)
	key := newDeviceKey(t)
	checkout := time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)
	uri, _ := url.Parse("urn:keycard:device:42")
	cert, err := a.IssueDevice(context.Background(), DeviceRequest{
		PublicKey:  key.Public(),
		CommonName: "d-42",
		URIs:       []*url.URL{uri},
		NotAfter:   checkout,
	})
	if err != nil {
		t.Fatal(err)
	}

	roots, inters := a.Pools()
	verify := func(at time.Time, usage x509.ExtKeyUsage) error {
		_, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}
	if err := verify(t0, x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("device certificate does not chain to the root for clientAuth: %v", err)
	}
	if err := verify(t0, x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("device certificate verifies for serverAuth")
	}
	if err := verify(checkout.Add(time.Second), x509.ExtKeyUsageClientAuth); err == nil {
		t.Error("device certificate verifies after check-out")
	}

	checks := []struct {
		name      string
		got, want any
	}{
		{"NotAfter", cert.NotAfter, checkout},
		{"NotBefore", cert.NotBefore, t0.Add(-5 * time.Minute)},
		{"ExtKeyUsage", cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{"KeyUsage", cert.KeyUsage, x509.KeyUsageDigitalSignature},
		{"IsCA", cert.IsCA, false},
		{"CommonName", cert.Subject.CommonName, "d-42"},
		{"URIs", len(cert.URIs) == 1 && cert.URIs[0].String() == "urn:keycard:device:42", true},
		{"key", keyutil.Equal(cert.PublicKey, key.Public()), true},
		{"serial positive", cert.SerialNumber.Sign(), 1},
		{"serial random", cert.SerialNumber.BitLen() > 64, true},
	}
	for _, c := range checks {
		if !equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	other, err := a.IssueDevice(context.Background(), DeviceRequest{PublicKey: key.Public(), CommonName: "d-42", NotAfter: checkout})
	if err != nil {
		t.Fatal(err)
	}
	if other.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case time.Time:
		return x.Equal(b.(time.Time))
	case []x509.ExtKeyUsage:
		return slices.Equal(x, b.([]x509.ExtKeyUsage))
	}
	return a == b
}

func TestIssueDeviceRefuses(t *testing.T) {
	a := sharedCA(t)
	good := newDeviceKey(t).Public()
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	tests := []struct {
		name string
		req  DeviceRequest
	}{
		{"after the intermediate expires", DeviceRequest{PublicKey: good, CommonName: "d-1", NotAfter: a.Intermediate().NotAfter.Add(time.Hour)}},
		{"ends now", DeviceRequest{PublicKey: good, CommonName: "d-1", NotAfter: t0}},
		{"ended", DeviceRequest{PublicKey: good, CommonName: "d-1", NotAfter: t0.Add(-time.Hour)}},
		{"no end", DeviceRequest{PublicKey: good, CommonName: "d-1"}},
		{"no key", DeviceRequest{CommonName: "d-1", NotAfter: t0.Add(time.Hour)}},
		{"weak curve", DeviceRequest{PublicKey: p224.Public(), CommonName: "d-1", NotAfter: t0.Add(time.Hour)}},
		{"no name", DeviceRequest{PublicKey: good, NotAfter: t0.Add(time.Hour)}},
		{"relative URI", DeviceRequest{PublicKey: good, CommonName: "d-1", URIs: []*url.URL{{Path: "x"}}, NotAfter: t0.Add(time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if cert, err := a.IssueDevice(context.Background(), tt.req); err == nil {
				t.Fatalf("issued a certificate until %v", cert.NotAfter)
			}
		})
	}
	// The last second the intermediate is valid is still fine.
	if _, err := a.IssueDevice(context.Background(), DeviceRequest{PublicKey: good, CommonName: "d-1", NotAfter: a.Intermediate().NotAfter}); err != nil {
		t.Errorf("NotAfter equal to the intermediate's: %v", err)
	}
}

func TestServerCertificate(t *testing.T) {
	a := sharedCA(t)
	ctx := context.Background()
	const name = "radius.grandharbour.example"
	const life = 300 * 24 * time.Hour

	cert, err := a.ServerCertificate(ctx, name, life)
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if leaf == nil || len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[0], leaf.Raw) || !bytes.Equal(cert.Certificate[1], a.Intermediate().Raw) {
		t.Fatal("tls.Certificate is not [leaf, intermediate] with Leaf set")
	}
	if err := keyutil.VerifyPair(leaf.PublicKey, cert.PrivateKey); err != nil {
		t.Errorf("private key does not match: %v", err)
	}
	roots, inters := a.Pools()
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inters, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("server certificate does not verify for %s: %v", name, err)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || !slices.Equal(leaf.DNSNames, []string{name}) {
		t.Errorf("EKU %v, DNS %v", leaf.ExtKeyUsage, leaf.DNSNames)
	}
	if want := t0.Add(life); !leaf.NotAfter.Equal(want) {
		t.Errorf("NotAfter %v, want %v", leaf.NotAfter, want)
	}
	if info, err := os.Stat(filepath.Join(a.Dir(), name+".key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("server key: %v %v; want mode 0600", info, err)
	}

	serialAt := func(t *testing.T, at time.Time, name string) *big.Int {
		t.Helper()
		b, err := Open(ctx, a.Dir(), testPass, WithNow(fixedNow(at)))
		if err != nil {
			t.Fatal(err)
		}
		c, err := b.ServerCertificate(ctx, name, life)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(c.Leaf.DNSNames, name) {
			t.Errorf("certificate for %v, want %s", c.Leaf.DNSNames, name)
		}
		return c.Leaf.SerialNumber
	}
	first := leaf.SerialNumber
	t.Run("kept while young", func(t *testing.T) {
		if got := serialAt(t, t0.Add(150*24*time.Hour), name); got.Cmp(first) != 0 {
			t.Error("re-issued a certificate with two thirds of its life left")
		}
	})
	t.Run("other name gets its own", func(t *testing.T) {
		if got := serialAt(t, t0, "portal.grandharbour.example"); got.Cmp(first) == 0 {
			t.Error("the portal got the RADIUS certificate")
		}
	})
	t.Run("renewed in the last third", func(t *testing.T) {
		if got := serialAt(t, t0.Add(201*24*time.Hour), name); got.Cmp(first) == 0 {
			t.Error("not re-issued in the last third of its life")
		}
	})
	t.Run("renewed when the file names another host", func(t *testing.T) {
		// Someone copied another certificate over this one.
		src, _ := os.ReadFile(filepath.Join(a.Dir(), "portal.grandharbour.example.crt"))
		dst := filepath.Join(a.Dir(), "wifi.grandharbour.example.crt")
		if err := os.WriteFile(dst, src, 0o644); err != nil {
			t.Fatal(err)
		}
		serialAt(t, t0, "wifi.grandharbour.example") // checks the DNS name
	})

	t.Run("bad names", func(t *testing.T) {
		for _, bad := range []string{"root", "intermediate", "../etc.passwd", "Radius.Hotel.Example", "", "a..b"} {
			if _, err := a.ServerCertificate(ctx, bad, life); err == nil {
				t.Errorf("accepted server name %q", bad)
			}
		}
	})
}

func TestCRL(t *testing.T) {
	a := sharedCA(t)
	revoked := []Revoked{
		{Serial: big.NewInt(0x1234), RevokedAt: t0.Add(-time.Hour), Reason: 1},
		{Serial: new(big.Int).Lsh(big.NewInt(1), 120), RevokedAt: t0.Add(-time.Minute), Reason: 5},
	}
	var last *big.Int
	for i := range 2 {
		der, err := a.CRL(revoked, t0, t0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := crl.CheckSignatureFrom(a.Intermediate()); err != nil {
			t.Errorf("CRL signature does not check against the intermediate: %v", err)
		}
		if !bytes.Equal(crl.RawIssuer, a.Intermediate().RawSubject) {
			t.Error("CRL issuer is not the intermediate")
		}
		if len(crl.RevokedCertificateEntries) != len(revoked) {
			t.Fatalf("%d entries, want %d", len(crl.RevokedCertificateEntries), len(revoked))
		}
		for j, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(revoked[j].Serial) != 0 || !e.RevocationTime.Equal(revoked[j].RevokedAt) || e.ReasonCode != revoked[j].Reason {
				t.Errorf("entry %d = %v %v %d, want %v", j, e.SerialNumber, e.RevocationTime, e.ReasonCode, revoked[j])
			}
		}
		if !crl.ThisUpdate.Equal(t0) || !crl.NextUpdate.Equal(t0.Add(24*time.Hour)) {
			t.Errorf("updates %v .. %v", crl.ThisUpdate, crl.NextUpdate)
		}
		if last != nil && crl.Number.Cmp(last) <= 0 {
			t.Errorf("CRL %d has number %v, not above %v", i, crl.Number, last)
		}
		last = crl.Number
	}

	empty, err := a.CRL(nil, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if crl, err := x509.ParseRevocationList(empty); err != nil || len(crl.RevokedCertificateEntries) != 0 {
		t.Errorf("empty CRL: %v, %v", crl, err)
	}

	for _, bad := range []struct {
		name    string
		revoked []Revoked
		next    time.Time
	}{
		{"next before this", nil, t0.Add(-time.Hour)},
		{"no serial", []Revoked{{RevokedAt: t0}}, t0.Add(time.Hour)},
		{"bad reason", []Revoked{{Serial: big.NewInt(1), Reason: 7}}, t0.Add(time.Hour)},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if _, err := a.CRL(bad.revoked, t0, bad.next); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestPKCS12(t *testing.T) {
	a := sharedCA(t)
	key := newDeviceKey(t)
	leaf, err := a.IssueDevice(context.Background(), DeviceRequest{PublicKey: key.Public(), CommonName: "d-7", NotAfter: t0.Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := PKCS12(key, leaf, a.Chain(), "AB12-CD34")
	if err != nil {
		t.Fatal(err)
	}
	gotKey, gotLeaf, gotChain, err := pkcs12.DecodeChain(pfx, "AB12-CD34")
	if err != nil {
		t.Fatal(err)
	}
	if !keyutil.Equal(gotKey, key) || !gotLeaf.Equal(leaf) || len(gotChain) != 2 || !gotChain[0].Equal(a.Intermediate()) || !gotChain[1].Equal(a.Root()) {
		t.Error("PKCS#12 did not round-trip key, certificate and chain")
	}
	if _, _, _, err := pkcs12.DecodeChain(pfx, "wrong"); err == nil {
		t.Error("decoded with the wrong password")
	}

	// The MAC is HMAC-SHA-1 (the legacy form phones accept), not PBMAC1 or SHA-256.
	var pfxOuter struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  struct {
			Mac struct {
				Algorithm struct {
					Algorithm  asn1.ObjectIdentifier
					Parameters asn1.RawValue `asn1:"optional"`
				}
				Digest []byte
			}
			Salt       []byte
			Iterations int `asn1:"optional,default:1"`
		}
	}
	if _, err := asn1.Unmarshal(pfx, &pfxOuter); err != nil {
		t.Fatal(err)
	}
	if sha1 := (asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}); !pfxOuter.MacData.Mac.Algorithm.Algorithm.Equal(sha1) {
		t.Errorf("MAC algorithm %v, want SHA-1 %v", pfxOuter.MacData.Mac.Algorithm.Algorithm, sha1)
	}
	// 3DES (pbeWithSHAAnd3-KeyTripleDES-CBC, 1.2.840.113549.1.12.1.3) protects the key.
	if !bytes.Contains(pfx, []byte{0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03}) {
		t.Error("PKCS#12 does not use pbeWithSHAAnd3-KeyTripleDES-CBC")
	}

	for _, bad := range []struct {
		name string
		fn   func() ([]byte, error)
	}{
		{"no password", func() ([]byte, error) { return PKCS12(key, leaf, nil, "") }},
		{"no key", func() ([]byte, error) { return PKCS12(nil, leaf, nil, "x") }},
		{"no certificate", func() ([]byte, error) { return PKCS12(key, nil, nil, "x") }},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if _, err := bad.fn(); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// constReader returns b forever.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

func TestSerial(t *testing.T) {
	n, err := serial(constReader(0xff))
	if err != nil {
		t.Fatal(err)
	}
	if n.Sign() != 1 || n.BitLen() != 127 {
		t.Errorf("serial %x: sign %d, %d bits; want positive, 127 bits", n, n.Sign(), n.BitLen())
	}
	if _, err := serial(constReader(0)); err == nil {
		t.Error("accepted an all-zero random source")
	}
}
