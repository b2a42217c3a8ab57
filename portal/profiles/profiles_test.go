package profiles

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

var pkiOnce sync.Once

var (
	update   = flag.Bool("update", false, "rewrite the golden files in testdata/")
	fixtures = flag.Bool("fixtures", false, "make a new test PKI in testdata/pki/ (then run with -update)")
)

// checkout is the test stay's end; the device certificate's NotAfter.
var checkout = time.Date(2026, 8, 3, 11, 0, 0, 0, time.UTC)

const testPassword = "tulip-7-harbour"

// testPKI is the fixed PKI of testdata/pki: root → intermediate → device.
type testPKI struct {
	root, intermediate, device *x509.Certificate
	key                        crypto.PrivateKey
}

func loadPKI(t *testing.T) testPKI {
	t.Helper()
	if *fixtures {
		pkiOnce.Do(func() { writePKI(t) })
	}
	cert := func(name string) *x509.Certificate {
		t.Helper()
		block := readPEM(t, name)
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	key, err := x509.ParsePKCS8PrivateKey(readPEM(t, "device.key").Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return testPKI{root: cert("root.crt"), intermediate: cert("intermediate.crt"), device: cert("device.crt"), key: key}
}

func readPEM(t *testing.T, name string) *pem.Block {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "pki", name))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", name)
	}
	return block
}

// writePKI makes the fixture PKI once; its files are checked in because
// Go's key generation and ECDSA signatures cannot be made deterministic.
func writePKI(t *testing.T) {
	t.Helper()
	dir := filepath.Join("testdata", "pki")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	issue := func(tmpl, parent *x509.Certificate, pub, signer any) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rootKey, interKey, deviceKey := newKey(), newKey(), newKey()
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Keycard Test Root CA", Organization: []string{"Keycard"}},
		NotBefore: start, NotAfter: start.AddDate(20, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	root := issue(rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	interTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Keycard Test Intermediate CA", Organization: []string{"Keycard"}},
		NotBefore: start, NotAfter: start.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	inter := issue(interTmpl, root, &interKey.PublicKey, rootKey)
	deviceTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "device-42"},
		NotBefore: start, NotAfter: checkout,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	device := issue(deviceTmpl, inter, &deviceKey.PublicKey, interKey)
	keyDER, err := x509.MarshalPKCS8PrivateKey(deviceKey)
	if err != nil {
		t.Fatal(err)
	}
	write("root.crt", "CERTIFICATE", root.Raw)
	write("intermediate.crt", "CERTIFICATE", inter.Raw)
	write("device.crt", "CERTIFICATE", device.Raw)
	write("device.key", "PRIVATE KEY", keyDER)
}

// testNetwork is the hotel of the golden files. Its name needs escaping in
// every format.
func testNetwork(pki testPKI) Network {
	return Network{
		SSID:              "GrandHotel-Secure",
		ServerName:        "radius.grand-hotel.example",
		RootCA:            pki.root,
		HotelName:         `Grand Hôtel <Spa> & "Suites"`,
		HelpdeskURL:       "https://wifi.grand-hotel.example/help?lang=en&from=profile",
		HelpdeskEmail:     "wifi@grand-hotel.example",
		HelpdeskPhone:     "+44 20 7946 0000",
		PayloadIdentifier: "com.keycard.grand-hotel",
		Realm:             "grand-hotel.example",
	}
}

// testP12 packs the device credential the way ca.PKCS12 does (LegacyDES),
// with the intermediate and the root in the chain, and fixed salts.
func testP12(t *testing.T, pki testPKI) PKCS12 {
	t.Helper()
	var seed [32]byte
	copy(seed[:], "keycard profiles test PKCS#12")
	enc := pkcs12.LegacyDES.WithRand(mrand.NewChaCha8(seed))
	data, err := enc.Encode(pki.key, pki.device, []*x509.Certificate{pki.intermediate, pki.root}, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	return PKCS12{Data: data, Password: testPassword, Identity: "device-42", NotAfter: checkout}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./portal/profiles -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (if the change is intended, run go test ./portal/profiles -update and review the diff)\ngot:\n%s", name, got)
	}
}

// requireTool finds a tool a test needs. In CI a missing tool fails the
// test, so that the check runs there for real.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; CI must run this test for real (scripts/deps.sh installs it)", name)
		}
		t.Skipf("%s is not installed (scripts/deps.sh installs it)", name)
	}
	return p
}

var uuidPattern = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)

func TestNameUUID(t *testing.T) {
	a := nameUUID("com.keycard.grand-hotel", "wifi")
	if !uuidPattern.MatchString(a) {
		t.Errorf("%s is not an upper-case version 5 UUID", a)
	}
	if b := nameUUID("com.keycard.grand-hotel", "wifi"); a != b {
		t.Errorf("same name, different UUIDs: %s, %s", a, b)
	}
	// Parts are length-prefixed: moving a boundary changes the UUID.
	if nameUUID("ab", "c") == nameUUID("a", "bc") {
		t.Error(`nameUUID("ab", "c") == nameUUID("a", "bc")`)
	}
}

