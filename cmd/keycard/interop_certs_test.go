package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"time"

	"keycard/ca"
)

// expiredDevice issues, with Keycard's own CA, a device certificate that
// ended an hour ago: the CA is opened with a clock two days back, so no test
// waits for time to pass.
func (h *harness) expiredDevice(stay int64) [3]string {
	h.t.Helper()
	past := time.Now().Add(-48 * time.Hour)
	a, err := ca.Open(context.Background(), filepath.Join(h.dir, "data", "ca"), []byte(testPassphrase), ca.WithNow(func() time.Time { return past }))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.writeDevice("expired", a, a.Root(), time.Now().Add(-time.Hour))
}

// foreignDevice issues a device certificate from a second, unrelated CA.
func (h *harness) foreignDevice() [3]string {
	h.t.Helper()
	other, err := ca.Init(context.Background(), filepath.Join(h.dir, "other-ca"), []byte("another passphrase"), ca.InitOptions{Organization: "Some Other Hotel"})
	if err != nil {
		h.t.Fatal(err)
	}
	own, err := ca.Open(context.Background(), filepath.Join(h.dir, "data", "ca"), []byte(testPassphrase))
	if err != nil {
		h.t.Fatal(err)
	}
	// The supplicant still trusts Keycard's server: only its own
	// certificate is foreign.
	return h.writeDevice("foreign", other, own.Root(), time.Now().Add(3*time.Hour))
}

func (h *harness) writeDevice(name string, issuer *ca.Authority, serverRoot *x509.Certificate, notAfter time.Time) [3]string {
	h.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	cert, err := issuer.IssueDevice(context.Background(), ca.DeviceRequest{PublicKey: key.Public(), CommonName: "device-" + name, NotAfter: notAfter})
	if err != nil {
		h.t.Fatal(err)
	}
	dir := h.t.TempDir()
	files := [3]string{filepath.Join(dir, "device.crt"), filepath.Join(dir, "device.key"), filepath.Join(dir, "ca.pem")}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, err := range []error{
		writePEM(files[0], 0o644, certBlock(cert), certBlock(issuer.Intermediate())),
		writePEM(files[1], 0o600, &pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		writePEM(files[2], 0o644, certBlock(serverRoot)),
	} {
		if err != nil {
			h.t.Fatal(err)
		}
	}
	return files
}
