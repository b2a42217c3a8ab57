package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keycard/ca"
	"keycard/configs"
	"keycard/internal/store"
	"keycard/portal/scep"
	"keycard/portal/scep/sceptest"
	"keycard/vouchers"
)

// scepIssuer adapts the CA to vouchers, as serve does.
type scepIssuer struct{ a *ca.Authority }

func (i scepIssuer) IssueDeviceCertificate(ctx context.Context, req vouchers.CertificateRequest) (*x509.Certificate, error) {
	return i.a.IssueDevice(ctx, ca.DeviceRequest{PublicKey: req.PublicKey, CommonName: req.CommonName, URIs: req.URIs, NotAfter: req.NotAfter})
}

// scepPortal is the portal's part of a SCEP enrolment, done directly on
// the harness's data folder (as interop_certs_test.go opens the CA): a
// vouchers store on the same database with the clock now, and the SCEP
// handler on an httptest server. It returns the store (to mint challenges)
// and the SCEP URL.
func (h *harness) scepPortal(now func() time.Time) (*vouchers.Store, string) {
	h.t.Helper()
	ctx := context.Background()
	cfg, err := configs.Load(h.config)
	if err != nil {
		h.t.Fatal(err)
	}
	db, err := store.Open(ctx, cfg.Database.Path)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { db.Close() })
	a, err := ca.Open(ctx, cfg.CA.Dir, []byte(testPassphrase))
	if err != nil {
		h.t.Fatal(err)
	}
	ra, err := a.RACertificate(ctx, 365*24*time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := vouchers.New(db, vouchers.Options{
		Policies: map[string]vouchers.Policy{"standard": {}, "premium": {VLAN: 20}},
		Issuer:   scepIssuer{a},
		Now:      now,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { s.Close() })
	handler, err := scep.New(scep.Options{
		RA: ra, CAChain: a.Chain(), Enroller: s,
		Logger: slog.New(slog.NewJSONHandler(h.logs, nil)),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	h.t.Cleanup(srv.Close)
	return s, srv.URL + "/scep"
}

// The Apple path end to end: the device makes its own key, enrols through
// SCEP with the challenge the portal minted, and the certificate it gets
// is accepted by Keycard's RADIUS server through a real supplicant.
func TestSCEPEnrolmentAcceptedByEAPOL(t *testing.T) {
	requireTool(t, "eapol_test")
	requireTool(t, "radclient")
	h := newHarness(t)
	h.run("ca", "init")
	secretFile := filepath.Join(h.dir, "nas-secret")
	if err := os.WriteFile(secretFile, []byte(h.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.run("nas", "add", "--name", "lobby-ap", "--address", "127.0.0.1", "--secret-file", secretFile)
	var stay createdStay
	h.runJSON(&stay, "stay", "create", "--room", "512", "--guest", "Ada Lovelace", "--check-out", "3h", "--policy", "premium")
	h.serve()

	ctx := context.Background()
	portal, url := h.scepPortal(time.Now)
	challenge, _, err := portal.MintEnrolChallenge(ctx, vouchers.Actor{Name: "guest", Source: "192.0.2.7"}, stay.ID, "ios", "Ada's iPhone", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := sceptest.NewDevice()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := dev.Enrol(ctx, url, challenge)
	if err != nil {
		t.Fatalf("SCEP enrolment: %v\n%s", err, h.logs.String())
	}
	if !cert.NotAfter.Equal(stay.CheckOut) {
		t.Errorf("NotAfter %v, want the check-out %v", cert.NotAfter, stay.CheckOut)
	}

	// The device's files, as it would hold them: its certificate with the
	// intermediate, its own key, the root it pins.
	a, err := ca.Open(ctx, filepath.Join(h.dir, "data", "ca"), []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crtFile, keyFile, caFile := filepath.Join(dir, "device.crt"), filepath.Join(dir, "device.key"), filepath.Join(dir, "ca.pem")
	der, err := x509.MarshalPKCS8PrivateKey(dev.Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		writePEM(crtFile, 0o644, certBlock(cert), certBlock(a.Intermediate())),
		writePEM(keyFile, 0o600, &pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		writePEM(caFile, 0o644, certBlock(a.Root())),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, phase1 := range []string{"tls_disable_tlsv1_3=1", "tls_disable_tlsv1_3=0"} {
		t.Run(phase1, func(t *testing.T) {
			res := h.eapol(crtFile, keyFile, caFile, h.secret, `phase1="`+phase1+`"`)
			if !res.success || !res.mppeOK {
				t.Fatalf("eapol_test with the SCEP certificate: success=%v mppeOK=%v\n%s\n--- keycard log ---\n%s",
					res.success, res.mppeOK, tail(res.output, 60), h.logs.String())
			}
		})
	}

	// The same challenge again, from another device: refused.
	again, err := sceptest.NewDevice()
	if err != nil {
		t.Fatal(err)
	}
	_, err = again.Enrol(ctx, url, challenge)
	var f *sceptest.Failure
	if !errors.As(err, &f) {
		t.Errorf("second use of the challenge: %v, want a FAILURE CertRep", err)
	}

	// A challenge past its lifetime: the portal's clock a quarter of an
	// hour on.
	late, _, err := portal.MintEnrolChallenge(ctx, vouchers.Actor{Name: "guest", Source: "192.0.2.7"}, stay.ID, "ios", "Ada's iPad", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, lateURL := h.scepPortal(func() time.Time { return time.Now().Add(15 * time.Minute) })
	_, err = again.Enrol(ctx, lateURL, late)
	if !errors.As(err, &f) {
		t.Errorf("expired challenge: %v, want a FAILURE CertRep", err)
	}
	logs := h.logs.String()
	for _, want := range []string{`"reason":"challenge used"`, `"reason":"challenge expired"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no refusal with %s in the logs", want)
		}
	}
	for _, secret := range []string{challenge, late} {
		if strings.Contains(logs, secret) {
			t.Error("a challenge is in the logs")
		}
	}
}
