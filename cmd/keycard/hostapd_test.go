package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// This test puts a real access point and a real guest device on either end
// of a cable and lets them do 802.1X through Keycard: Debian's hostapd
// (driver=wired) on one end of a veth pair in the root namespace, using
// Keycard on loopback as its RADIUS server, and wpa_supplicant
// (driver=wired, EAP-TLS with a certificate enrolled through the CLI) on
// the other end, inside a network namespace of its own. EAPOL is layer 2,
// so the cable needs no addresses.

// hostapdWait bounds every wait on hostapd or wpa_supplicant.
const hostapdWait = 20 * time.Second

// What wpa_supplicant reports when EAP ends either way.
const (
	eapSuccess = "CTRL-EVENT-EAP-SUCCESS"
	eapFailure = "CTRL-EVENT-EAP-FAILURE"
)

func TestHostapdWiredEAPTLS(t *testing.T) {
	requireRoot(t)
	requireTool(t, "hostapd")
	requireTool(t, "wpa_supplicant")
	requireTool(t, "wpa_cli")
	requireTool(t, "ip")
	requireTool(t, "radclient") // h.serve waits on a Status-Server

	h := newHarness(t)
	h.run("ca", "init")
	h.run("nas", "add", "--name", "lobby-ap", "--address", "127.0.0.1", "--secret", h.secret)
	var stay createdStay
	h.runJSON(&stay, "stay", "create", "--room", "204", "--guest", "Ada Lovelace", "--check-out", "3h")
	dev := h.enrol(stay.ID)
	h.serve()

	lan := newWiredLAN(t)
	ap := lan.startHostapd(h)

	// The guest plugs in: hostapd asks Keycard, Keycard accepts, the port
	// opens.
	guest := lan.startSupplicant(dev, "guest")
	if got := guest.waitForAny(eapSuccess, eapFailure); got != eapSuccess {
		t.Fatalf("wpa_supplicant: want %s, got %q\n%s\n%s\n--- keycard log ---\n%s", eapSuccess, got, guest.log(), ap.log(), h.logs.String())
	}
	if !guest.waitFor("CTRL-EVENT-CONNECTED") {
		t.Fatalf("wpa_supplicant did not reach COMPLETED within %v\n%s", hostapdWait, guest.log())
	}
	if st := guest.status(); st["wpa_state"] != "COMPLETED" || st["suppPortStatus"] != "Authorized" {
		t.Errorf("guest: wpa_state = %q, suppPortStatus = %q; want COMPLETED, Authorized", st["wpa_state"], st["suppPortStatus"])
	}
	// hostapd's own words: the port is open for this station.
	station := strings.ToLower(lan.staMAC)
	for _, marker := range []string{
		"AP-STA-CONNECTED " + station,
		station + " IEEE 802.1X: authorizing port",
		station + " IEEE 802.1X: authenticated - EAP type: 13 (TLS)",
	} {
		if !ap.waitFor(marker) {
			t.Fatalf("hostapd did not log %q within %v\n%s", marker, hostapdWait, ap.log())
		}
	}
	accept := lastDecision(h.logs.String(), "accept")
	for _, want := range []string{
		fmt.Sprintf(`"device":%d`, dev.Device.ID),
		fmt.Sprintf(`"stay":%d`, stay.ID),
		`"nas":"lobby-ap"`,
		fmt.Sprintf(`"calling_station":%q`, callingStationID(lan.staMAC)),
	} {
		if !strings.Contains(accept, want) {
			t.Errorf("keycard's accept line lacks %s:\n%s", want, accept)
		}
	}
	guest.stop()

	// The front desk revokes the device; when it plugs in again, Keycard
	// refuses it and the port stays shut.
	h.run("device", "revoke", "--reason", "guest reported the laptop stolen", strconv.FormatInt(dev.Device.ID, 10))
	ap.mark()
	again := lan.startSupplicant(dev, "revoked")
	if got := again.waitForAny(eapSuccess, eapFailure); got != eapFailure {
		t.Fatalf("revoked device: wpa_supplicant: want %s, got %q\n%s\n%s\n--- keycard log ---\n%s", eapFailure, got, again.log(), ap.log(), h.logs.String())
	}
	if !ap.waitFor(station + " IEEE 802.1X: authentication failed - EAP type: 13 (TLS)") {
		t.Errorf("hostapd did not log the revoked device's failed authentication within %v\n%s", hostapdWait, ap.log())
	}
	if again.contains(eapSuccess) || again.contains("CTRL-EVENT-CONNECTED") || ap.contains(station+" IEEE 802.1X: authorizing port") {
		t.Errorf("the revoked device was let in\n%s\n%s", again.log(), ap.log())
	}
	if st := again.status(); st["wpa_state"] == "COMPLETED" || st["suppPortStatus"] != "Unauthorized" || st["EAP state"] != "FAILURE" {
		t.Errorf("revoked device: wpa_state = %q, suppPortStatus = %q, EAP state = %q; want not COMPLETED, Unauthorized, FAILURE",
			st["wpa_state"], st["suppPortStatus"], st["EAP state"])
	}
	reject := lastDecision(h.logs.String(), "reject")
	for _, want := range []string{`"reason":"revoked"`, fmt.Sprintf(`"device":%d`, dev.Device.ID)} {
		if !strings.Contains(reject, want) {
			t.Errorf("keycard's reject line lacks %s:\n%s", want, reject)
		}
	}

	// Keycard answers only Access-Requests with a valid
	// Message-Authenticator and drops the rest; hostapd's were all
	// answered.
	if m := regexp.MustCompile(`keycard_radius_dropped_total\{[^}]*\} [1-9].*`).FindAllString(h.scrape(), -1); len(m) > 0 {
		t.Errorf("keycard dropped packets from hostapd:\n%s", strings.Join(m, "\n"))
	}
}

