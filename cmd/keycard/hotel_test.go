package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The hotel in a box: a real access point (hostapd, driver=wired, Keycard
// as its authentication AND accounting server, its DAS port open with
// Event-Timestamp and Message-Authenticator required) and real guest
// devices (wpa_supplicant in a network namespace) on a veth cable, with
// Keycard serving as a process of its own and the front desk's commands run
// as other processes, as in a hotel. Each step asserts what the hotel
// relies on: the device's session is known, an ended stay ends on the air,
// at check-out without anyone's help too, and accounting that was
// acknowledged survives a crash.

// hotel is the running set-up.
type hotel struct {
	t       *testing.T
	h       *harness
	lan     *wiredLAN
	ap      *peer
	ctrl    string // hostapd's control socket folder
	serve   *server
	station string // the guest's MAC as hostapd logs it
}

func newHotel(t *testing.T) *hotel {
	t.Helper()
	requireRoot(t)
	for _, tool := range []string{"hostapd", "hostapd_cli", "wpa_supplicant", "wpa_cli", "ip", "radclient"} {
		requireTool(t, tool)
	}
	h := newHarness(t)
	h.run("ca", "init")
	das := freeUDPPort(t)
	h.run("nas", "add", "--name", "lobby-ap", "--address", "127.0.0.1", "--secret", h.secret, "--das-port", strconv.Itoa(das))
	ho := &hotel{t: t, h: h, lan: newWiredLAN(t)}
	ho.serve = h.serveProcess("serve")
	ho.ctrl = filepath.Join(ho.lan.dir, "hostapd-ctrl")
	ho.ap = ho.lan.startAP(append(ho.lan.hostapdConf(h),
		"ctrl_interface="+ho.ctrl,
		"acct_server_addr=127.0.0.1",
		fmt.Sprintf("acct_server_port=%d", h.acct),
		"acct_server_shared_secret="+h.secret,
		fmt.Sprintf("radius_das_port=%d", das),
		"radius_das_client=127.0.0.1 "+h.secret,
		"radius_das_time_window=300",
		"radius_das_require_event_timestamp=1",
		"radius_das_require_message_authenticator=1",
	))
	return ho
}

// sessionEntry is what `keycard session list --json` prints of a session.
type sessionEntry struct {
	ID               int64      `json:"id"`
	AcctSessionID    string     `json:"acct_session_id"`
	Stay             int64      `json:"stay"`
	Device           int64      `json:"device"`
	NAS              string     `json:"nas"`
	CallingStationID string     `json:"calling_station_id"`
	FramedIP         string     `json:"framed_ip"`
	StartedAt        time.Time  `json:"started_at"`
	StoppedAt        *time.Time `json:"stopped_at"`
	InputOctets      uint64     `json:"input_octets"`
	OutputOctets     uint64     `json:"output_octets"`
	InputPackets     uint64     `json:"input_packets"`
	OutputPackets    uint64     `json:"output_packets"`
	SessionSeconds   int64      `json:"session_seconds"`
	TerminateCause   string     `json:"terminate_cause"`
	DisconnectAt     *time.Time `json:"disconnect_at"`
	Outcome          string     `json:"disconnect_outcome"`
}

// sessions runs `keycard session list --json` (with extra flags) as a
// separate process.
func (ho *hotel) sessions(flags ...string) []sessionEntry {
	ho.t.Helper()
	args := append([]string{"session", "list", "--json"}, flags...)
	out := ho.h.cli(args...)
	var list []sessionEntry
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		ho.t.Fatalf("session list --json: %v\n%s", err, out)
	}
	return list
}

