package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"keycard/ca"
	"keycard/internal/store"
)

func TestCLIStayRoundTrip(t *testing.T) {
	h := newHarness(t)
	h.run("ca", "init")

	var created createdStay
	h.runJSON(&created, "stay", "create", "--room", "101", "--guest", "Ada Lovelace", "--check-out", "20s")
	if created.ID == 0 || created.Voucher == "" {
		t.Fatalf("stay create --json gave no id or voucher: %+v", created)
	}
	if d := time.Until(created.CheckOut); d < 15*time.Second || d > 21*time.Second {
		t.Errorf("check-out 20s from now is %v away", d)
	}

	var list []stayView
	h.runJSON(&list, "stay", "list")
	if len(list) != 1 || list[0].ID != created.ID || list[0].Room != "101" || list[0].Guest != "Ada Lovelace" {
		t.Fatalf("stay list --json = %+v, want the created stay", list)
	}

	later := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	var extended stayView
	h.runJSON(&extended, "stay", "extend", "--check-out", later.Format(time.RFC3339), strconv.FormatInt(created.ID, 10))
	if !extended.CheckOut.Equal(later) {
		t.Errorf("extended check-out = %v, want %v", extended.CheckOut, later)
	}

	var ended stayView
	h.runJSON(&ended, "stay", "end", strconv.FormatInt(created.ID, 10))
	if ended.EndedAt == nil {
		t.Fatalf("stay end gave no ended_at: %+v", ended)
	}
	h.runJSON(&list, "stay", "list")
	if len(list) != 0 {
		t.Errorf("stay list after end = %+v, want no live stays", list)
	}
	h.runJSON(&list, "stay", "list", "--all")
	if len(list) != 1 || list[0].EndedAt == nil {
		t.Errorf("stay list --all after end = %+v, want the ended stay", list)
	}

	// Every change above is in the audit log, and the chain holds.
	var audit []map[string]any
	h.runJSON(&audit, "audit", "list")
	actions := map[string]bool{}
	for _, a := range audit {
		for k, v := range a {
			if strings.EqualFold(k, "action") {
				actions[v.(string)] = true
			}
		}
	}
	for _, want := range []string{"stay.create", "stay.extend", "stay.end"} {
		if !actions[want] {
			t.Errorf("audit log lacks %s: %v", want, actions)
		}
	}
	h.run("audit", "verify")
}

