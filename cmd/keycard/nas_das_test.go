package main

import (
	"strings"
	"testing"
)

// nas add takes where Disconnect/CoA go and how; nas list --json shows it.
func TestCLINASDASFlags(t *testing.T) {
	h := newHarness(t)
	h.run("ca", "init")

	var wlc nasView
	h.runJSON(&wlc, "nas", "add", "--name", "wlc", "--address", "10.30.0.0/16", "--secret", "s3cret-s3cret-s3cret",
		"--das-address", "10.30.0.2", "--profile", "cisco-wlc", "--coa", "--coa-port", "1799")
	if wlc.DASAddress != "10.30.0.2" || wlc.Profile != "cisco-wlc" || !wlc.CoA || wlc.CoAPort != 1799 {
		t.Errorf("nas add --json = %+v", wlc)
	}
	h.run("nas", "add", "--name", "ap", "--address", "10.40.0.7", "--secret", "s3cret-s3cret-s3cret")

	var list []nasView
	h.runJSON(&list, "nas", "list")
	if len(list) != 2 {
		t.Fatalf("nas list = %+v", list)
	}
	ap, got := list[0], list[1]
	if got.Name != "wlc" || got.DASAddress != "10.30.0.2" || got.Profile != "cisco-wlc" || !got.CoA || got.CoAPort != 1799 {
		t.Errorf("listed wlc = %+v", got)
	}
	if ap.Name != "ap" || ap.DASAddress != "" || ap.Profile != "rfc5176" || ap.CoA || ap.CoAPort != 0 {
		t.Errorf("listed ap (defaults) = %+v", ap)
	}
	text := h.run("nas", "list")
	for _, want := range []string{"10.30.0.2:3799", "cisco-wlc", "port 1799", "accounting source"} {
		if !strings.Contains(text, want) {
			t.Errorf("nas list lacks %q:\n%s", want, text)
		}
	}
}

func TestCLINASDASFlagsRefused(t *testing.T) {
	h := newHarness(t)
	h.run("ca", "init")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown profile", []string{"--profile", "cisco"}, []string{"cisco", "rfc5176", "aruba", "cisco-wlc", "meraki", "ruckus", "mikrotik"}},
		{"DAS address not an address", []string{"--das-address", "wlc.example"}, []string{"--das-address"}},
		{"CoA port without CoA", []string{"--coa-port", "1700"}, []string{"CoA"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"nas", "add", "--name", "x", "--address", "10.50.0.0/24", "--secret", "s3cret-s3cret-s3cret"}, tc.args...)
			_, err := h.try(args...)
			if err == nil {
				t.Fatalf("keycard %s succeeded", strings.Join(args, " "))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	var list []nasView
	h.runJSON(&list, "nas", "list")
	if len(list) != 0 {
		t.Errorf("refused NAS stored: %+v", list)
	}
}
