package scep

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	smallscep "github.com/smallstep/scep"

	"keycard/ca"
	"keycard/internal/store"
	"keycard/portal/scep/sceptest"
	"keycard/vouchers"
)

// The CA and its RA are made once (PBKDF2 and an RSA key take a while);
// every test gets its own database.
var shared struct {
	once sync.Once
	dir  string
	ca   *ca.Authority
	ra   tls.Certificate
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func sharedCA(t testing.TB) (*ca.Authority, tls.Certificate) {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "keycard-scep-test-"); shared.err != nil {
			return
		}
		ctx := context.Background()
		shared.ca, shared.err = ca.Init(ctx, filepath.Join(shared.dir, "ca"), []byte("correct horse battery staple"),
			ca.InitOptions{Organization: "Grand Harbour Hotel"})
		if shared.err != nil {
			return
		}
		shared.ra, shared.err = shared.ca.RACertificate(ctx, 365*24*time.Hour)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.ca, shared.ra
}

// issuer adapts the CA to vouchers, as cmd does.
type issuer struct{ a *ca.Authority }

func (i issuer) IssueDeviceCertificate(ctx context.Context, req vouchers.CertificateRequest) (*x509.Certificate, error) {
	return i.a.IssueDevice(ctx, ca.DeviceRequest{PublicKey: req.PublicKey, CommonName: req.CommonName, URIs: req.URIs, NotAfter: req.NotAfter})
}

// clock is the vouchers store's clock; the server reads it from its own
// goroutines.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hotel is a Keycard with one live stay and the SCEP handler on an
// httptest server.
type hotel struct {
	ca    *ca.Authority
	ra    tls.Certificate
	store *vouchers.Store
	clock *clock
	stay  vouchers.Stay
	url   string
	logs  *syncBuffer
}

