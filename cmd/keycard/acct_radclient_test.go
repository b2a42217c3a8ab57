package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
)

// These tests send accounting as a real NAS's RADIUS stack does it, with
// FreeRADIUS's radclient: what reaches the database, what is answered,
// and what is dropped and counted.

// acctHarness is a served Keycard (in-process, so h.scrape works) with the
// NAS lobby-ap on 127.0.0.1.
func acctHarness(t *testing.T) *harness {
	t.Helper()
	requireTool(t, "radclient")
	h := newHarness(t)
	h.run("ca", "init")
	h.run("nas", "add", "--name", "lobby-ap", "--address", "127.0.0.1", "--secret", h.secret)
	return h
}

// radclientResult is what radclient made of one Accounting-Request.
type radclientResult struct {
	answered bool   // an Accounting-Response came back and radclient verified it
	rejected string // an answer came back that radclient refused, and why
	output   string
}

// silent says nothing at all came back.
func (r radclientResult) silent() bool { return !r.answered && r.rejected == "" }

// radclientTo sends the Accounting-Request written in attrs (radclient's
// "Attribute = value" lines) to addr. flags go before radclient's
// arguments; without them it tries once and waits half a second.
func radclientTo(t *testing.T, addr, secret, attrs string, flags ...string) radclientResult {
	t.Helper()
	if len(flags) == 0 {
		flags = []string{"-r", "1", "-t", "0.5"}
	}
	cmd := exec.Command("radclient", append(flags, "-x", addr, "acct", secret)...)
	cmd.Stdin = strings.NewReader(attrs)
	out, err := cmd.CombinedOutput()
	r := radclientResult{answered: strings.Contains(string(out), "Received Accounting-Response"), output: string(out)}
	for _, l := range strings.Split(r.output, "\n") {
		if strings.Contains(l, "Reply verification failed") {
			r.rejected = strings.TrimSpace(l)
		}
	}
	if r.answered != (err == nil) {
		t.Fatalf("radclient: exit %v but output says answered=%v:\n%s", err, r.answered, out)
	}
	return r
}

// radclientAcct is radclientTo Keycard's accounting port.
func (h *harness) radclientAcct(secret, attrs string, flags ...string) radclientResult {
	h.t.Helper()
	return radclientTo(h.t, fmt.Sprintf("127.0.0.1:%d", h.acct), secret, attrs, flags...)
}

// mustAnswer fails the test unless radclient got and verified an
// Accounting-Response.
func (h *harness) mustAnswer(what string, r radclientResult) {
	h.t.Helper()
	switch {
	case r.answered:
	case r.rejected != "":
		hint := ""
		if strings.Contains(r.rejected, "Message-Authenticator") {
			// FreeRADIUS signs and checks an Accounting-Response's
			// Message-Authenticator with the Authenticator field zeroed,
			// as in the Accounting-Request (src/lib/radius.c rad_sign,
			// rad_verify), not with the Request Authenticator as for
			// Access-Accept.
			hint = "\n(radclient computes an Accounting-Response's Message-Authenticator over 16 zero octets in the Authenticator field)"
		}
		h.t.Fatalf("%s: Keycard answered, but radclient refused the Accounting-Response: %s%s\n%s", what, r.rejected, hint, r.output)
	default:
		h.t.Fatalf("%s: not answered\n%s\n%s", what, r.output, tail(h.logs.String(), 20))
	}
}

// acctAttrs writes radclient input lines.
func acctAttrs(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "%s = %s\n", kv[i], kv[i+1])
	}
	return b.String()
}

// metricValue is the value of one series in a /metrics text, 0 when absent.
func metricValue(t *testing.T, metrics, series string) float64 {
	t.Helper()
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", l, err)
			}
			return f
		}
	}
	return 0
}

func dropped(cause string) string {
	return fmt.Sprintf("keycard_radius_dropped_total{cause=%q}", cause)
}