// requireRoot skips a test that needs root (network namespaces, veth
// links); in CI, not being root fails it: the test must run there for real.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this test needs root (network namespaces and veth links); CI must run it for real")
	}
	t.Skip("this test needs root (network namespaces and veth links)")
}

// wiredLAN is a veth cable: apIf in the root namespace, staIf in the
// namespace ns. Everything is removed when the test ends.
type wiredLAN struct {
	t      *testing.T
	dir    string
	ns     string
	apIf   string
	staIf  string
	staMAC string
}

func newWiredLAN(t *testing.T) *wiredLAN {
	t.Helper()
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(b[:])
	// Interface names are at most 15 bytes.
	l := &wiredLAN{t: t, dir: t.TempDir(), ns: "keycard-" + id, apIf: "kc" + id + "ap", staIf: "kc" + id + "sta"}
	ipCmd(t, "netns", "add", l.ns)
	t.Cleanup(func() { ipQuiet("netns", "del", l.ns) })
	ipCmd(t, "link", "add", l.apIf, "type", "veth", "peer", "name", l.staIf)
	t.Cleanup(func() { ipQuiet("link", "del", l.apIf) })
	ipCmd(t, "link", "set", l.staIf, "netns", l.ns)
	ipCmd(t, "link", "set", l.apIf, "up")
	ipCmd(t, "-n", l.ns, "link", "set", l.staIf, "up")

	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(ipCmd(t, "-n", l.ns, "-j", "link", "show", "dev", l.staIf)), &links); err != nil || len(links) != 1 {
		t.Fatalf("cannot read %s's MAC address: %v", l.staIf, err)
	}
	l.staMAC = links[0].Address
	return l
}

// newStation gives the guest's end of the cable a new random MAC address,
// so that hostapd meets a new device: after an EAP-Failure hostapd holds a
// station in its quiet period (60 s) and ignores it.
func (l *wiredLAN) newStation() {
	l.t.Helper()
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		l.t.Fatal(err)
	}
	mac := fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4])
	ipCmd(l.t, "-n", l.ns, "link", "set", "dev", l.staIf, "address", mac)
	l.staMAC = mac
}

// startHostapd runs hostapd as the access point on apIf, with Keycard as
// its RADIUS authentication server and a DAS (RFC 5176) port open for
// Keycard's Disconnect-Request.
func (l *wiredLAN) startHostapd(h *harness) *peer {
	l.t.Helper()
	return l.startAP(append(l.hostapdConf(h),
		fmt.Sprintf("radius_das_port=%d", freeUDPPort(l.t)),
		"radius_das_client=127.0.0.1 "+h.secret,
	))
}

// hostapdConf is the access point's configuration: 802.1X on the wired
// port, Keycard on loopback as the authentication server.
func (l *wiredLAN) hostapdConf(h *harness) []string {
	return []string{
		"interface=" + l.apIf,
		"driver=wired",
		"logger_stdout=-1",
		"logger_stdout_level=1",
		"ieee8021x=1",
		"eapol_version=2",
		"use_pae_group_addr=1",
		"eap_reauth_period=0",
		"nas_identifier=lobby-ap",
		"own_ip_addr=127.0.0.1",
		"auth_server_addr=127.0.0.1",
		fmt.Sprintf("auth_server_port=%d", h.port),
		"auth_server_shared_secret=" + h.secret,
	}
}

