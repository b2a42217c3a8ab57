package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runMainEnv makes the test binary behave as the keycard binary: the tests
// that need Keycard in a process of its own (a CLI command changing what a
// running serve must notice, a kill -9) run themselves with it set.
const runMainEnv = "KEYCARD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// keycardCommand is keycard with args, as a separate process.
func (h *harness) keycardCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"--config", h.config}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	// If the test binary dies without its cleanups, its children die too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// cli runs one keycard command as a separate process and returns its
// standard output; it fails the test when the command fails.
func (h *harness) cli(args ...string) string {
	h.t.Helper()
	var out, errOut bytes.Buffer
	cmd := h.keycardCommand(args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		h.t.Fatalf("keycard %s (separate process): %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// server is keycard serve running as a process of its own.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	logFile string
	done    chan struct{}
}

// serveProcess starts keycard serve as a separate process, logging to a
// file, and waits until it answers a Status-Server.
func (h *harness) serveProcess(name string) *server {
	h.t.Helper()
	s := &server{t: h.t, logFile: filepath.Join(h.dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(s.logFile)
	if err != nil {
		h.t.Fatal(err)
	}
	s.cmd = h.keycardCommand("serve")
	s.cmd.Stdout, s.cmd.Stderr = f, f
	if err := s.cmd.Start(); err != nil {
		f.Close()
		h.t.Fatalf("keycard serve: %v", err)
	}
	go func() { s.cmd.Wait(); f.Close(); close(s.done) }()
	h.t.Cleanup(s.stop)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			h.t.Fatalf("keycard serve exited: %v\n%s", s.cmd.ProcessState, s.log())
		default:
		}
		cmd := exec.Command("radclient", "-r", "1", "-t", "1", "-x", fmt.Sprintf("127.0.0.1:%d", h.port), "status", h.secret)
		cmd.Stdin = strings.NewReader("Message-Authenticator = 0x00\n")
		if out, err := cmd.CombinedOutput(); err == nil && strings.Contains(string(out), "Access-Accept") {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("keycard serve did not answer Status-Server within 20s\n%s", s.log())
	return nil
}

// log is what serve has logged so far.
func (s *server) log() string {
	b, _ := os.ReadFile(s.logFile)
	return string(b)
}

// waitLog waits until serve logs a line containing every one of parts.
func (s *server) waitLog(within time.Duration, parts ...string) (string, bool) {
	deadline := time.Now().Add(within)
	for {
		for _, l := range strings.Split(s.log(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(l, p)
			}
			if all {
				return l, true
			}
		}
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill9 ends serve the hard way (SIGKILL: no shutdown, no flush) and waits.
func (s *server) kill9() {
	s.cmd.Process.Kill()
	<-s.done
}

// stop ends serve with SIGTERM, as an init system does, and checks it
// stopped cleanly.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if !s.cmd.ProcessState.Success() {
			s.t.Errorf("keycard serve exited with %v after SIGTERM\n%s", s.cmd.ProcessState, tail(s.log(), 30))
		}
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		s.t.Errorf("keycard serve did not stop within 15s of SIGTERM")
	}
}
