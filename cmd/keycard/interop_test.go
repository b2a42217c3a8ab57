package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests start Keycard for real and drive it with wpa_supplicant's
// eapol_test (a real supplicant + NAS) and FreeRADIUS's radclient, checking
// what a guest relies on: the right device gets in with keys the supplicant
// agrees with, everyone else is refused for the right reason, and packets
// that fail the RADIUS checks get no answer at all.

type enrolled struct {
	Device struct {
		ID       int64  `json:"id"`
		Stay     int64  `json:"stay"`
		Identity string `json:"identity"`
	} `json:"device"`
	Files struct {
		Certificate string `json:"certificate"`
		Key         string `json:"key"`
		CA          string `json:"ca"`
	} `json:"files"`
}

type createdStay struct {
	ID       int64     `json:"id"`
	CheckOut time.Time `json:"check_out"`
	Voucher  string    `json:"voucher"`
}

// interop sets up a served Keycard with one NAS, one live stay and one
// enrolled device.
func interop(t *testing.T) (*harness, createdStay, enrolled) {
	t.Helper()
	requireTool(t, "eapol_test")
	requireTool(t, "radclient")
	h := newHarness(t)
	h.run("ca", "init")
	// The secret goes in through a file, as an admin keeping it out of the
	// shell history would; eapol_test proves it is the one stored.
	secretFile := filepath.Join(h.dir, "nas-secret")
	if err := os.WriteFile(secretFile, []byte(h.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.run("nas", "add", "--name", "lobby-ap", "--address", "127.0.0.1", "--secret-file", secretFile)
	var stay createdStay
	h.runJSON(&stay, "stay", "create", "--room", "204", "--guest", "Ada Lovelace", "--check-out", "3h", "--policy", "premium")
	dev := h.enrol(stay.ID)
	h.serve()
	return h, stay, dev
}

func (h *harness) enrol(stay int64) enrolled {
	h.t.Helper()
	var e enrolled
	h.runJSON(&e, "device", "enrol", "--stay", strconv.FormatInt(stay, 10), "--out", filepath.Join(h.dir, fmt.Sprintf("device-%d", time.Now().UnixNano())))
	return e
}

// eapolResult is what eapol_test said.
type eapolResult struct {
	output  string
	success bool
	mppeOK  bool
}

// eapol runs eapol_test for one device with extra network-block lines.
func (h *harness) eapol(certFile, keyFile, caFile, secret string, extra ...string) eapolResult {
	h.t.Helper()
	conf := filepath.Join(h.t.TempDir(), "eapol.conf")
	block := []string{
		"network={",
		"  key_mgmt=WPA-EAP",
		"  eap=TLS",
		`  identity="guest-device"`,
		fmt.Sprintf("  ca_cert=%q", caFile),
		fmt.Sprintf("  client_cert=%q", certFile),
		fmt.Sprintf("  private_key=%q", keyFile),
		`  domain_match="radius.keycard.test"`,
	}
	block = append(block, extra...)
	block = append(block, "}")
	if err := os.WriteFile(conf, []byte(strings.Join(block, "\n")+"\n"), 0o600); err != nil {
		h.t.Fatal(err)
	}
	timeout := 8
	if h.eapolTimeout > 0 {
		timeout = h.eapolTimeout
	}
	out, _ := exec.Command("eapol_test", "-c", conf, "-a", "127.0.0.1", "-p", strconv.Itoa(h.port), "-s", secret, "-t", strconv.Itoa(timeout)).CombinedOutput()
	s := string(out)
	lines := strings.Split(strings.TrimSpace(s), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	return eapolResult{
		output:  s,
		success: last == "SUCCESS",
		mppeOK:  strings.Contains(s, "MPPE keys OK: 1  mismatch: 0"),
	}
}

func (h *harness) eapolDevice(d enrolled, extra ...string) eapolResult {
	return h.eapol(d.Files.Certificate, d.Files.Key, d.Files.CA, h.secret, extra...)
}

var sessionTimeoutRE = regexp.MustCompile(`Attribute 27 \(Session-Timeout\) length=6\s+Value: (\d+)`)

func TestEAPOLAccepted(t *testing.T) {
	h, stay, dev := interop(t)
	cases := []struct {
		name    string
		extra   []string
		version string
	}{
		{"TLS 1.2", []string{`phase1="tls_disable_tlsv1_3=1"`}, "1.2"},
		{"TLS 1.3", []string{`phase1="tls_disable_tlsv1_3=0"`}, "1.3"},
		{"TLS 1.3 with 200-byte fragments", []string{`phase1="tls_disable_tlsv1_3=0"`, "fragment_size=200"}, "1.3"},
		{"TLS 1.2 with 200-byte fragments", []string{`phase1="tls_disable_tlsv1_3=1"`, "fragment_size=200"}, "1.2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			res := h.eapolDevice(dev, tc.extra...)
			after := time.Now()
			if !res.success || !res.mppeOK {
				t.Fatalf("eapol_test: success=%v mppeOK=%v\n%s\n--- keycard log ---\n%s", res.success, res.mppeOK, tail(res.output, 60), h.logs.String())
			}
			// Session-Timeout is the seconds left in the stay (± 1 s).
			m := sessionTimeoutRE.FindAllStringSubmatch(res.output, -1)
			if len(m) == 0 {
				t.Fatalf("no Session-Timeout in the Access-Accept\n%s", tail(res.output, 60))
			}
			got, _ := strconv.Atoi(m[len(m)-1][1])
			hi := int(stay.CheckOut.Sub(before).Seconds()) + 1
			lo := int(stay.CheckOut.Sub(after).Seconds()) - 1
			if got < lo || got > hi {
				t.Errorf("Session-Timeout = %d, want seconds left in the stay: %d..%d", got, lo, hi)
			}
			// The stay's premium policy rides along: VLAN 20.
			if !strings.Contains(res.output, "Attribute 81 (Tunnel-Private-Group-Id)") {
				t.Errorf("no Tunnel-Private-Group-Id (VLAN) in the Access-Accept")
			}
			want := fmt.Sprintf(`"tls_version":"TLS %s"`, tc.version)
			if !strings.Contains(lastDecision(h.logs.String(), "accept"), want) {
				t.Errorf("keycard's accept line lacks %s:\n%s", want, lastDecision(h.logs.String(), "accept"))
			}
		})
	}
}

func TestEAPOLRejected(t *testing.T) {
	h, stay, _ := interop(t)

	// A device whose stay ended.
	var second createdStay
	h.runJSON(&second, "stay", "create", "--room", "310", "--guest", "Grace Hopper", "--check-out", "2h")
	ended := h.enrol(second.ID)
	h.run("stay", "end", strconv.FormatInt(second.ID, 10))

	// A revoked device of a live stay.
	revoked := h.enrol(stay.ID)
	h.run("device", "revoke", "--reason", "guest reported the phone stolen", strconv.FormatInt(revoked.Device.ID, 10))

	expired := h.expiredDevice(stay.ID)
	foreign := h.foreignDevice()

	cases := []struct {
		name   string
		cert   [3]string
		reason string
	}{
		{"stay ended", files(ended), "stay ended"},
		{"revoked device", files(revoked), "revoked"},
		{"expired certificate", expired, "certificate expired"},
		{"certificate from another CA", foreign, "wrong CA"},
	}
	for _, tc := range cases {
		for _, phase1 := range []string{"tls_disable_tlsv1_3=1", "tls_disable_tlsv1_3=0"} {
			t.Run(tc.name+" "+phase1, func(t *testing.T) {
				res := h.eapol(tc.cert[0], tc.cert[1], tc.cert[2], h.secret, fmt.Sprintf("phase1=%q", phase1))
				if res.success {
					t.Fatalf("eapol_test succeeded; want a reject\n%s", tail(res.output, 40))
				}
				if !strings.Contains(res.output, "RADIUS message: code=3 (Access-Reject)") {
					t.Errorf("no Access-Reject reached eapol_test\n%s", tail(res.output, 40))
				}
				line := lastDecision(h.logs.String(), "reject")
				if !strings.Contains(line, fmt.Sprintf(`"reason":%q`, tc.reason)) {
					t.Errorf("keycard's reject line does not give reason %q:\n%s", tc.reason, line)
				}
			})
		}
	}
	// Each refusal is counted by reason for the admin's dashboards: two
	// (TLS 1.2 and 1.3) of each.
	metrics := h.scrape()
	for _, tc := range cases {
		want := fmt.Sprintf(`keycard_radius_auth_total{reason=%q,result="reject"} 2`, tc.reason)
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRADIUSDropsUnauthenticated(t *testing.T) {
	h, _, dev := interop(t)
	t.Run("wrong shared secret", func(t *testing.T) {
		res := h.eapol(dev.Files.Certificate, dev.Files.Key, dev.Files.CA, "not-the-secret")
		if res.success {
			t.Fatal("eapol_test succeeded with a wrong shared secret")
		}
		if strings.Contains(res.output, "Received RADIUS message") || !strings.Contains(res.output, "EAPOL test timed out") {
			t.Errorf("a packet with a wrong shared secret was answered; want silence\n%s", tail(res.output, 30))
		}
	})
	t.Run("missing Message-Authenticator", func(t *testing.T) {
		// radclient sends no Message-Authenticator unless asked to.
		cmd := exec.Command("radclient", "-r", "1", "-t", "2", "-x", fmt.Sprintf("127.0.0.1:%d", h.port), "auth", h.secret)
		cmd.Stdin = strings.NewReader("User-Name = \"guest\"\nUser-Password = \"guess\"\n")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "No reply from server") {
			t.Errorf("an Access-Request without Message-Authenticator was answered; want silence (err=%v)\n%s", err, out)
		}
	})
	// Silence is not blindness: each drop is counted by its cause.
	metrics := h.scrape()
	for _, cause := range []string{"bad_message_authenticator", "missing_message_authenticator"} {
		re := regexp.MustCompile(fmt.Sprintf(`keycard_radius_dropped_total\{cause=%q\} ([1-9][0-9]*)`, cause))
		if !re.MatchString(metrics) {
			t.Errorf("drops with cause %s are not counted", cause)
		}
	}
}

func files(e enrolled) [3]string {
	return [3]string{e.Files.Certificate, e.Files.Key, e.Files.CA}
}

// lastDecision finds keycard's last log line for an accept or reject.
func lastDecision(logs, outcome string) string {
	lines := strings.Split(logs, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], fmt.Sprintf(`"outcome":%q`, outcome)) {
			return lines[i]
		}
	}
	return "(no " + outcome + " line in the log)"
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