// waitSession polls the session list until match finds a session.
func (ho *hotel) waitSession(within time.Duration, all bool, match func(sessionEntry) bool) (sessionEntry, bool) {
	ho.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var flags []string
		if all {
			flags = append(flags, "--all")
		}
		for _, s := range ho.sessions(flags...) {
			if match(s) {
				return s, true
			}
		}
		if time.Now().After(deadline) {
			return sessionEntry{}, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// connect plugs a device in and waits until hostapd opened its port and
// Keycard knows its session (hostapd's Accounting-Start).
func (ho *hotel) connect(dev enrolled, name string) (*peer, sessionEntry) {
	ho.t.Helper()
	ho.lan.newStation() // each guest device is a device of its own
	ho.station = strings.ToLower(ho.lan.staMAC)
	ho.ap.mark()
	guest := ho.lan.startSupplicant(dev, name)
	if got := guest.waitForAny(eapSuccess, eapFailure); got != eapSuccess {
		ho.t.Fatalf("%s: wpa_supplicant: want %s, got %q\n%s\n%s\n--- keycard ---\n%s", name, eapSuccess, got, guest.log(), ho.ap.log(), tail(ho.serve.log(), 40))
	}
	if !ho.ap.waitFor(ho.station + " IEEE 802.1X: authorizing port") {
		ho.t.Fatalf("%s: hostapd did not open the port\n%s", name, ho.ap.log())
	}
	if st := ho.stationInfo(); !strings.Contains(st, "[AUTHORIZED]") {
		ho.t.Fatalf("%s: hostapd does not show the station authorized:\n%s", name, st)
	}
	sess, ok := ho.waitSession(10*time.Second, false, func(s sessionEntry) bool {
		return s.Device == dev.Device.ID && s.StoppedAt == nil
	})
	if !ok {
		ho.t.Fatalf("%s: no open session for device %d in keycard session list within 10s\n%s\n--- keycard ---\n%s",
			name, dev.Device.ID, ho.ap.log(), tail(ho.serve.log(), 40))
	}
	return guest, sess
}

// station asks hostapd, by its control interface, what it knows of the
// guest's station ("FAIL" when it knows none).
func (ho *hotel) stationInfo() string {
	ho.t.Helper()
	out, err := exec.Command("hostapd_cli", "-p", ho.ctrl, "-i", ho.lan.apIf, "sta", ho.station).CombinedOutput()
	if err != nil {
		ho.t.Fatalf("hostapd_cli sta: %v\n%s", err, out)
	}
	return string(out)
}

// waitDropped waits until hostapd has dropped the guest (its station is
// gone, which hostapd logs as AP-STA-DISCONNECTED) and Keycard has closed
// the session with its usage (hostapd's Accounting-Stop); it returns the
// closed session.
func (ho *hotel) waitDropped(sess sessionEntry, within time.Duration, what string) sessionEntry {
	ho.t.Helper()
	start := time.Now()
	if !ho.ap.waitFor("AP-STA-DISCONNECTED " + ho.station) {
		ho.t.Fatalf("%s: hostapd did not drop the station\n%s\n--- keycard ---\n%s", what, ho.ap.log(), tail(ho.serve.log(), 40))
	}
	if took := time.Since(start); took > within {
		ho.t.Errorf("%s: hostapd dropped the station after %v, want within %v", what, took.Round(time.Millisecond), within)
	}
	if st := ho.stationInfo(); strings.Contains(st, "[AUTHORIZED]") {
		ho.t.Errorf("%s: hostapd still has the station's port authorized:\n%s", what, st)
	}
	closed, ok := ho.waitSession(10*time.Second, true, func(s sessionEntry) bool {
		return s.ID == sess.ID && s.StoppedAt != nil
	})
	if !ok {
		ho.t.Fatalf("%s: session %d not closed in Keycard within 10s of the drop\n--- keycard ---\n%s", what, sess.ID, tail(ho.serve.log(), 40))
	}
	// hostapd 2.10 sends no Acct-Terminate-Cause after a Disconnect it
	// acknowledged; then the session's disconnect outcome says why it ended.
	if closed.TerminateCause == "" && !strings.HasPrefix(closed.Outcome, "ack") {
		ho.t.Errorf("%s: closed session says neither why nor that Keycard disconnected it: %+v", what, closed)
	}
	// Usage is what the access point reported: with driver=wired hostapd
	// has no traffic counters, but it reports the time online
	// (Acct-Session-Time), which must match the session's own span. (The
	// octet counters are checked by the accounting tests with radclient
	// and the load generator.)
	span := closed.StoppedAt.Sub(closed.StartedAt)
	if d := time.Duration(closed.SessionSeconds)*time.Second - span; d > 2*time.Second || d < -2*time.Second {
		ho.t.Errorf("%s: session time %ds, but the session ran %v: %+v", what, closed.SessionSeconds, span, closed)
	}
	return closed
}

func TestHotelInABox(t *testing.T) {
	ho := newHotel(t)
	h := ho.h

	// 1. A guest's laptop joins: hostapd's Accounting-Start ties the session
	// to the right stay and device.
	var ada createdStay
	h.runJSON(&ada, "stay", "create", "--room", "204", "--guest", "Ada Lovelace", "--check-out", "3h")
	laptop := h.enrol(ada.ID)
	guest, sess := ho.connect(laptop, "ada-laptop")
	if sess.Stay != ada.ID || sess.NAS != "lobby-ap" || sess.AcctSessionID == "" ||
		!strings.EqualFold(sess.CallingStationID, callingStationID(ho.lan.staMAC)) {
		t.Errorf("step 1: session %+v; want stay %d, NAS lobby-ap, an Acct-Session-Id, Calling-Station-Id %s",
			sess, ada.ID, callingStationID(ho.lan.staMAC))
	}

	// 2. The front desk ends the stay from another process: Keycard sends a
	// Disconnect-Request, hostapd drops the station within 5 s and the
	// session is closed with its usage.
	ho.ap.mark()
	h.cli("stay", "end", strconv.FormatInt(ada.ID, 10))
	closed := ho.waitDropped(sess, 5*time.Second, "step 2 (stay end)")
	if !ho.ap.contains("RADIUS DAS: Found a matching session") {
		t.Errorf("step 2: hostapd did not log a matching Disconnect-Request\n%s", ho.ap.log())
	}
	if !strings.HasPrefix(closed.Outcome, "ack") {
		t.Errorf("step 2: the session's disconnect outcome is %q, want ack (Disconnect-ACK from hostapd)", closed.Outcome)
	}
	guest.stop()

	// 3. The laptop tries again: refused with reason "stay ended".
	ho.ap.mark()
	again := ho.lan.startSupplicant(laptop, "ada-laptop-again")
	if got := again.waitForAny(eapSuccess, eapFailure); got != eapFailure {
		t.Fatalf("step 3: wpa_supplicant: want %s, got %q\n%s", eapFailure, got, again.log())
	}
	if line, ok := ho.serve.waitLog(5*time.Second, `"outcome":"reject"`, `"reason":"stay ended"`, fmt.Sprintf(`"device":%d`, laptop.Device.ID)); !ok {
		t.Errorf("step 3: keycard logged no reject with reason \"stay ended\" for the device\n%s", tail(ho.serve.log(), 30))
	} else if !strings.Contains(line, `"stay":`+strconv.FormatInt(ada.ID, 10)) {
		t.Errorf("step 3: reject line names another stay: %s", line)
	}
	again.stop()

	// 4. A stay whose check-out is 20 s away: its device is dropped at
	// check-out with nobody doing anything.
	var short createdStay
	h.runJSON(&short, "stay", "create", "--room", "101", "--guest", "Brief Visitor", "--check-out", "20s")
	phone := h.enrol(short.ID)
	guest, sess = ho.connect(phone, "brief-phone")
	ho.ap.mark()
	if wait := time.Until(short.CheckOut); wait > 0 {
		time.Sleep(wait)
	}
	ho.waitDropped(sess, 5*time.Second, "step 4 (check-out)")
	// Keycard's scheduler acted at check-out: the departure is logged
	// within a couple of seconds of it. (hostapd also ends the session
	// itself at its Session-Timeout, the seconds left in the stay, so
	// whichever comes first drops the device.)
	if line, ok := ho.serve.waitLog(3*time.Second, "device departed", fmt.Sprintf(`"device":%d`, phone.Device.ID), `"reason":"stay ended"`); !ok {
		t.Errorf("step 4: keycard did not handle the check-out of device %d\n%s", phone.Device.ID, tail(ho.serve.log(), 30))
	} else if at := logTime(t, line); at.Before(short.CheckOut) || at.After(short.CheckOut.Add(2*time.Second)) {
		t.Errorf("step 4: departure handled at %v, check-out was %v: want within 2 s after it", at, short.CheckOut)
	}
	guest.stop()

	// 5. device revoke drops a connected device the same way.
	var grace createdStay
	h.runJSON(&grace, "stay", "create", "--room", "310", "--guest", "Grace Hopper", "--check-out", "3h")
	tablet := h.enrol(grace.ID)
	guest, sess = ho.connect(tablet, "grace-tablet")
	ho.ap.mark()
	h.cli("device", "revoke", "--reason", "reported stolen", strconv.FormatInt(tablet.Device.ID, 10))
	closed = ho.waitDropped(sess, 5*time.Second, "step 5 (device revoke)")
	if !strings.HasPrefix(closed.Outcome, "ack") {
		t.Errorf("step 5: the session's disconnect outcome is %q, want ack", closed.Outcome)
	}
	guest.stop()

	// Nothing hostapd sent was dropped.
	ho.serve.stop()
	for _, l := range strings.Split(ho.serve.log(), "\n") {
		if strings.Contains(l, "packet dropped") {
			t.Errorf("keycard dropped a packet from hostapd: %s", l)
		}
	}
}

// logTime reads the time of one of serve's JSON log lines.
func logTime(t *testing.T, line string) time.Time {
	t.Helper()
	var v struct {
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	return v.Time
}
