package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A mistyped --config must not quietly make an empty Keycard elsewhere.
func TestCLIRefusesToCreateADatabase(t *testing.T) {
	h := newHarness(t)
	db := filepath.Join(h.dir, "data", "keycard.db")
	for _, args := range [][]string{
		{"stay", "list"},
		{"stay", "create", "--room", "1", "--guest", "X", "--check-out", "1h"},
		{"session", "list"},
		{"nas", "list"},
		{"serve"},
	} {
		out, err := h.try(args...)
		if err == nil {
			t.Errorf("keycard %s on a config with no database succeeded:\n%s", strings.Join(args, " "), out)
			continue
		}
		for _, want := range []string{db, h.config, "ca init"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("keycard %s: error %q does not name %q", strings.Join(args, " "), err, want)
			}
		}
		if _, err := os.Stat(db); err == nil {
			t.Fatalf("keycard %s created %s", strings.Join(args, " "), db)
		}
		if _, err := os.Stat(filepath.Join(h.dir, "data")); err == nil {
			t.Fatalf("keycard %s created the data folder", strings.Join(args, " "))
		}
	}
	// Setting Keycard up may create it.
	h.run("ca", "init")
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("ca init made no database: %v", err)
	}
	h.run("stay", "list")
}

// stay list shows the devices enrolled out of the cap, and an admin
// command prints its result once: no structured log line echoes the change
// unless --verbose asks for it.
func TestCLIStayListAndQuietOutput(t *testing.T) {
	h := newHarness(t)
	h.run("ca", "init")
	var stay createdStay
	h.runJSON(&stay, "stay", "create", "--room", "12", "--guest", "Ada", "--check-out", "2h", "--max-devices", "3")
	h.enrol(stay.ID)
	revoked := h.enrol(stay.ID)
	h.run("device", "revoke", "--reason", "lost", strconv.FormatInt(revoked.Device.ID, 10))

	out := h.run("stay", "list")
	if !strings.Contains(out, "1/3") {
		t.Errorf("stay list does not show 1 of 3 devices enrolled:\n%s", out)
	}
	var list []stayView
	h.runJSON(&list, "stay", "list")
	if len(list) != 1 || list[0].Enrolled == nil || *list[0].Enrolled != 1 || list[0].MaxDevices != 3 {
		t.Errorf("stay list --json = %+v, want devices_enrolled 1 of max_devices 3", list)
	}

	stdout, stderr, err := h.exec("stay", "create", "--room", "14", "--guest", "Grace", "--check-out", "2h")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "Voucher code:") || strings.Contains(stderr, "stay created") {
		t.Errorf("stay create printed\nstdout: %s\nstderr: %s\nwant the result once on stdout and no log line", stdout, stderr)
	}
	_, stderr, err = h.exec("--verbose", "stay", "create", "--room", "15", "--guest", "Alan", "--check-out", "2h")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "stay created") {
		t.Errorf("--verbose: no structured log line on stderr: %q", stderr)
	}
}