func newHotel(t *testing.T, tweak ...func(*Options)) *hotel {
	t.Helper()
	a, ra := sharedCA(t)
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "keycard.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := vouchers.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	roots, inters := a.Pools()
	h := &hotel{ca: a, ra: ra, clock: &clock{t: time.Now()}, logs: &syncBuffer{}}
	h.store, err = vouchers.New(db, vouchers.Options{
		Policies: map[string]vouchers.Policy{"standard": {}},
		Issuer:   issuer{a}, Roots: roots, Intermediates: inters,
		Now: h.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.store.Close() })
	h.stay, _, err = h.store.CreateStay(ctx, vouchers.Actor{Name: "staff:alice", Source: "cli"}, vouchers.NewStay{
		Room: "204", GuestName: "Ada Lovelace", CheckOut: h.clock.Now().Add(72 * time.Hour), MaxDevices: 10, Policy: "standard",
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		RA: ra, CAChain: a.Chain(), Enroller: h.store,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range tweak {
		f(&opts)
	}
	handler, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/scep"
	return h
}

// challenge mints a challenge as the portal does for an iPhone.
func (h *hotel) challenge(t *testing.T, lifetime time.Duration) string {
	t.Helper()
	c, _, err := h.store.MintEnrolChallenge(context.Background(), vouchers.Actor{Name: "guest", Source: "192.0.2.7"},
		h.stay.ID, "ios", "Ada's iPhone", lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// noSecrets checks the logs never held the challenge.
func (h *hotel) noSecrets(t *testing.T, challenges ...string) {
	t.Helper()
	for _, c := range challenges {
		if strings.Contains(h.logs.String(), c) {
			t.Errorf("the logs contain the challenge %q", c)
		}
	}
}

// device is a fresh device with an RSA 2048 key, as Apple's SCEP payload
// makes.
func device(t *testing.T) *sceptest.Device {
	t.Helper()
	d, err := sceptest.NewDevice()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGetCACaps(t *testing.T) {
	h := newHotel(t)
	resp, err := http.Get(h.url + "?operation=GetCACaps")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	caps := strings.Fields(string(body))
	for _, want := range []string{"POSTPKIOperation", "SHA-256", "AES", "SCEPStandard"} {
		found := false
		for _, c := range caps {
			found = found || c == want
		}
		if !found {
			t.Errorf("capabilities %q lack %s", caps, want)
		}
	}
	for _, c := range caps {
		if c == "Renewal" || c == "DES3" || c == "SHA-1" {
			t.Errorf("capability %s advertised", c)
		}
	}
}

func TestGetCACert(t *testing.T) {
	h := newHotel(t)
	certs, ctype, err := device(t).GetCACert(context.Background(), h.url)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "application/x-x509-ca-ra-cert" {
		t.Errorf("content type %q, want application/x-x509-ca-ra-cert", ctype)
	}
	want := []*x509.Certificate{h.ra.Leaf, h.ca.Intermediate(), h.ca.Root()}
	if len(certs) != len(want) {
		t.Fatalf("%d certificates, want RA, intermediate, root", len(certs))
	}
	for i := range want {
		if !certs[i].Equal(want[i]) {
			t.Errorf("certificate %d is %q, want %q", i, certs[i].Subject.CommonName, want[i].Subject.CommonName)
		}
	}
	// A device encrypts to the one certificate that allows key
	// encipherment, and it is RSA: the RA.
	enc := smallscep.EnciphermentCertsSelector().SelectCerts(certs)
	if len(enc) != 1 || !enc[0].Equal(h.ra.Leaf) {
		t.Fatalf("certificates for key encipherment: %d, want the RA", len(enc))
	}
	if _, ok := enc[0].PublicKey.(*rsa.PublicKey); !ok {
		t.Errorf("RA key %T, want RSA", enc[0].PublicKey)
	}
}

func TestEnrol(t *testing.T) {
	for _, get := range []bool{false, true} {
		name := "POST"
		if get {
			name = "GET as macOS sends it"
		}
		t.Run(name, func(t *testing.T) {
			h := newHotel(t)
			ctx := context.Background()
			c := h.challenge(t, 10*time.Minute)
			dev := device(t)
			dev.GET = get

			cert, err := dev.Enrol(ctx, h.url, c)
			if err != nil {
				t.Fatalf("Enrol: %v\n%s", err, h.logs.String())
			}
			// The certificate chains to the hotel's root, is for the
			// device's own key, and ends at check-out.
			roots, inters := h.ca.Pools()
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("certificate does not chain to the CA for clientAuth: %v", err)
			}
			if !dev.Key.Public().(*rsa.PublicKey).Equal(cert.PublicKey) {
				t.Error("the certificate is not for the device's key")
			}
			if !cert.NotAfter.Equal(h.stay.CheckOut) {
				t.Errorf("NotAfter %v, want the check-out %v", cert.NotAfter, h.stay.CheckOut)
			}
			// The stay has the device, with what the portal minted the
			// challenge for; the audit log has the client's address.
			ds, err := h.store.Devices(ctx, h.stay.ID)
			if err != nil || len(ds) != 1 {
				t.Fatalf("stay has %d devices, %v", len(ds), err)
			}
			if d := ds[0]; d.Serial != vouchers.SerialHex(cert) || d.Platform != "ios" || d.Label != "Ada's iPhone" {
				t.Errorf("device %+v", d)
			}
			log, err := h.store.AuditLog(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if e := log[0]; e.Action != "device.enrol" || e.Actor != "guest" || e.Source != "127.0.0.1" {
				t.Errorf("audit %+v, want device.enrol by guest from 127.0.0.1", e)
			}
			if dec, err := h.store.Authorize(ctx, cert, time.Now()); err != nil || !dec.Allowed {
				t.Errorf("Authorize: %v %v", dec.Reason, err)
			}
			if !strings.Contains(h.logs.String(), "scep enrolment accepted") {
				t.Errorf("no accept line:\n%s", h.logs.String())
			}

			// The same challenge again (a replayed profile): refused.
			_, err = device(t).Enrol(ctx, h.url, c)
			wantFailure(t, err, smallscep.BadRequest)
			if !strings.Contains(h.logs.String(), `reason="challenge used"`) {
				t.Errorf("reuse not logged with its reason:\n%s", h.logs.String())
			}
			if ds, _ := h.store.Devices(ctx, h.stay.ID); len(ds) != 1 {
				t.Errorf("%d devices after the reuse, want 1", len(ds))
			}
			h.noSecrets(t, c)
		})
	}
}

func wantFailure(t *testing.T, err error, info smallscep.FailInfo) *sceptest.Failure {
	t.Helper()
	var f *sceptest.Failure
	if !errors.As(err, &f) {
		t.Fatalf("err = %v, want a FAILURE CertRep", err)
	}
	if f.Info != info {
		t.Errorf("failInfo %s, want %s", f.Info, info)
	}
	if f.Text == "" {
		t.Error("no failInfoText")
	}
	return f
}

func TestEnrolRefused(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		send   func(t *testing.T, h *hotel) string // the challenge sent
		reason string
	}{
		{"wrong challenge", func(t *testing.T, h *hotel) string {
			h.challenge(t, 0)
			return "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
		}, "unknown challenge"},
		{"not a challenge at all", func(t *testing.T, h *hotel) string { return "letmein" }, "unknown challenge"},
		{"past its lifetime", func(t *testing.T, h *hotel) string {
			c := h.challenge(t, 5*time.Minute)
			h.clock.Advance(5*time.Minute + time.Second) // the guest waited
			return c
		}, "challenge expired"},
		{"no challenge", func(t *testing.T, h *hotel) string { return "" }, "no challenge"},
		{"stay ended", func(t *testing.T, h *hotel) string {
			c := h.challenge(t, 0)
			if _, err := h.store.EndStay(ctx, vouchers.Actor{Name: "staff:bob", Source: "cli"}, h.stay.ID); err != nil {
				t.Fatal(err)
			}
			return c
		}, "stay ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHotel(t)
			c := tt.send(t, h)
			_, err := device(t).Enrol(ctx, h.url, c)
			f := wantFailure(t, err, smallscep.BadRequest)
			if strings.Contains(f.Text, c) && c != "" {
				t.Error("the failInfoText holds the challenge")
			}
			if !strings.Contains(h.logs.String(), `reason="`+tt.reason+`"`) {
				t.Errorf("refusal not logged with reason %q:\n%s", tt.reason, h.logs.String())
			}
			if ds, _ := h.store.Devices(ctx, h.stay.ID); len(ds) != 0 {
				t.Errorf("%d devices enrolled", len(ds))
			}
			if c != "" {
				h.noSecrets(t, c)
			}
		})
	}
}

// Guests arriving together all get their certificates; devices racing
// with one challenge get one.
func TestConcurrentEnrolments(t *testing.T) {
	ctx := context.Background()
	h := newHotel(t)
	dev := device(t) // one key may enrol several times; it saves making ten
	const n = 8
	challenges := make([]string, n)
	for i := range challenges {
		challenges[i] = h.challenge(t, 0)
	}
	shared := challenges[0]
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = dev.Enrol(ctx, h.url, challenges[i]) })
		wg.Go(func() { _, errs[n+i] = dev.Enrol(ctx, h.url, shared) })
	}
	wg.Wait()
	var sharedOK int
	for i, err := range errs {
		switch {
		case i > 0 && i < n && err != nil:
			t.Errorf("guest %d: %v", i, err)
		case i == 0 || i >= n:
			if err == nil {
				sharedOK++
			} else {
				wantFailure(t, err, smallscep.BadRequest)
			}
		}
	}
	if sharedOK != 1 {
		t.Errorf("%d devices enrolled with one challenge, want 1", sharedOK)
	}
	if ds, _ := h.store.Devices(ctx, h.stay.ID); len(ds) != n {
		t.Errorf("%d devices, want %d", len(ds), n)
	}
}

