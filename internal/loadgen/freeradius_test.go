package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lookFreeRADIUS finds Debian's freeradius binary: $FREERADIUS when set
// (as bench/freeradius.sh reads it), else on PATH, else in /usr/sbin, which
// a user's PATH may lack. Missing, the test skips, except on CI (CI=true),
// where the tool is installed on purpose and a skip would hide a broken
// setup.
func lookFreeRADIUS(t *testing.T) string {
	t.Helper()
	candidates := []string{"freeradius", "/usr/sbin/freeradius"}
	if p := os.Getenv("FREERADIUS"); p != "" {
		candidates = []string{p}
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("freeradius is not installed, and CI=true: install Debian's freeradius package")
	}
	t.Skip("freeradius is not installed (apt-get install freeradius)")
	return ""
}

// freePort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// startFreeRADIUS runs bench/freeradius.sh with pki's server certificate and
// waits until the server is ready; it is stopped when the test ends.
func startFreeRADIUS(t *testing.T, bin string, pki *testPKI, port int, secret string) (logFile string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "freeradius")
	script, err := filepath.Abs("../../bench/freeradius.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, "--dir", dir, "--port", strconv.Itoa(port), "--secret", secret,
		"--cert", pki.ServerCert, "--key", pki.ServerKey, "--ca", pki.CAFile, "--threads", "2")
	cmd.Env = append(os.Environ(), "FREERADIUS="+bin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	logFile = filepath.Join(dir, "log", "radius.log")
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("freeradius output:\n%s\nradius.log (tail):\n%s", out.String(), tail(string(b), 60))
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(logFile)
		if bytes.Contains(b, []byte("Ready to process requests")) {
			return logFile
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("freeradius exited before it was ready: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("freeradius not ready after 15s")
		}
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

// TestFreeRADIUS runs the load generator against a real FreeRADIUS 3.2 with
// a throwaway CA: every authentication must end in an Access-Accept whose
// Message-Authenticator and MS-MPPE keys check out against the keys the
// supplicant derived, for TLS 1.2 and TLS 1.3, full and resumed.
func TestFreeRADIUS(t *testing.T) {
	bin := lookFreeRADIUS(t)
	pki := newTestPKI(t, t.TempDir())
	port := freePort(t)
	const secret = "loadgen-interop-secret"
	startFreeRADIUS(t, bin, pki, port, secret)

	// What FreeRADIUS 3.2.1 resumes, as measured:
	//   - TLS 1.2: nothing. It turns session tickets off and caches by
	//     session ID, and crypto/tls clients resume only from tickets.
	//   - TLS 1.3: every other authentication. A resumed session gets new
	//     tickets, but FreeRADIUS persists the session's attributes (.vps in
	//     persist_dir) only for sessions from a full handshake, so the next
	//     attempt logs "Couldn't open ....vps" and falls back to a full
	//     handshake.
	// Either way, no authentication may fail.
	tests := []struct {
		name       string
		version    uint16
		resume     bool
		count      int
		minResumed int
	}{
		{"TLS 1.2", tls.VersionTLS12, false, 50, 0},
		{"TLS 1.3", tls.VersionTLS13, false, 50, 0},
		{"TLS 1.2 resumed", tls.VersionTLS12, true, 20, 0},
		{"TLS 1.3 resumed", tls.VersionTLS13, true, 20, 20/2 - 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			const workers = 2
			rep, err := Run(ctx, Options{
				Server:      "127.0.0.1:" + strconv.Itoa(port),
				Secret:      []byte(secret),
				Concurrency: workers,
				Count:       tt.count,
				Duration:    45 * time.Second,
				TLSVersion:  tt.version,
				Certificate: pki.Client,
				RootCAs:     pki.Roots,
				ServerName:  testServerName,
				Resume:      tt.resume,
				Timeout:     3 * time.Second,
				// Debian's FreeRADIUS 3.2.1 predates the BlastRADIUS fix
				// and puts Message-Authenticator last; it must still be
				// present and valid on every answer.
				AllowLateMessageAuthenticator: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			_ = rep.WriteText(&text)
			t.Logf("FreeRADIUS, %s:\n%s", tt.name, text.String())
			if rep.Auths != tt.count || rep.FailureCount() != 0 {
				t.Fatalf("%d of %d authentications succeeded; failures %v; first: %s", rep.Auths, tt.count, rep.Failures, rep.FirstError)
			}
			if rep.Resumed < tt.minResumed {
				t.Errorf("resumed %d of %d, want at least %d", rep.Resumed, tt.count, tt.minResumed)
			}
			if !tt.resume && rep.Resumed != 0 {
				t.Errorf("resumed %d without a session cache", rep.Resumed)
			}
		})
	}
}