// Bad input gets one clear error and changes nothing.
func TestCLIBadInputChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.run("ca", "init")
	var stay createdStay
	h.runJSON(&stay, "stay", "create", "--room", "7", "--guest", "Alan Turing", "--check-out", "2d")
	h.run("nas", "add", "--name", "lobby", "--address", "10.20.0.0/24", "--secret", "s3cret-s3cret-s3cret")

	snapshot := func() string {
		var stays, nas, audit json.RawMessage
		h.runJSON(&stays, "stay", "list", "--all")
		h.runJSON(&nas, "nas", "list")
		h.runJSON(&audit, "audit", "list", "--limit", "1000")
		return string(stays) + string(nas) + string(audit)
	}
	notAFolder := filepath.Join(h.dir, "a-file")
	os.WriteFile(notAFolder, nil, 0o600)
	before := snapshot()
	id := strconv.FormatInt(stay.ID, 10)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"check-out before check-in", []string{"stay", "create", "--room", "8", "--guest", "X", "--check-in", "3h", "--check-out", "1h"}, "check-out"},
		{"stay in the past", []string{"stay", "create", "--room", "8", "--guest", "X", "--check-in", "2020-01-01T10:00", "--check-out", "2020-01-02T10:00"}, "past"},
		{"unparseable check-out", []string{"stay", "create", "--room", "8", "--guest", "X", "--check-out", "tomorrowish"}, "--check-out"},
		{"unknown policy", []string{"stay", "create", "--room", "8", "--guest", "X", "--check-out", "1h", "--policy", "platinum"}, "platinum"},
		{"unknown stay id", []string{"stay", "end", "9999"}, "9999"},
		{"extend unknown stay", []string{"stay", "extend", "--check-out", "3d", "9999"}, "9999"},
		{"extend to earlier", []string{"stay", "extend", "--check-out", "1h", id}, "later"},
		{"unknown device id", []string{"device", "revoke", "--reason", "lost", "4242"}, "4242"},
		{"malformed CIDR", []string{"nas", "add", "--name", "bad", "--address", "10.0.0.0/33"}, "10.0.0.0/33"},
		{"host bits in CIDR", []string{"nas", "add", "--name", "bad", "--address", "10.0.0.1/24"}, "10.0.0.0/24"},
		{"duplicate NAS name", []string{"nas", "add", "--name", "lobby", "--address", "10.30.0.0/24"}, "lobby"},
		{"duplicate NAS network", []string{"nas", "add", "--name", "lobby2", "--address", "10.20.0.0/24"}, "10.20.0.0/24"},
		{"NAS for every address", []string{"nas", "add", "--name", "all", "--address", "0.0.0.0/0"}, "every address"},
		{"check-out without an hour", []string{"stay", "create", "--room", "8", "--guest", "X", "--check-out", "2031-01-02"}, "T11:00"},
		{"revoke with the reason after the id", []string{"device", "revoke", "4242"}, "--reason"},
		{"enrol into a file", []string{"device", "enrol", "--stay", id, "--out", filepath.Join(notAFolder, "sub")}, "--out"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.try(tc.args...)
			if err == nil {
				t.Fatalf("keycard %s succeeded; want an error\n%s", strings.Join(tc.args, " "), out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Count(strings.TrimSpace(err.Error()), "\n") > 0 {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	t.Run("wrong CA passphrase", func(t *testing.T) {
		t.Setenv("KEYCARD_TEST_PASSPHRASE", "not the passphrase")
		_, err := h.try("device", "enrol", "--stay", id, "--out", filepath.Join(h.dir, "nope"))
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "passphrase") {
			t.Fatalf("enrol with a wrong CA passphrase: err = %v, want one naming the passphrase", err)
		}
		if _, statErr := os.Stat(filepath.Join(h.dir, "nope")); statErr == nil {
			t.Errorf("a failed enrol left files behind")
		}
	})
	if after := snapshot(); after != before {
		t.Errorf("bad input changed the data:\nbefore %s\nafter  %s", before, after)
	}
}

func TestCLIDeviceEnrolAndBackup(t *testing.T) {
	h := newHarness(t)
	h.run("ca", "init")
	var stay createdStay
	h.runJSON(&stay, "stay", "create", "--room", "12", "--guest", "Edsger Dijkstra", "--check-out", "1d", "--max-devices", "1")
	var e struct {
		enrolled
		PKCS12Password string `json:"pkcs12_password"`
	}
	h.runJSON(&e, "device", "enrol", "--stay", strconv.FormatInt(stay.ID, 10), "--out", filepath.Join(h.dir, "d1"), "--p12")
	for _, f := range []string{e.Files.Certificate, e.Files.Key, e.Files.CA, filepath.Join(h.dir, "d1", "device.p12")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("enrol did not write %s: %v", f, err)
		}
	}
	if e.PKCS12Password == "" {
		t.Errorf("enrol --p12 did not show the PKCS#12 password")
	}
	if st, err := os.Stat(e.Files.Key); err == nil && st.Mode().Perm() != 0o600 {
		t.Errorf("device key mode = %v, want 0600", st.Mode().Perm())
	}
	// The device cap holds for staff enrolment too.
	if _, err := h.try("device", "enrol", "--stay", strconv.FormatInt(stay.ID, 10), "--out", filepath.Join(h.dir, "d2")); err == nil {
		t.Errorf("a second device enrolled past max-devices 1")
	}

	backup := filepath.Join(h.dir, "backup.db")
	h.run("db", "backup", backup)
	h.run("db", "check")
	// The backup is a whole database: point a config at it and read the stay back.
	cfg, _ := os.ReadFile(h.config)
	restored := filepath.Join(h.dir, "restored.yaml")
	os.WriteFile(restored, append(cfg, []byte("database:\n  path: "+backup+"\n")...), 0o600)
	h2 := *h
	h2.config = restored
	var list []stayView
	h2.runJSON(&list, "stay", "list")
	if len(list) != 1 || list[0].ID != stay.ID {
		t.Errorf("the backup does not hold the stay: %+v", list)
	}
}

// An admin with database access who edits or deletes a row of the audit
// log is found out by `keycard audit verify`.
func TestCLIAuditVerifyFindsTampering(t *testing.T) {
	for _, tc := range []struct {
		name, sql, want string
	}{
		{"edited row", `UPDATE audit_log SET actor = 'someone-else' WHERE action = 'stay.extend'`, "changed"},
		{"deleted row", `DELETE FROM audit_log WHERE action = 'stay.extend'`, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.run("ca", "init")
			var stay createdStay
			h.runJSON(&stay, "stay", "create", "--room", "9", "--guest", "Barbara Liskov", "--check-out", "1d")
			id := strconv.FormatInt(stay.ID, 10)
			h.run("stay", "extend", "--check-out", "3d", id)
			h.run("stay", "end", id)
			h.run("audit", "verify")

			db, err := store.Open(context.Background(), filepath.Join(h.dir, "data", "keycard.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			db.Close()
			_, err = h.try("audit", "verify")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("audit verify after an %s: %v, want an error saying %q", tc.name, err, tc.want)
			}
		})
	}
}

// `keycard ca crl` lists revoked devices, signed by the issuing CA.
func TestCLICRL(t *testing.T) {
	h := newHarness(t)
	h.run("ca", "init")
	var stay createdStay
	h.runJSON(&stay, "stay", "create", "--room", "5", "--guest", "Ken Thompson", "--check-out", "1d")
	kept := h.enrol(stay.ID)
	lost := h.enrol(stay.ID)
	h.run("device", "revoke", "--reason", "lost in the lobby", strconv.FormatInt(lost.Device.ID, 10))
	out := filepath.Join(h.dir, "revoked.crl")
	h.run("ca", "crl", "--out", out)

	crl := readCRL(t, out)
	a, err := ca.Open(context.Background(), filepath.Join(h.dir, "data", "ca"), []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(a.Intermediate()); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	serials := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		serials[e.SerialNumber.Text(16)] = true
	}
	if !serials[certSerial(t, lost.Files.Certificate)] {
		t.Errorf("the revoked device is not on the CRL")
	}
	if serials[certSerial(t, kept.Files.Certificate)] {
		t.Errorf("a device in good standing is on the CRL")
	}
}

func readCRL(t *testing.T, path string) *x509.RevocationList {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "X509 CRL" {
		t.Fatalf("%s is not a PEM CRL", path)
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

func certSerial(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.Text(16)
}

// A shared secret can come from a file, out of ps and the shell history.
func TestCLINASSecretFile(t *testing.T) {
	h := newHarness(t)
	h.run("ca", "init")
	file := filepath.Join(h.dir, "secret")
	os.WriteFile(file, []byte("from-a-file-0123456789\n"), 0o600)
	var n nasView
	h.runJSON(&n, "nas", "add", "--name", "pool", "--address", "10.9.0.0/16", "--secret-file", file)
	if n.Secret != "" {
		t.Errorf("a given secret was echoed back: %q", n.Secret)
	}
	if _, err := h.try("nas", "add", "--name", "pool2", "--address", "10.8.0.0/16", "--secret", "x", "--secret-file", file); err == nil {
		t.Error("both --secret and --secret-file were accepted")
	}
	if _, err := h.try("nas", "add", "--name", "pool3", "--address", "10.7.0.0/16", "--secret-file", filepath.Join(h.dir, "missing")); err == nil {
		t.Error("a missing secret file was accepted")
	}
}