// Requests the handler cannot answer with a certificate are refused before
// the challenge is spent: the device can try again with it.
func TestRefusedBeforeSpendingTheChallenge(t *testing.T) {
	ctx := context.Background()
	h := newHotel(t)
	c := h.challenge(t, 0)
	ra := h.ra.Leaf
	to := []*x509.Certificate{ra, h.ca.Intermediate(), h.ca.Root()}

	t.Run("RenewalReq", func(t *testing.T) {
		dev := device(t)
		csr, err := dev.CSR(c)
		if err != nil {
			t.Fatal(err)
		}
		req, err := dev.Message(smallscep.RenewalReq, csr, to)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := dev.PKIOperation(ctx, h.url, req.Raw)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := dev.ReadCertRep(raw, req, ra)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Failure == nil || rep.Failure.Info != smallscep.BadRequest {
			t.Errorf("RenewalReq answered %+v, want badRequest", rep)
		}
	})
	t.Run("ECDSA signer", func(t *testing.T) {
		// The answer is encrypted to the signer's key, which RSA key
		// transport cannot do for an ECDSA key.
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		dev, err := sceptest.NewDeviceWithKey(k)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dev.Enrol(ctx, h.url, c)
		wantFailure(t, err, smallscep.BadAlg)
	})
	t.Run("envelope for another RA", func(t *testing.T) {
		other := device(t) // any RSA certificate with keyEncipherment
		dev := device(t)
		csr, err := dev.CSR(c)
		if err != nil {
			t.Fatal(err)
		}
		req, err := dev.Message(smallscep.PKCSReq, csr, []*x509.Certificate{other.Cert})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := dev.PKIOperation(ctx, h.url, req.Raw)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := dev.ReadCertRep(raw, req, ra)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Failure == nil || rep.Failure.Info != smallscep.BadMessageCheck {
			t.Errorf("answered %+v, want badMessageCheck", rep)
		}
	})
	if ds, _ := h.store.Devices(ctx, h.stay.ID); len(ds) != 0 {
		t.Fatalf("%d devices enrolled", len(ds))
	}
	if _, err := device(t).Enrol(ctx, h.url, c); err != nil {
		t.Errorf("the challenge no longer works after the refusals: %v", err)
	}
	h.noSecrets(t, c)
}