// TestAccountingRadclientNASReboot: Accounting-On from an access point (it
// rebooted) closes every session it had open, as NAS-Reboot, and
// Accounting-Off (it is going down) likewise, as NAS-Request; another
// access point's sessions stay open, and nothing reopens a closed session.
func TestAccountingRadclientNASReboot(t *testing.T) {
	h := acctHarness(t)
	h.run("nas", "add", "--name", "hall-ap", "--address", "127.0.0.2", "--secret", h.secret)
	h.serve()

	start := func(id, station string) {
		t.Helper()
		h.mustAnswer("Start "+id, h.radclientAcct(h.secret, acctAttrs("Acct-Status-Type", "Start", "Acct-Session-Id", strconv.Quote(id),
			"User-Name", `"guest"`, "Calling-Station-Id", strconv.Quote(station), "NAS-IP-Address", "127.0.0.1",
			"Framed-IP-Address", "10.1.0.7")))
	}
	start("lobby-1", "02-00-00-00-01-01")
	// The same Acct-Session-Id at another access point is another session.
	hallStart := radius.New(radius.CodeAccountingRequest, []byte(h.secret))
	rfc2866.AcctStatusType_Set(hallStart, rfc2866.AcctStatusType_Value_Start)
	rfc2866.AcctSessionID_SetString(hallStart, "hall-1")
	rfc2865.CallingStationID_SetString(hallStart, "02-00-00-00-02-01")
	if code := exchangeFrom(t, "127.0.0.2", fmt.Sprintf("127.0.0.1:%d", h.acct), hallStart); code != radius.CodeAccountingResponse {
		t.Fatalf("hall-ap's Start: %v", code)
	}
	s := h.acctSessions()
	if s["lobby-1"].StoppedAt != nil || s["hall-1"].StoppedAt != nil || s["lobby-1"].NAS != "lobby-ap" || s["hall-1"].NAS != "hall-ap" {
		t.Fatalf("after the Starts: %+v", s)
	}

	// The lobby AP reboots. hostapd sends Accounting-On with
	// Message-Authenticator and no Acct-Session-Id; radclient computes the
	// Message-Authenticator the way hostapd does.
	h.mustAnswer("Accounting-On", h.radclientAcct(h.secret, acctAttrs("Acct-Status-Type", "Accounting-On", "NAS-IP-Address", "127.0.0.1",
		"Acct-Delay-Time", "0", "Message-Authenticator", "0x00")))
	s = h.acctSessions()
	lobby := s["lobby-1"]
	if lobby.StoppedAt == nil || lobby.TerminateCause != "NAS-Reboot" {
		t.Errorf("after Accounting-On, lobby-1 is %+v; want stopped with NAS-Reboot", lobby)
	}
	if s["hall-1"].StoppedAt != nil {
		t.Errorf("Accounting-On from lobby-ap closed hall-ap's session: %+v", s["hall-1"])
	}

	// Its Stop, queued before the reboot, arrives late: it brings the
	// counters but does not reopen or re-close the session.
	h.mustAnswer("late Stop", h.radclientAcct(h.secret, acctAttrs("Acct-Status-Type", "Stop", "Acct-Session-Id", `"lobby-1"`,
		"Acct-Input-Octets", "4000", "Acct-Output-Octets", "9000", "Acct-Session-Time", "30",
		"Acct-Terminate-Cause", "User-Request", "NAS-IP-Address", "127.0.0.1")))
	late := h.acctSessions()["lobby-1"]
	if late.StoppedAt == nil || !late.StoppedAt.Equal(*lobby.StoppedAt) || late.TerminateCause != "NAS-Reboot" ||
		late.InputOctets != 4000 || late.OutputOctets != 9000 {
		t.Errorf("after the late Stop, lobby-1 is %+v; want closed as before (NAS-Reboot) with the Stop's counters", late)
	}

	// A new session, then the AP goes down.
	start("lobby-2", "02-00-00-00-01-02")
	h.mustAnswer("Accounting-Off", h.radclientAcct(h.secret, acctAttrs("Acct-Status-Type", "Accounting-Off", "NAS-IP-Address", "127.0.0.1")))
	s = h.acctSessions()
	if l2 := s["lobby-2"]; l2.StoppedAt == nil || l2.TerminateCause != "NAS-Request" {
		t.Errorf("after Accounting-Off, lobby-2 is %+v; want stopped with NAS-Request", l2)
	}
	if l1 := s["lobby-1"]; !reflect.DeepEqual(l1, late) {
		t.Errorf("Accounting-Off changed the closed lobby-1: %+v, was %+v", l1, late)
	}
	if s["hall-1"].StoppedAt != nil {
		t.Errorf("Accounting-Off from lobby-ap closed hall-ap's session: %+v", s["hall-1"])
	}

	m := h.scrape()
	for series, want := range map[string]float64{
		`keycard_radius_accounting_total{status="accounting_on"}`:  1,
		`keycard_radius_accounting_total{status="accounting_off"}`: 1,
		`keycard_radius_accounting_total{status="start"}`:          3,
	} {
		if got := metricValue(t, m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// exchangeFrom sends an Accounting-Request from the local address from
// (another NAS on loopback) and returns the code of the verified answer.
func exchangeFrom(t *testing.T, from, to string, p *radius.Packet) radius.Code {
	t.Helper()
	c := radius.Client{Retry: 0, Dialer: net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}}}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	resp, err := c.Exchange(ctx, p, to)
	if err != nil {
		t.Fatalf("accounting from %s: %v", from, err)
	}
	return resp.Code
}

// lossyProxy sits between radclient and Keycard and throws away the first
// answer, so radclient retransmits its request (same Identifier, same
// authenticator, same bytes) as a NAS does when an answer is lost.
type lossyProxy struct {
	t     *testing.T
	front net.PacketConn // radclient talks to this
	back  *net.UDPConn   // connected to Keycard

	mu       sync.Mutex
	client   net.Addr
	requests [][]byte
	answers  int // answers from Keycard, the first thrown away
}

func newLossyProxy(t *testing.T, server string) *lossyProxy {
	t.Helper()
	front, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.Dial("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{t: t, front: front, back: back.(*net.UDPConn)}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := front.ReadFrom(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.client = from
			p.requests = append(p.requests, bytes.Clone(buf[:n]))
			p.mu.Unlock()
			p.back.Write(buf[:n])
		}
	})
	wg.Go(func() {
		buf := make([]byte, 4096)
		for {
			n, err := p.back.Read(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.answers++
			first, client := p.answers == 1, p.client
			p.mu.Unlock()
			if !first {
				front.WriteTo(buf[:n], client)
			}
		}
	})
	t.Cleanup(func() { front.Close(); back.Close(); wg.Wait() })
	return p
}

