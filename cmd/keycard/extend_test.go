package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEAPOLAfterExtension is the guest whose stay was extended: the device
// enrolled for the stay as first booked, its certificate's NotAfter (the
// old check-out) has passed, and it still gets in, without enrolling
// again, until the new check-out; revoking it still shuts it out.
//
// This test waits for the certificate to expire (about four seconds): the
// supplicant and the server both use the real clock, and the certificate's
// end is signed into it.
func TestEAPOLAfterExtension(t *testing.T) {
	requireTool(t, "eapol_test")
	requireTool(t, "radclient")
	h := newHarness(t)
	h.run("ca", "init")
	secretFile := filepath.Join(h.dir, "nas-secret")
	if err := os.WriteFile(secretFile, []byte(h.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.run("nas", "add", "--name", "lobby-ap", "--address", "127.0.0.1", "--secret-file", secretFile)
	// Serve first: the stay below ends within seconds, and the extension
	// is made while the server runs, as the front desk would.
	h.serve()

	var stay createdStay
	h.runJSON(&stay, "stay", "create", "--room", "512", "--guest", "Alan Turing", "--check-out", "4s")
	dev := h.enrol(stay.ID)
	cert := readCertificate(t, dev.Files.Certificate)
	if !cert.NotAfter.Equal(stay.CheckOut) {
		t.Fatalf("certificate ends %v, want the check-out %v", cert.NotAfter, stay.CheckOut)
	}
	out := h.run("stay", "extend", "--check-out", "2h", strconv.FormatInt(stay.ID, 10))
	if !strings.Contains(out, "keep working until the new check-out") {
		t.Errorf("stay extend does not say the devices keep working:\n%s", out)
	}
	var extended createdStay
	h.runJSON(&extended, "stay", "show", strconv.FormatInt(stay.ID, 10))
	if !extended.CheckOut.After(stay.CheckOut.Add(time.Hour)) {
		t.Fatalf("extended check-out = %v, want about 2h from now", extended.CheckOut)
	}

	// Wait for the certificate to expire.
	for !time.Now().After(cert.NotAfter) {
		time.Sleep(min(time.Until(cert.NotAfter)+time.Millisecond, 100*time.Millisecond))
	}

	for _, phase1 := range []string{"tls_disable_tlsv1_3=1", "tls_disable_tlsv1_3=0"} {
		t.Run("accepted "+phase1, func(t *testing.T) {
			before := time.Now()
			if !before.After(cert.NotAfter) {
				t.Fatalf("the certificate (NotAfter %v) has not expired at %v: this would not test the extension", cert.NotAfter, before)
			}
			res := h.eapolDevice(dev, fmt.Sprintf("phase1=%q", phase1))
			after := time.Now()
			if !res.success || !res.mppeOK {
				t.Fatalf("eapol_test: success=%v mppeOK=%v\n%s\n--- keycard log ---\n%s", res.success, res.mppeOK, tail(res.output, 60), h.logs.String())
			}
			// Session-Timeout is the seconds left in the extended stay
			// (± 1 s), not the certificate's end, which has passed.
			m := sessionTimeoutRE.FindAllStringSubmatch(res.output, -1)
			if len(m) == 0 {
				t.Fatalf("no Session-Timeout in the Access-Accept\n%s", tail(res.output, 60))
			}
			got, _ := strconv.Atoi(m[len(m)-1][1])
			hi := int(extended.CheckOut.Sub(before).Seconds()) + 1
			lo := int(extended.CheckOut.Sub(after).Seconds()) - 1
			if got < lo || got > hi {
				t.Errorf("Session-Timeout = %d, want seconds left in the extended stay: %d..%d", got, lo, hi)
			}
			line := lastDecision(h.logs.String(), "accept")
			if want := fmt.Sprintf(`"device":%d`, dev.Device.ID); !strings.Contains(line, want) {
				t.Errorf("keycard's accept line lacks %s:\n%s", want, line)
			}
		})
	}

	h.run("device", "revoke", "--reason", "guest reported the phone stolen", strconv.FormatInt(dev.Device.ID, 10))
	res := h.eapolDevice(dev)
	if res.success {
		t.Fatalf("eapol_test succeeded after the device was revoked\n%s", tail(res.output, 40))
	}
	if !strings.Contains(res.output, "RADIUS message: code=3 (Access-Reject)") {
		t.Errorf("no Access-Reject reached eapol_test\n%s", tail(res.output, 40))
	}
	if line := lastDecision(h.logs.String(), "reject"); !strings.Contains(line, `"reason":"revoked"`) {
		t.Errorf("keycard's reject line does not give reason \"revoked\":\n%s", line)
	}
}

// readCertificate reads the first certificate of a PEM file (the device's
// own, before its chain).
func readCertificate(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM certificate", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return cert
}
