package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPassphrase unlocks the test CA; it reaches Keycard through the
// environment, as the config asks.
const testPassphrase = "correct horse battery staple"

// harness is a Keycard data folder and config in a temporary directory,
// driven through the real CLI (in-process) and, for serve, a real UDP
// listener on loopback.
type harness struct {
	// eapolTimeout is eapol_test's -t in seconds (0: 8, two RADIUS sends).
	eapolTimeout int
	t            *testing.T
	dir          string
	config       string
	port         int    // authentication, on 127.0.0.1
	acct         int    // accounting, on 127.0.0.1
	metrics      string // host:port of /metrics
	portal       int    // the guest portal's HTTPS port, on 127.0.0.1
	probe        int    // its plain-HTTP (captive probe) port
	secret       string
	logs         *syncBuffer
	stopped      chan error
	cancel       context.CancelFunc
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	t.Setenv("KEYCARD_TEST_PASSPHRASE", testPassphrase)
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, config: filepath.Join(dir, "keycard.yaml"), port: freeUDPPort(t), acct: freeUDPPort(t),
		metrics: fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)), portal: freeTCPPort(t), probe: freeTCPPort(t),
		secret: "interop-shared-secret", logs: &syncBuffer{}}
	cfg := fmt.Sprintf(`data_dir: %s/data
ca:
  passphrase_env: KEYCARD_TEST_PASSPHRASE
  radius_server_name: radius.keycard.test
radius:
  auth_listen: ["127.0.0.1:%d"]
  acct_listen: ["127.0.0.1:%d"]
  reject_delay: 0s
metrics:
  listen: %s
portal:
  url: https://127.0.0.1:%d/
  listen: 127.0.0.1:%d
  http_listen: 127.0.0.1:%d
wifi:
  ssid: Keycard Test
log:
  level: debug
  format: json
policies:
  standard: {}
  premium: {vlan: 20, bandwidth_up_kbps: 10000, bandwidth_down_kbps: 50000}
`, dir, h.port, h.acct, h.metrics, h.portal, h.portal, h.probe)
	if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// run runs one keycard command and returns its standard output; it fails
// the test when the command fails.
func (h *harness) run(args ...string) string {
	h.t.Helper()
	out, logs, err := h.exec(args...)
	if err != nil {
		h.t.Fatalf("keycard %s: %v\n%s%s", strings.Join(args, " "), err, out, logs)
	}
	return out
}

// try runs one keycard command and returns all it printed and its error.
func (h *harness) try(args ...string) (string, error) {
	out, logs, err := h.exec(args...)
	return out + logs, err
}

// exec runs one keycard command in-process and returns its standard output,
// its standard error (logs) and its error.
func (h *harness) exec(args ...string) (stdout, stderr string, err error) {
	var out, logs bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &logs
	err = app.RunContext(context.Background(), append([]string{"keycard", "--config", h.config}, args...))
	return out.String(), logs.String(), err
}

// runJSON runs a command with --json and decodes its output into v.
// --json goes right after the command words, before any flag or argument:
// urfave/cli reads flags only before the positional arguments.
func (h *harness) runJSON(v any, args ...string) {
	h.t.Helper()
	i := 0
	for i < len(args) && !strings.HasPrefix(args[i], "-") && !isDigits(args[i]) {
		i++
	}
	withJSON := append(append(append([]string{}, args[:i]...), "--json"), args[i:]...)
	out := h.run(withJSON...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		h.t.Fatalf("keycard %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// serve starts keycard serve in the background and waits until it answers
// a Status-Server from radclient.
func (h *harness) serve() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.stopped = make(chan error, 1)
	app := newApp()
	app.Writer, app.ErrWriter = h.logs, h.logs
	go func() {
		h.stopped <- app.RunContext(ctx, []string{"keycard", "--config", h.config, "serve"})
	}()
	h.t.Cleanup(h.stop)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-h.stopped:
			h.t.Fatalf("keycard serve stopped: %v\n%s", err, h.logs.String())
		default:
		}
		cmd := exec.Command("radclient", "-r", "1", "-t", "1", "-x", fmt.Sprintf("127.0.0.1:%d", h.port), "status", h.secret)
		cmd.Stdin = strings.NewReader("Message-Authenticator = 0x00\n")
		if out, err := cmd.CombinedOutput(); err == nil && strings.Contains(string(out), "Access-Accept") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("keycard serve did not answer Status-Server within 15s\n%s", h.logs.String())
}

// stop shuts serve down with the same path as SIGTERM and checks it exits
// cleanly.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.stopped:
		if err != nil {
			h.t.Errorf("keycard serve exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		h.t.Errorf("keycard serve did not stop within 15s of shutdown")
	}
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// scrape reads keycard's Prometheus metrics.
func (h *harness) scrape() string {
	h.t.Helper()
	resp, err := http.Get("http://" + h.metrics + "/metrics")
	if err != nil {
		h.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// requireTool finds a real peer's binary. In CI a missing tool fails the
// test: the interop tests must run there for real.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; CI must run this test for real (make deps installs it)", name)
		}
		t.Skipf("%s is not installed (make deps installs it)", name)
	}
	return p
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