func (p *lossyProxy) addr() string { return p.front.LocalAddr().String() }

// TestAccountingRadclientDuplicateStop: a Stop that arrives twice — a
// retransmission after a lost answer, and the same Stop sent again under
// new Identifiers — is counted once: the session and the stay's usage
// carry the Stop's counters, not a multiple.
func TestAccountingRadclientDuplicateStop(t *testing.T) {
	h := acctHarness(t)
	var stay createdStay
	h.runJSON(&stay, "stay", "create", "--room", "312", "--guest", "Grace Hopper", "--check-out", "3h")
	dev := h.enrol(stay.ID)
	h.serve()

	ident := strconv.Quote(dev.Device.Identity)
	h.mustAnswer("Start", h.radclientAcct(h.secret, acctAttrs("Acct-Status-Type", "Start", "Acct-Session-Id", `"dup-1"`,
		"User-Name", ident, "Calling-Station-Id", `"02-00-00-00-03-01"`, "NAS-IP-Address", "127.0.0.1")))
	const in, out = 2<<32 + 1_000_000, 5_000_000 // octets; Gigawords 2 on input
	stop := acctAttrs("Acct-Status-Type", "Stop", "Acct-Session-Id", `"dup-1"`, "User-Name", ident,
		"Calling-Station-Id", `"02-00-00-00-03-01"`, "NAS-IP-Address", "127.0.0.1",
		"Acct-Input-Octets", "1000000", "Acct-Input-Gigawords", "2", "Acct-Output-Octets", "5000000",
		"Acct-Input-Packets", "1500", "Acct-Output-Packets", "4000", "Acct-Session-Time", "600",
		"Acct-Terminate-Cause", "User-Request")

	// 1. The answer to the Stop is lost: radclient retransmits it.
	proxy := newLossyProxy(t, fmt.Sprintf("127.0.0.1:%d", h.acct))
	h.mustAnswer("Stop through the proxy", radclientTo(t, proxy.addr(), h.secret, stop, "-r", "3", "-t", "1"))
	proxy.mu.Lock()
	reqs, answers := proxy.requests, proxy.answers
	proxy.mu.Unlock()
	if len(reqs) != 2 || !bytes.Equal(reqs[0], reqs[1]) || answers != 2 {
		t.Fatalf("proxy saw %d requests (identical: %v) and %d answers; want radclient's retransmission of the same bytes, answered twice",
			len(reqs), len(reqs) == 2 && bytes.Equal(reqs[0], reqs[1]), answers)
	}
	if hits := metricValue(t, h.scrape(), "keycard_radius_accounting_reply_cache_hits_total"); hits != 1 {
		t.Errorf("accounting reply cache hits = %v, want 1 (the retransmission)", hits)
	}

	// 2. The same Stop twice more, each under a new Identifier (radclient
	// -c 2): new requests as far as RADIUS goes, the same record.
	again := h.radclientAcct(h.secret, stop, "-c", "2", "-r", "1", "-t", "1")
	h.mustAnswer("Stop sent again", again)
	if n := strings.Count(again.output, "Received Accounting-Response"); n != 2 {
		t.Fatalf("%d of the two repeated Stops answered:\n%s", n, again.output)
	}

	s, found := h.acctSessions()["dup-1"]
	if !found {
		t.Fatal("no session dup-1")
	}
	if s.InputOctets != in || s.OutputOctets != out || s.InputPackets != 1500 || s.OutputPackets != 4000 ||
		s.SessionSeconds != 600 || s.StoppedAt == nil || s.TerminateCause != "User-Request" {
		t.Errorf("after four copies of one Stop, dup-1 is %+v; want exactly the Stop's counters (in %d, out %d), closed", s, in, out)
	}
	if s.Stay != stay.ID || s.Device != dev.Device.ID {
		t.Errorf("dup-1 belongs to stay %d device %d; want %d, %d (from User-Name %s)", s.Stay, s.Device, stay.ID, dev.Device.ID, ident)
	}
	var usage struct {
		Sessions      int    `json:"sessions"`
		Online        int    `json:"online"`
		SecondsOnline int64  `json:"seconds_online"`
		InputOctets   uint64 `json:"input_octets"`
		OutputOctets  uint64 `json:"output_octets"`
	}
	h.runJSON(&usage, "stay", "usage", strconv.FormatInt(stay.ID, 10))
	if usage.Sessions != 1 || usage.Online != 0 || usage.InputOctets != in || usage.OutputOctets != out || usage.SecondsOnline != 600 {
		t.Errorf("stay usage %+v; want one closed session of 600 s, in %d, out %d", usage, in, out)
	}
}