// startAP runs hostapd with conf and waits until it is up.
func (l *wiredLAN) startAP(conf []string) *peer {
	l.t.Helper()
	p := l.start("hostapd", strings.Join(conf, "\n")+"\n", func(confFile, logFile string) *exec.Cmd {
		return exec.Command("hostapd", "-d", "-t", "-f", logFile, confFile)
	})
	if !p.waitFor(l.apIf + ": AP-ENABLED") {
		l.t.Fatalf("hostapd did not start within %v\n%s", hostapdWait, p.log())
	}
	return p
}

// startSupplicant runs wpa_supplicant as the guest device on staIf, inside
// the namespace, with the device's certificate.
func (l *wiredLAN) startSupplicant(dev enrolled, name string) *peer {
	l.t.Helper()
	ctrl := filepath.Join(l.dir, name+"-ctrl")
	conf := strings.Join([]string{
		"ctrl_interface=" + ctrl,
		"ap_scan=0",
		"eapol_version=2",
		"network={",
		"  key_mgmt=IEEE8021X",
		"  eapol_flags=0",
		"  eap=TLS",
		`  identity="guest-device"`,
		fmt.Sprintf("  ca_cert=%q", dev.Files.CA),
		fmt.Sprintf("  client_cert=%q", dev.Files.Certificate),
		fmt.Sprintf("  private_key=%q", dev.Files.Key),
		`  domain_match="radius.keycard.test"`,
		"}",
	}, "\n") + "\n"
	p := l.start(name, conf, func(confFile, logFile string) *exec.Cmd {
		return exec.Command("ip", "netns", "exec", l.ns, "wpa_supplicant", "-D", "wired", "-i", l.staIf, "-c", confFile, "-d", "-t", "-f", logFile)
	})
	p.ctrl, p.ifname = ctrl, l.staIf
	return p
}

func (l *wiredLAN) start(name, conf string, command func(confFile, logFile string) *exec.Cmd) *peer {
	l.t.Helper()
	confFile := filepath.Join(l.dir, name+".conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		l.t.Fatal(err)
	}
	p := &peer{t: l.t, name: name, logFile: filepath.Join(l.dir, name+".log"), done: make(chan struct{})}
	p.cmd = command(confFile, p.logFile)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	// If the test binary dies without running its cleanups (a -timeout
	// panic), the peer dies with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		l.t.Fatalf("%s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	l.t.Cleanup(p.stop)
	return p
}

// peer is a running hostapd or wpa_supplicant, read through its debug log
// file (both flush it line by line; their stdout is block-buffered).
type peer struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	logFile string
	out     syncBuffer // stdout and stderr: errors before the log opens
	done    chan struct{}
	from    int // waitFor and contains look at the log from here on
	ctrl    string
	ifname  string
}

// waitFor reports whether marker appears in the log within hostapdWait.
func (p *peer) waitFor(marker string) bool {
	return p.waitForAny(marker) == marker
}

// waitForAny returns the first of markers found in the log, or "" when
// none appears within hostapdWait or the peer exits first.
func (p *peer) waitForAny(markers ...string) string {
	deadline := time.Now().Add(hostapdWait)
	for {
		exited := false
		select {
		case <-p.done:
			exited = true
		default:
		}
		for _, m := range markers {
			if p.contains(m) {
				return m
			}
		}
		if exited || time.Now().After(deadline) {
			return ""
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *peer) contains(marker string) bool {
	b, _ := os.ReadFile(p.logFile)
	if p.from > len(b) {
		return false
	}
	return strings.Contains(string(b[p.from:]), marker)
}

// mark makes later waits look only at what is logged from now on.
func (p *peer) mark() {
	b, _ := os.ReadFile(p.logFile)
	p.from = len(b)
}

// log is the tail of what the peer printed, for failure messages.
func (p *peer) log() string {
	b, _ := os.ReadFile(p.logFile)
	return fmt.Sprintf("--- %s ---\n%s%s", p.name, p.out.String(), tail(string(b), 80))
}

// status asks wpa_supplicant for its state over its control socket.
func (p *peer) status() map[string]string {
	p.t.Helper()
	out, err := exec.Command("wpa_cli", "-p", p.ctrl, "-i", p.ifname, "status").CombinedOutput()
	if err != nil {
		p.t.Fatalf("wpa_cli status: %v\n%s", err, out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// stop ends the peer with SIGTERM (SIGKILL after a while) and waits for it.
func (p *peer) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// callingStationID is how hostapd sends a MAC in Calling-Station-Id.
func callingStationID(mac string) string {
	return strings.ToUpper(strings.ReplaceAll(mac, ":", "-"))
}

// ipCmd runs ip(8) and fails the test when it fails.
func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ipQuiet runs ip(8) during cleanup, where the link may already be gone.
func ipQuiet(args ...string) {
	exec.Command("ip", args...).Run()
}