func TestNetworkValidation(t *testing.T) {
	pki := loadPKI(t)
	p12 := testP12(t, pki)
	for _, tc := range []struct {
		name   string
		change func(*Network)
		want   string
	}{
		{"no SSID", func(n *Network) { n.SSID = "" }, "SSID is empty"},
		{"long SSID", func(n *Network) { n.SSID = strings.Repeat("x", 33) }, "longer than 32 bytes"},
		{"control character", func(n *Network) { n.HotelName = "Grand\nHotel" }, "control character"},
		{"invalid UTF-8", func(n *Network) { n.SSID = "Gr\xffnd" }, "not valid UTF-8"},
		{"no server name", func(n *Network) { n.ServerName = "" }, "ServerName is empty"},
		{"server name with a semicolon", func(n *Network) { n.ServerName = "a.example;b.example" }, "not a DNS name"},
		{"wildcard server name", func(n *Network) { n.ServerName = "*.grand-hotel.example" }, "not a DNS name"},
		{"no root", func(n *Network) { n.RootCA = nil }, "RootCA is missing"},
		{"root is not a CA", func(n *Network) { n.RootCA = pki.device }, "not a CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNetwork(pki)
			tc.change(&n)
			builders := map[string]func() ([]byte, error){
				"Apple":            func() ([]byte, error) { return Apple(n, checkout, &p12, nil) },
				"EAPConfig":        func() ([]byte, error) { return EAPConfig(n, p12) },
				"AndroidPasspoint": func() ([]byte, error) { return AndroidPasspoint(n, testPasspoint(), p12) },
				"WindowsWLAN":      func() ([]byte, error) { return WindowsWLAN(n) },
				"NetworkManager":   func() ([]byte, error) { return NetworkManager(n, testNMFiles(), p12) },
			}
			for name, build := range builders {
				_, err := build()
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "profiles: ") {
					t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
				}
			}
		})
	}
}

func TestPKCS12Errors(t *testing.T) {
	pki := loadPKI(t)
	n := testNetwork(pki)
	for _, tc := range []struct {
		name   string
		change func(*PKCS12)
		want   string
	}{
		{"wrong password", func(p *PKCS12) { p.Password = "wrong" }, "does not open with its password"},
		{"no password", func(p *PKCS12) { p.Password = "" }, "password is empty"},
		{"no data", func(p *PKCS12) { p.Data = nil }, "data is empty"},
		{"no identity", func(p *PKCS12) { p.Identity = "" }, "identity is empty"},
		{"no NotAfter", func(p *PKCS12) { p.NotAfter = time.Time{} }, "NotAfter is zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p12 := testP12(t, pki)
			tc.change(&p12)
			for name, build := range map[string]func() ([]byte, error){
				"Apple":            func() ([]byte, error) { return Apple(n, checkout, &p12, nil) },
				"EAPConfig":        func() ([]byte, error) { return EAPConfig(n, p12) },
				"AndroidPasspoint": func() ([]byte, error) { return AndroidPasspoint(n, testPasspoint(), p12) },
			} {
				if _, err := build(); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
				}
			}
		})
	}
}

// nastyNetwork has values that need escaping in every format: spaces at
// both ends, XML's special characters, a semicolon and a backslash
// (NetworkManager's key file) and non-ASCII letters.
func nastyNetwork(pki testPKI) Network {
	n := testNetwork(pki)
	n.SSID = ` Gäste&Co <"5G">;\ `
	n.HotelName = `  <script>alert('&amp;')</script> "Hôtel";\ `
	n.HelpdeskPhone = `+1 <555> & "0100"`
	return n
}

// Every builder is a pure function: the same input gives the same bytes.
func TestDeterministic(t *testing.T) {
	pki := loadPKI(t)
	n := testNetwork(pki)
	p12 := testP12(t, pki)
	scep := testSCEP()
	for name, build := range map[string]func() ([]byte, error){
		"Apple PKCS#12":    func() ([]byte, error) { return Apple(n, checkout, &p12, nil) },
		"Apple SCEP":       func() ([]byte, error) { return Apple(n, checkout, nil, &scep) },
		"EAPConfig":        func() ([]byte, error) { return EAPConfig(n, p12) },
		"AndroidPasspoint": func() ([]byte, error) { return AndroidPasspoint(n, testPasspoint(), p12) },
		"WindowsWLAN":      func() ([]byte, error) { return WindowsWLAN(n) },
		"NetworkManager":   func() ([]byte, error) { return NetworkManager(n, testNMFiles(), p12) },
	} {
		a, err := build()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := build()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two calls with the same input gave different bytes", name)
		}
	}
}