// The answer is encrypted with the device's own cipher when it is one SCEP
// clients share, and with AES-128-CBC (the "AES" capability) otherwise.
func TestAnswerCipher(t *testing.T) {
	ctx := context.Background()
	h := newHotel(t)
	for _, tc := range []struct {
		name    string
		request int
		want    asn1.ObjectIdentifier
	}{
		{"AES-128-CBC", pkcs7.EncryptionAlgorithmAES128CBC, oidAES128CBC},
		{"AES-256-CBC", pkcs7.EncryptionAlgorithmAES256CBC, oidAES256CBC},
		{"single DES", pkcs7.EncryptionAlgorithmDESCBC, oidAES128CBC},
		{"AES-128-GCM", pkcs7.EncryptionAlgorithmAES128GCM, oidAES128CBC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := device(t)
			dev.Cipher = tc.request
			csr, err := dev.CSR(h.challenge(t, 0))
			if err != nil {
				t.Fatal(err)
			}
			req, err := dev.Message(smallscep.PKCSReq, csr, []*x509.Certificate{h.ra.Leaf})
			if err != nil {
				t.Fatal(err)
			}
			raw, err := dev.PKIOperation(ctx, h.url, req.Raw)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := dev.ReadCertRep(raw, req, h.ra.Leaf)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Certificate == nil {
				t.Fatalf("no certificate: %+v", rep.Failure)
			}
			if got := envelopeAlgorithm(rep.Envelope); !got.Equal(tc.want) {
				t.Errorf("answer encrypted with %v, want %v", got, tc.want)
			}
			// Apple's SecSCEPVerifyReply reads messageType and pkiStatus
			// only as PrintableStrings.
			p7, err := pkcs7.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			for _, oid := range []asn1.ObjectIdentifier{oidMessageType, oidPKIStatus, oidTransactionID} {
				var v asn1.RawValue
				if err := p7.UnmarshalSignedAttribute(oid, &v); err != nil || v.Tag != asn1.TagPrintableString {
					t.Errorf("attribute %v: tag %d, %v; want a PrintableString", oid, v.Tag, err)
				}
			}
		})
	}
}