// TestAccountingRadclientMalformed: an Accounting-Request that is not
// authentic or not complete, and bytes that are no RADIUS at all, get no
// answer, are counted under their cause in keycard_radius_dropped_total,
// and change nothing in the database.
func TestAccountingRadclientMalformed(t *testing.T) {
	h := acctHarness(t)
	h.serve()
	addr := fmt.Sprintf("127.0.0.1:%d", h.acct)
	h.mustAnswer("a good Start", h.radclientAcct(h.secret, acctAttrs("Acct-Status-Type", "Start", "Acct-Session-Id", `"good-1"`, "User-Name", `"guest"`)))
	before := h.acctSessions()
	if len(before) != 1 {
		t.Fatalf("sessions before: %+v", before)
	}

	// header is an Accounting-Request header with Length n.
	header := func(code radius.Code, n int) []byte {
		b := make([]byte, 20, max(n, 20))
		b[0], b[1] = byte(code), 42
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		return b
	}
	// authentic signs b's Request Authenticator with the NAS's secret.
	authentic := func(b []byte) []byte {
		hash := md5.New()
		hash.Write(b[:4])
		hash.Write(make([]byte, 16))
		hash.Write(b[20:])
		hash.Write([]byte(h.secret))
		copy(b[4:20], hash.Sum(nil))
		return b
	}
	// A Start whose Request Authenticator is right but whose
	// Message-Authenticator (covered by it) is not.
	badMsgAuth := func() []byte {
		b := header(radius.CodeAccountingRequest, 20)
		b = append(b, 40, 6, 0, 0, 0, 1) // Acct-Status-Type = Start
		b = append(b, 44, 7, 'b', 'a', 'd', '-', '9')
		b = append(b, 80, 18)
		b = append(b, bytes.Repeat([]byte{0xA5}, 16)...)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		return authentic(b)
	}
	raw := func(b []byte) func(t *testing.T) bool {
		return func(t *testing.T) bool { return sendRaw(t, addr, b) }
	}
	withRadclient := func(secret, attrs string) func(t *testing.T) bool {
		return func(t *testing.T) bool { return !h.radclientAcct(secret, attrs).silent() }
	}
	tests := []struct {
		name  string
		send  func(t *testing.T) bool // true: answered
		cause string
	}{
		{"wrong shared secret", withRadclient("not-the-secret",
			acctAttrs("Acct-Status-Type", "Start", "Acct-Session-Id", `"bad-1"`, "User-Name", `"guest"`)), "bad_request_authenticator"},
		{"no Acct-Status-Type", withRadclient(h.secret,
			acctAttrs("Acct-Session-Id", `"bad-2"`, "User-Name", `"guest"`, "Acct-Input-Octets", "100")), "acct_malformed"},
		{"Start without Acct-Session-Id", withRadclient(h.secret,
			acctAttrs("Acct-Status-Type", "Start", "User-Name", `"guest"`)), "acct_malformed"},
		{"Stop without Acct-Session-Id", withRadclient(h.secret,
			acctAttrs("Acct-Status-Type", "Stop", "User-Name", `"guest"`, "Acct-Input-Octets", "100")), "acct_malformed"},
		{"bad Message-Authenticator", raw(badMsgAuth()), "bad_message_authenticator"},
		{"garbage: 11 bytes", raw([]byte("hello world")), "short"},
		{"garbage: Length past the datagram", raw(append(header(radius.CodeAccountingRequest, 400), "0123456789"...)), "short"},
		{"garbage: Length under the header", raw(append(header(radius.CodeAccountingRequest, 19), "0123456789"...)), "malformed"},
		{"garbage: attribute of length 1", raw(authentic(append(header(radius.CodeAccountingRequest, 24), 40, 1, 0, 0))), "malformed"},
		{"garbage: Access-Request on the accounting port", raw(append(header(radius.CodeAccessRequest, 26), 1, 6, 'g', 'u', 'e', 's')), "bad_code"},
		{"garbage: Accounting-Response", raw(header(radius.CodeAccountingResponse, 20)), "bad_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			series := dropped(tt.cause)
			was := metricValue(t, h.scrape(), series)
			if tt.send(t) {
				t.Fatalf("answered; want no answer")
			}
			// Counted when dropped; the scrape may come a moment later.
			deadline := time.Now().Add(2 * time.Second)
			for {
				now := metricValue(t, h.scrape(), series)
				if now == was+1 {
					break
				}
				if now > was+1 || time.Now().After(deadline) {
					t.Fatalf("%s went from %v to %v; want one more\n%s", series, was, now, tail(h.logs.String(), 10))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	if after := h.acctSessions(); !reflect.DeepEqual(after, before) {
		t.Errorf("dropped packets changed the sessions:\nbefore %+v\nafter  %+v", before, after)
	}
}

// sendRaw sends b to addr from a new socket and says whether anything came
// back within half a second.
func sendRaw(t *testing.T, addr string, b []byte) bool {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = c.Read(make([]byte, 4096))
	return err == nil
}