// The 3DES answer (to a device that used 3DES, which pkcs7 cannot send)
// and the others open with an independent CMS implementation.
func TestEnvelopeOpens(t *testing.T) {
	dev := device(t)
	content := []byte("a degenerate PKCS#7 would be here")
	for _, c := range []contentCipher{aes128CBC, aes256CBC, des3CBC} {
		env, err := envelope(rand.Reader, content, dev.Cert, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := envelopeAlgorithm(env); !got.Equal(c.oid()) || answerCipher(got) != c {
			t.Errorf("%s: envelope says %v", c, got)
		}
		p7, err := pkcs7.Parse(env)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := p7.Decrypt(dev.Cert, dev.Key)
		if err != nil || !bytes.Equal(plain, content) {
			t.Errorf("%s: decrypted %q, %v", c, plain, err)
		}
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDev, err := sceptest.NewDeviceWithKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envelope(rand.Reader, content, ecDev.Cert, aes128CBC); err == nil {
		t.Error("encrypted to an ECDSA key")
	}
}

func TestOversizedAndMalformed(t *testing.T) {
	h := newHotel(t)
	post := func(t *testing.T, body io.Reader, length int64) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, h.url+"?operation=PKIOperation", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = length
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get := func(t *testing.T, query string) int {
		t.Helper()
		resp, err := http.Get(h.url + "?" + query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	big := bytes.Repeat([]byte{0x30}, DefaultMaxMessageBytes+1)
	checks := []struct {
		name string
		got  func(t *testing.T) int
		want int
	}{
		{"POST over the cap", func(t *testing.T) int { return post(t, bytes.NewReader(big), int64(len(big))) }, http.StatusRequestEntityTooLarge},
		{"POST over the cap, chunked", func(t *testing.T) int { return post(t, io.MultiReader(bytes.NewReader(big)), -1) }, http.StatusRequestEntityTooLarge},
		{"GET over the cap", func(t *testing.T) int {
			return get(t, "operation=PKIOperation&message="+strings.Repeat("MIIB", DefaultMaxMessageBytes/3+2))
		}, http.StatusRequestEntityTooLarge},
		{"POST of garbage", func(t *testing.T) int { return post(t, strings.NewReader("hello"), 5) }, http.StatusBadRequest},
		{"empty POST", func(t *testing.T) int { return post(t, http.NoBody, 0) }, http.StatusBadRequest},
		{"GET without a message", func(t *testing.T) int { return get(t, "operation=PKIOperation") }, http.StatusBadRequest},
		{"GET with bad base64", func(t *testing.T) int { return get(t, "operation=PKIOperation&message=%25%25%25") }, http.StatusBadRequest},
		{"no operation", func(t *testing.T) int { return get(t, "") }, http.StatusBadRequest},
		{"unknown operation", func(t *testing.T) int { return get(t, "operation=GetNextCACert") }, http.StatusBadRequest},
		{"POST GetCACaps", func(t *testing.T) int {
			resp, err := http.Post(h.url+"?operation=GetCACaps", "text/plain", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}, http.StatusMethodNotAllowed},
		{"PUT PKIOperation", func(t *testing.T) int {
			req, _ := http.NewRequest(http.MethodPut, h.url+"?operation=PKIOperation", strings.NewReader("x"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}, http.StatusMethodNotAllowed},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if got := c.got(t); got != c.want {
				t.Errorf("status %d, want %d", got, c.want)
			}
		})
	}

	// A real request over a smaller cap is refused before it is read.
	small := newHotel(t, func(o *Options) { o.MaxMessageBytes = 1024 })
	_, err := device(t).Enrol(context.Background(), small.url, small.challenge(t, 0))
	var he *sceptest.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("a %d-byte cap let a real request through: %v", 1024, err)
	}
}

func TestNewChecksTheRA(t *testing.T) {
	a, ra := sharedCA(t)
	server, err := a.ServerCertificate(context.Background(), "portal.grandharbour.example", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other := device(t)
	mismatched := ra
	mismatched.PrivateKey = other.Key
	var enroller Enroller = fakeEnroller{}
	tests := []struct {
		name string
		opts Options
	}{
		{"ECDSA RA", Options{RA: server, CAChain: a.Chain(), Enroller: enroller}},
		{"no RA", Options{CAChain: a.Chain(), Enroller: enroller}},
		{"key of another certificate", Options{RA: mismatched, CAChain: a.Chain(), Enroller: enroller}},
		{"no chain", Options{RA: ra, Enroller: enroller}},
		{"chain without the RA's issuer", Options{RA: ra, CAChain: []*x509.Certificate{a.Root()}, Enroller: enroller}},
		{"no enroller", Options{RA: ra, CAChain: a.Chain()}},
		{"negative cap", Options{RA: ra, CAChain: a.Chain(), Enroller: enroller, MaxMessageBytes: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.opts); err == nil {
				t.Error("New accepted it")
			}
		})
	}
	noLeaf := ra
	noLeaf.Leaf = nil
	if _, err := New(Options{RA: noLeaf, CAChain: a.Chain(), Enroller: enroller}); err != nil {
		t.Errorf("RA without Leaf: %v", err)
	}
}

// fakeEnroller refuses everything, for tests that never get that far.
type fakeEnroller struct{}

func (fakeEnroller) EnrolWithChallenge(context.Context, vouchers.Actor, string, *x509.CertificateRequest) (vouchers.Device, *x509.Certificate, error) {
	return vouchers.Device{}, nil, vouchers.ErrUnknownChallenge
}

// FuzzPKIOperation feeds the handler arbitrary messages: it answers each
// with a status, never a panic, and never calls the Enroller with a
// request it could not read.
func FuzzPKIOperation(f *testing.F) {
	a, ra := sharedCA(f)
	h, err := New(Options{RA: ra, CAChain: a.Chain(), Enroller: fakeEnroller{}, MaxMessageBytes: 8 << 10})
	if err != nil {
		f.Fatal(err)
	}
	dev, err := sceptest.NewDevice()
	if err != nil {
		f.Fatal(err)
	}
	csr, err := dev.CSR("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
	if err != nil {
		f.Fatal(err)
	}
	req, err := dev.Message(smallscep.PKCSReq, csr, []*x509.Certificate{ra.Leaf})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(req.Raw)
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	f.Add(bytes.Repeat([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, 4))
	f.Fuzz(func(t *testing.T, msg []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/scep?operation=PKIOperation", bytes.NewReader(msg)))
		switch rec.Code {
		case http.StatusOK:
			if rec.Header().Get("Content-Type") != typePKIMessage {
				t.Errorf("200 with %q", rec.Header().Get("Content-Type"))
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Errorf("status %d", rec.Code)
		}
	})
}

// toBER re-encodes every constructed element of der with an indefinite
// length, as streaming CMS encoders (NSS and its descendants) write.
func toBER(t testing.TB, der []byte) []byte {
	t.Helper()
	var out []byte
	for len(der) > 0 {
		tag, content, rest, ok := readBER(der, 0)
		if !ok {
			t.Fatalf("not DER: % x", der)
		}
		if tag&0x20 != 0 {
			out = append(out, tag, 0x80)
			out = append(out, toBER(t, content)...)
			out = append(out, 0, 0)
		} else {
			out = append(out, der[:len(der)-len(rest)]...)
		}
		der = rest
	}
	return out
}

// signRequest wraps an envelope the test made itself in a PKCSReq signed
// by the device, as NewCSRRequest would.
func signRequest(t *testing.T, dev *sceptest.Device, env []byte) ([]byte, *smallscep.PKIMessage) {
	t.Helper()
	req := &smallscep.PKIMessage{TransactionID: "keycard-test-transaction", SenderNonce: []byte("0123456789abcdef")}
	sd, err := pkcs7.NewSignedData(env)
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(dev.Cert, dev.Key, pkcs7.SignerInfoConfig{ExtraSignedAttributes: []pkcs7.Attribute{
		{Type: oidTransactionID, Value: string(req.TransactionID)},
		{Type: oidMessageType, Value: string(smallscep.PKCSReq)},
		{Type: oidSenderNonce, Value: []byte(req.SenderNonce)},
	}}); err != nil {
		t.Fatal(err)
	}
	raw, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return raw, req
}

func TestEnvelopeAlgorithmReadsBER(t *testing.T) {
	dev := device(t)
	for _, c := range []contentCipher{aes128CBC, aes256CBC, des3CBC} {
		der, err := envelope(rand.Reader, []byte("content"), dev.Cert, c)
		if err != nil {
			t.Fatal(err)
		}
		ber := toBER(t, der)
		if bytes.Equal(ber, der) {
			t.Fatal("toBER changed nothing")
		}
		if got := envelopeAlgorithm(ber); !got.Equal(c.oid()) {
			t.Errorf("%s in BER: read %v", c, got)
		}
		// It is BER another parser reads, not just this one.
		p7, err := pkcs7.Parse(ber)
		if err != nil {
			t.Fatal(err)
		}
		if plain, err := p7.Decrypt(dev.Cert, dev.Key); err != nil || string(plain) != "content" {
			t.Errorf("%s in BER: pkcs7 decrypts %q, %v", c, plain, err)
		}
	}
	for _, bad := range [][]byte{nil, {0x30}, {0x30, 0x80}, {0x30, 0x80, 0x30, 0x80}, {0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, {0x04, 0x80, 0, 0}} {
		if got := envelopeAlgorithm(bad); got != nil {
			t.Errorf("envelopeAlgorithm(% x) = %v", bad, got)
		}
	}
}

// A device whose CMS encoder writes indefinite lengths enrols, and gets
// its answer in its own cipher.
func TestEnrolWithBEREnvelope(t *testing.T) {
	h := newHotel(t)
	dev := device(t)
	csr, err := dev.CSR(h.challenge(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	der, err := envelope(rand.Reader, csr.Raw, h.ra.Leaf, aes256CBC)
	if err != nil {
		t.Fatal(err)
	}
	raw, req := signRequest(t, dev, toBER(t, der))
	answer, err := dev.PKIOperation(context.Background(), h.url, raw)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := dev.ReadCertRep(answer, req, h.ra.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Certificate == nil {
		t.Fatalf("refused: %+v\n%s", rep.Failure, h.logs.String())
	}
	if got := envelopeAlgorithm(rep.Envelope); !got.Equal(oidAES256CBC) {
		t.Errorf("answer in %v, want AES-256-CBC like the request", got)
	}
}

// A content key with broken RSA padding is answered exactly like a good
// key for the wrong content: the RA is no padding oracle.
func TestNoPaddingOracle(t *testing.T) {
	h := newHotel(t)
	ctx := context.Background()
	dev := device(t)
	csr, err := dev.CSR(h.challenge(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(t *testing.T, f func(*envelopedData)) []byte {
		t.Helper()
		der, err := envelope(rand.Reader, csr.Raw, h.ra.Leaf, aes128CBC)
		if err != nil {
			t.Fatal(err)
		}
		var ci contentInfo
		if _, err := asn1.Unmarshal(der, &ci); err != nil {
			t.Fatal(err)
		}
		var env envelopedData
		if _, err := asn1.Unmarshal(ci.Content.Bytes, &env); err != nil {
			t.Fatal(err)
		}
		f(&env)
		env.EncryptedContentInfo.EncryptedContent.FullBytes = nil // or Marshal writes the old bytes
		inner, err := asn1.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		ci.Content = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}
		out, err := asn1.Marshal(ci)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	answers := map[string]*sceptest.Failure{}
	for name, f := range map[string]func(*envelopedData){
		"bad RSA padding": func(e *envelopedData) { e.RecipientInfos[0].EncryptedKey[7] ^= 0x55 },
		// Not whole AES blocks: pkcs7 panics on it.
		"bad content": func(e *envelopedData) {
			b := e.EncryptedContentInfo.EncryptedContent.Bytes
			e.EncryptedContentInfo.EncryptedContent.Bytes = b[:len(b)-1]
		},
	} {
		raw, req := signRequest(t, dev, tamper(t, f))
		answer, err := dev.PKIOperation(ctx, h.url, raw)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := dev.ReadCertRep(answer, req, h.ra.Leaf)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Failure == nil {
			t.Fatalf("%s: enrolled", name)
		}
		answers[name] = rep.Failure
	}
	if a, b := answers["bad RSA padding"], answers["bad content"]; *a != *b || a.Info != smallscep.BadMessageCheck {
		t.Errorf("answers differ or are not badMessageCheck: %+v vs %+v", a, b)
	}
	if n := strings.Count(h.logs.String(), "scep enrolment refused"); n != 2 {
		t.Errorf("%d refusals logged, want 2:\n%s", n, h.logs.String())
	}
	if strings.Contains(h.logs.String(), "panic") && !strings.Contains(h.logs.String(), "does not decrypt") {
		t.Errorf("a parser panic escaped:\n%s", h.logs.String())
	}

	// Underneath: a bad padding yields a key of the expected length, no error.
	_, ra := sharedCA(t)
	key := implicitRejection{ra.PrivateKey.(raKey), 16}
	//lint:ignore SA1019 what pkcs7 passes for an rsaEncryption recipient.
	got, err := key.Decrypt(rand.Reader, make([]byte, 256), &rsa.PKCS1v15DecryptOptions{})
	if err != nil || len(got) != 16 {
		t.Errorf("implicit rejection gave %d bytes, %v", len(got), err)
	}
}

func FuzzEnvelopeAlgorithm(f *testing.F) {
	dev, err := sceptest.NewDevice()
	if err != nil {
		f.Fatal(err)
	}
	der, err := envelope(rand.Reader, []byte("content"), dev.Cert, aes256CBC)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Add(toBER(f, der))
	f.Fuzz(func(t *testing.T, b []byte) {
		if alg := envelopeAlgorithm(b); alg != nil && contentKeyLen(alg) < 0 {
			t.Fatal("negative key length")
		}
	})
}

// BenchmarkCoachOf200 is the SCEP half of the performance goal: 200 guests'
// devices enrolling at once. It measures server time only (the devices'
// requests are made beforehand; one key serves them all) and reports the
// p99 of one round of 200 concurrent PKIOperations.
func BenchmarkCoachOf200(b *testing.B) {
	const guests = 200
	a, ra := sharedCA(b)
	ctx := context.Background()
	dev, err := sceptest.NewDevice()
	if err != nil {
		b.Fatal(err)
	}
	var p99s []time.Duration
	for b.Loop() {
		b.StopTimer()
		db, err := store.Open(ctx, filepath.Join(b.TempDir(), "keycard.db"))
		if err != nil {
			b.Fatal(err)
		}
		if err := vouchers.Migrate(ctx, db); err != nil {
			b.Fatal(err)
		}
		s, err := vouchers.New(db, vouchers.Options{Policies: map[string]vouchers.Policy{"standard": {}}, Issuer: issuer{a}})
		if err != nil {
			b.Fatal(err)
		}
		h, err := New(Options{RA: ra, CAChain: a.Chain(), Enroller: s})
		if err != nil {
			b.Fatal(err)
		}
		msgs := make([][]byte, guests)
		var stayID int64
		for i := range msgs {
			if i%vouchers.MaxDevicesLimit == 0 {
				st, _, err := s.CreateStay(ctx, vouchers.Actor{Name: "staff", Source: "bench"}, vouchers.NewStay{
					Room: fmt.Sprint(i), GuestName: "Coach", CheckOut: time.Now().Add(48 * time.Hour), MaxDevices: vouchers.MaxDevicesLimit, Policy: "standard"})
				if err != nil {
					b.Fatal(err)
				}
				stayID = st.ID
			}
			c, _, err := s.MintEnrolChallenge(ctx, vouchers.Actor{Name: "guest", Source: "bench"}, stayID, "ios", "", 0)
			if err != nil {
				b.Fatal(err)
			}
			csr, err := dev.CSR(c)
			if err != nil {
				b.Fatal(err)
			}
			req, err := dev.Message(smallscep.PKCSReq, csr, []*x509.Certificate{ra.Leaf})
			if err != nil {
				b.Fatal(err)
			}
			msgs[i] = req.Raw
		}
		took := make([]time.Duration, guests)
		var wg sync.WaitGroup
		b.StartTimer()
		for i := range msgs {
			wg.Go(func() {
				start := time.Now()
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/scep?operation=PKIOperation", bytes.NewReader(msgs[i])))
				took[i] = time.Since(start)
				if rec.Code != http.StatusOK {
					b.Errorf("status %d", rec.Code)
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		slices.Sort(took)
		p99s = append(p99s, took[guests*99/100-1])
		s.Close()
		db.Close()
		b.StartTimer()
	}
	slices.Sort(p99s)
	b.ReportMetric(float64(p99s[len(p99s)/2].Milliseconds()), "p99-ms")
}
