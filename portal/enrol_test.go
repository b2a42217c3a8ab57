package portal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"howett.net/plist"
	"software.sslmate.com/src/go-pkcs12"

	"keycard/portal/profiles"
	"keycard/vouchers"
)

func TestHomeShowsTheFormForThePlatform(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		ua, primary string
	}{
		{iPhoneUA, `value="apple">Set up this iPhone`},
		{macUA, `value="apple">Set up this Mac`},
		{androidUA, `value="android">Set up this Android`},
		{windowsUA, `value="windows">Set up this Windows PC`},
		{linuxUA, `value="linux">Set up this Linux`},
		{"curl/8.5.0", `value="other">Set up another device (geteduroam app)`},
	}
	for _, tc := range cases {
		w := f.do(request{path: "/", ua: tc.ua})
		wantStatus(t, w, http.StatusOK, tc.ua)
		body := w.Body.String()
		wantBody(t, w, `<form method="post" action="/enrol"`, `name="code"`, tc.primary, "Other device")
		// The primary platform comes first; the others sit behind
		// "Other device".
		if i, j := strings.Index(body, tc.primary), strings.Index(body, "<details>"); i < 0 || i > j {
			t.Errorf("%s: primary button not before the other devices", tc.ua)
		}
	}
}

func TestRequestsForAnotherHostGoToThePortal(t *testing.T) {
	f := newFixture(t)
	r := request{path: "/", header: map[string]string{}}
	w := serveWithHost(f, r, "10.1.2.3:8443")
	wantStatus(t, w, http.StatusFound, "other host")
	if loc := w.Header().Get("Location"); loc != testURL {
		t.Errorf("Location %q, want %q", loc, testURL)
	}
}

func serveWithHost(f *fixture, rq request, host string) *httptest.ResponseRecorder {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Host = host
		f.h.ServeHTTP(w, r)
	})
	return serve(h, rq)
}

// eapConfig is what the tests read of an eap-config.
type eapConfig struct {
	Providers []struct {
		ValidUntil string `xml:"ValidUntil"`
		Methods    []struct {
			CA       []string `xml:"ServerSideCredential>CA"`
			ServerID []string `xml:"ServerSideCredential>ServerID"`
			Cert     string   `xml:"ClientSideCredential>ClientCertificate"`
		} `xml:"AuthenticationMethods>AuthenticationMethod"`
	} `xml:"EAPIdentityProvider"`
}

func TestEnrolAndroidGetsAnEAPConfig(t *testing.T) {
	f := newFixture(t)
	st, code := f.stay("Ada Lovelace", 3)
	// Guests type codes in lower case, with spaces.
	w := f.enrol(strings.ToLower(strings.ReplaceAll(code, "-", " ")), "android", androidUA, "")
	wantStatus(t, w, http.StatusOK, "enrol")
	wantBody(t, w, "Your Wi-Fi profile is ready", "Welcome, Ada Lovelace.", "geteduroam", "Hotel Test Secure", "Certificate password")
	pass := password(w.Body.String())
	links := downloads(t, w.Body.String())
	if pass == "" || len(links) != 1 {
		t.Fatalf("password %q, links %v", pass, links)
	}
	if strings.Contains(w.Body.String(), code) {
		t.Error("the page shows the voucher code")
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on a page with a password", cc)
	}
	d := f.fetch(links[0])
	if ct := d.Header().Get("Content-Type"); ct != profiles.ContentTypeEAPConfig {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := d.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".eap-config") {
		t.Errorf("Content-Disposition %q", cd)
	}
	var ec eapConfig
	if err := xml.Unmarshal(d.Body.Bytes(), &ec); err != nil {
		t.Fatal(err)
	}
	m := ec.Providers[0].Methods[0]
	if len(m.ServerID) != 1 || m.ServerID[0] != "radius.hotel.test" {
		t.Errorf("ServerID %v", m.ServerID)
	}
	caDER, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(m.CA[0]))
	if !bytes.Equal(caDER, f.a.Root().Raw) {
		t.Error("the eap-config does not pin the root CA")
	}
	p12, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(m.Cert))
	_, cert, _, err := pkcs12.DecodeChain(p12, pass)
	if err != nil {
		t.Fatalf("the PKCS#12 does not open with the password the page showed: %v", err)
	}
	if !cert.NotAfter.Equal(st.CheckOut) {
		t.Errorf("certificate NotAfter %s, want check-out %s", cert.NotAfter, st.CheckOut)
	}
	devices, _ := f.vs.Devices(context.Background(), st.ID)
	if len(devices) != 1 || devices[0].Platform != "android" || devices[0].Label != "test device" || devices[0].Serial != vouchers.SerialHex(cert) {
		t.Errorf("devices %+v", devices)
	}
	// Single use: the second GET finds nothing.
	again := f.do(request{path: links[0]})
	wantStatus(t, again, http.StatusGone, "second download")
	if f.p.downloads.len() != 0 {
		t.Errorf("%d downloads still held", f.p.downloads.len())
	}
}

func TestDownloadExpires(t *testing.T) {
	f := newFixture(t)
	_, code := f.stay("Ada Lovelace", 3)
	w := f.enrol(code, "other", "", "")
	wantStatus(t, w, http.StatusOK, "enrol")
	links := downloads(t, w.Body.String())
	wantBody(t, w, "Each download works once, within 10 minutes.")
	f.clock.Advance(DefaultDownloadLifetime)
	wantStatus(t, f.do(request{path: links[0]}), http.StatusGone, "download after its lifetime")
	// A HEAD does not use it up (and a made-up handle finds nothing).
	wantStatus(t, f.do(request{path: "/download/bm90LWEtaGFuZGxl"}), http.StatusGone, "unknown handle")
}

// applePayloads reads a .mobileconfig's payloads by type.
func applePayloads(t *testing.T, data []byte) (map[string]any, map[string]map[string]any) {
	t.Helper()
	var top map[string]any
	if _, err := plist.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	byType := map[string]map[string]any{}
	for _, p := range top["PayloadContent"].([]any) {
		pl := p.(map[string]any)
		byType[pl["PayloadType"].(string)] = pl
	}
	return top, byType
}

func TestEnrolAppleWithSCEP(t *testing.T) {
	f := newFixture(t)
	st, code := f.stay("Ada Lovelace", 3)
	w := f.enrol(code, "apple", iPhoneUA, "")
	wantStatus(t, w, http.StatusOK, "enrol")
	wantBody(t, w, "Open Settings, tap Profile Downloaded", "makes its own key")
	if password(w.Body.String()) != "" {
		t.Error("a password is shown on the SCEP path")
	}
	d := f.fetch(downloads(t, w.Body.String())[0])
	if ct := d.Header().Get("Content-Type"); ct != profiles.ContentTypeApple {
		t.Errorf("Content-Type %q", ct)
	}
	top, byType := applePayloads(t, d.Body.Bytes())
	if got, ok := top["RemovalDate"].(time.Time); !ok || !got.Equal(st.CheckOut) {
		t.Errorf("RemovalDate %v, want %s", top["RemovalDate"], st.CheckOut)
	}
	scep := byType["com.apple.security.scep"]
	if scep == nil || byType["com.apple.security.pkcs12"] != nil {
		t.Fatalf("payloads %v: want SCEP, not PKCS#12", byType)
	}
	content := scep["PayloadContent"].(map[string]any)
	if content["URL"] != testURL+"scep" || len(content["Challenge"].(string)) != 32 {
		t.Errorf("SCEP payload %v", content)
	}
	if root := byType["com.apple.security.root"]; root == nil || !bytes.Equal(root["PayloadContent"].([]byte), f.a.Root().Raw) {
		t.Error("no root payload with the CA")
	}
	// No device yet: the iPhone enrols its own key with the challenge.
	if devices, _ := f.vs.Devices(context.Background(), st.ID); len(devices) != 0 {
		t.Errorf("devices %+v before the SCEP enrolment", devices)
	}
	// The SCEP endpoint is mounted where the profile says.
	wantBody(t, f.do(request{path: "/scep?operation=GetCACaps"}), "scep here")
}

func TestEnrolAppleWithPKCS12(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SCEP = false })
	st, code := f.stay("Ada Lovelace", 3)
	w := f.enrol(code, "apple", macUA, "")
	wantStatus(t, w, http.StatusOK, "enrol")
	wantBody(t, w, "System Settings", "certificate password")
	pass := password(w.Body.String())
	d := f.fetch(downloads(t, w.Body.String())[0])
	top, byType := applePayloads(t, d.Body.Bytes())
	if got, _ := top["RemovalDate"].(time.Time); !got.Equal(st.CheckOut) {
		t.Errorf("RemovalDate %v", top["RemovalDate"])
	}
	p12 := byType["com.apple.security.pkcs12"]
	if p12 == nil || byType["com.apple.security.scep"] != nil {
		t.Fatalf("payloads %v: want PKCS#12, not SCEP", byType)
	}
	_, leaf, chain, err := pkcs12.DecodeChain(p12["PayloadContent"].([]byte), pass)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chain {
		if c.Equal(f.a.Root()) {
			t.Error("the root is inside the PKCS#12 (macOS would trust it for HTTPS)")
		}
	}
	if !leaf.NotAfter.Equal(st.CheckOut) {
		t.Errorf("NotAfter %s", leaf.NotAfter)
	}
}

func TestEnrolWindowsAndLinux(t *testing.T) {
	f := newFixture(t)
	_, code := f.stay("Ada Lovelace", 3)
	w := f.enrol(code, "windows", windowsUA, "")
	wantStatus(t, w, http.StatusOK, "windows")
	wantBody(t, w, `netsh wlan add profile filename=&#34;hotel-test-wifi.xml&#34; user=current`, "Download certificate (.p12)", "Download Wi-Fi profile (.xml)",
		"Hotel Test Root CA")
	links := downloads(t, w.Body.String())
	if len(links) != 2 {
		t.Fatalf("links %v", links)
	}
	p12 := f.fetch(links[0])
	_, _, chain, err := pkcs12.DecodeChain(p12.Body.Bytes(), password(w.Body.String()))
	if err != nil || len(chain) != 2 || !chain[1].Equal(f.a.Root()) {
		t.Errorf("Windows PKCS#12: chain %d, %v; Windows needs the root in it", len(chain), err)
	}
	if ct := f.fetch(links[1]).Header().Get("Content-Type"); ct != profiles.ContentTypeWindows {
		t.Errorf("WLAN profile Content-Type %q", ct)
	}

	// Linux: the other platforms are offered on the result page, under the
	// same sign-in: no code typed again.
	h := session(w.Body.String())
	w = f.do(request{form: url.Values{"session": {h}, "platform": {"linux"}}, ua: linuxUA})
	wantStatus(t, w, http.StatusOK, "linux")
	wantBody(t, w, "sudo nmcli connection reload", "/etc/keycard-wifi/hotel-test-wifi/ca.pem", "Download connection (.nmconnection)")
	links = downloads(t, w.Body.String())
	if len(links) != 3 {
		t.Fatalf("links %v", links)
	}
	nm := f.fetch(links[0]).Body.String()
	if !strings.Contains(nm, "client-cert=/etc/keycard-wifi/hotel-test-wifi/device-") || !strings.Contains(nm, "private-key-password="+password(w.Body.String())) {
		t.Errorf("connection file:\n%s", nm)
	}
	if ca := f.fetch(links[2]).Body.String(); !strings.Contains(ca, "BEGIN CERTIFICATE") {
		t.Errorf("CA file: %s", ca)
	}
}

func TestPasspointOfferedWhenOn(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Passpoint = &profiles.Passpoint{FQDN: "hotel.test", FriendlyName: "Hotel Test", RoamingConsortiumOIs: []string{"A1B2C3"}}
	})
	_, code := f.stay("Ada Lovelace", 3)
	w := f.enrol(code, "android", androidUA, "")
	wantStatus(t, w, http.StatusOK, "enrol")
	wantBody(t, w, "Install Passpoint profile", "On Passpoint networks")
	links := downloads(t, w.Body.String())
	if len(links) != 2 {
		t.Fatalf("links %v", links)
	}
	pp := f.fetch(links[1])
	if ct := pp.Header().Get("Content-Type"); ct != profiles.ContentTypePasspoint {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := pp.Header().Get("Content-Disposition"); cd != "" {
		t.Errorf("Passpoint served as an attachment (%q): Android would not install it", cd)
	}
}

func TestDeviceCapShowsDevicesAndReplaces(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, code := f.stay("Ada Lovelace", 2)
	for _, label := range []string{"Ada's phone", "<b>laptop</b>"} {
		w := f.do(request{form: url.Values{"code": {code}, "platform": {"android"}, "label": {label}}})
		wantStatus(t, w, http.StatusOK, "enrol "+label)
	}
	w := f.do(request{form: url.Values{"code": {code}, "platform": {"windows"}, "label": {"work PC"}}, ua: windowsUA})
	wantStatus(t, w, http.StatusConflict, "third device")
	wantBody(t, w, "Your stay already has 2 devices", "Ada&#39;s phone", "&lt;b&gt;laptop&lt;/b&gt;", "Android phone or tablet", "Replace")
	if strings.Contains(w.Body.String(), "<b>laptop") {
		t.Error("a device label is not escaped")
	}
	devices, _ := f.vs.Devices(ctx, st.ID)
	h := session(w.Body.String())
	w = f.do(request{form: url.Values{"session": {h}, "platform": {"windows"}, "label": {"work PC"}, "replace": {strconv.FormatInt(devices[0].ID, 10)}}, ua: windowsUA})
	wantStatus(t, w, http.StatusOK, "replace")
	wantBody(t, w, "Device: work PC")
	after, _ := f.vs.Devices(ctx, st.ID)
	if len(after) != 3 || after[0].RevokedAt == nil || after[0].RevokeReason != "replaced by the guest at the portal" || after[2].Label != "work PC" {
		t.Errorf("devices after replacing: %+v", after)
	}
	log, _ := f.vs.AuditLog(ctx, 3)
	var revoked bool
	for _, e := range log {
		revoked = revoked || (e.Action == "device.revoke" && e.Actor == "guest" && e.Source == "192.0.2.10")
	}
	if !revoked {
		t.Errorf("no device.revoke by the guest in the audit log: %+v", log)
	}

	// A device of another stay cannot be "replaced".
	other, _ := f.stay("Grace Hopper", 1)
	od, _, err := f.vs.EnrolGuest(ctx, vouchers.Actor{Name: "guest", Source: "x"}, other.ID, vouchers.SignInVoucher, vouchers.Enrolment{PublicKey: testKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	w = f.do(request{form: url.Values{"session": {h}, "platform": {"android"}, "replace": {strconv.FormatInt(od.ID, 10)}}})
	wantStatus(t, w, http.StatusForbidden, "replace another stay's device")
	if d, _ := f.vs.Device(ctx, od.ID); d.RevokedAt != nil {
		t.Error("another stay's device was revoked")
	}
}

func TestSignInRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, code := f.stay("Ada Lovelace", 3)
	ended, endedCode := f.stay("Grace Hopper", 3)
	if _, err := f.vs.EndStay(ctx, vouchers.Actor{Name: "staff:test", Source: "test"}, ended.ID); err != nil {
		t.Fatal(err)
	}
	locked, lockedCode := f.stay("Alan Turing", 3)
	for i := range maxTries {
		// Someone else guessed at it from many addresses.
		f.vs.StayForVoucher(ctx, vouchers.Actor{Name: "guest", Source: "x"}, wrongCode(lockedCode, i))
	}
	_ = locked

	cases := []struct {
		name, code string
		status     int
		want       string
	}{
		{"mistyped", wrongCode(code, 0), http.StatusUnprocessableEntity, "That code is not right."},
		{"not a code at all", "hello", http.StatusUnprocessableEntity, "That code is not right."},
		{"empty", "", http.StatusUnprocessableEntity, "Please enter your voucher code."},
		{"stay ended", endedCode, http.StatusGone, "Your stay has ended"},
		{"locked", lockedCode, http.StatusLocked, "locked after too many wrong tries"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// From an address of its own each, so the rate limit stays out
			// of it.
			w := f.enrol(tc.code, "android", "", "203.0.113."+strconv.Itoa(i+1)+":5000")
			wantStatus(t, w, tc.status, tc.name)
			wantBody(t, w, tc.want, `role="alert"`, `name="code"`)
			if tc.code != "" && strings.Contains(w.Body.String(), tc.code) {
				t.Error("the typed code is echoed back")
			}
		})
	}
}

func TestRoomLogin(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RoomLogin = true })
	st, _ := f.stay("Ada Lovelace", 3)
	w := f.do(request{path: "/"})
	wantBody(t, w, `name="room"`, `name="surname"`, "room number and surname")
	if strings.Contains(w.Body.String(), `name="code"`) {
		t.Error("the voucher field is shown with room login on")
	}
	w = f.do(request{form: url.Values{"room": {"204"}, "surname": {"Babbage"}, "platform": {"android"}}})
	wantStatus(t, w, http.StatusUnprocessableEntity, "wrong surname")
	wantBody(t, w, "do not match a stay", `value="204"`)
	w = f.do(request{form: url.Values{"room": {"204"}, "surname": {"lovelace"}, "platform": {"android"}}})
	wantStatus(t, w, http.StatusOK, "right surname")
	log, _ := f.vs.AuditLog(context.Background(), 1)
	if log[0].Action != "device.enrol" || !strings.Contains(log[0].Detail, "via=room") || !strings.Contains(log[0].Detail, "stay="+strconv.FormatInt(st.ID, 10)) {
		t.Errorf("audit %+v", log[0])
	}
}

func TestSignInHandleIsBoundToTheClient(t *testing.T) {
	f := newFixture(t)
	_, code := f.stay("Ada Lovelace", 5)
	w := f.enrol(code, "android", "", "")
	h := session(w.Body.String())
	if h == "" {
		t.Fatal("no sign-in handle on the result page")
	}
	w = f.do(request{form: url.Values{"session": {h}, "platform": {"other"}}, from: otherAddr})
	wantStatus(t, w, http.StatusForbidden, "handle from another address")
	wantBody(t, w, "This page has expired")
	// The owner can still use it, until it expires.
	wantStatus(t, f.do(request{form: url.Values{"session": {h}, "platform": {"other"}}}), http.StatusOK, "owner")
	f.clock.Advance(DefaultSignInLifetime)
	wantStatus(t, f.do(request{form: url.Values{"session": {h}, "platform": {"other"}}}), http.StatusForbidden, "expired handle")
	wantStatus(t, f.do(request{form: url.Values{"session": {"made-up"}, "platform": {"other"}}}), http.StatusForbidden, "made-up handle")
}

func TestEveryEnrolmentIsAuditedWithTheClientAddress(t *testing.T) {
	f := newFixture(t)
	_, code := f.stay("Ada Lovelace", 3)
	wantStatus(t, f.enrol(code, "other", "", "[2001:db8::17]:443"), http.StatusOK, "enrol")
	log, _ := f.vs.AuditLog(context.Background(), 1)
	if log[0].Action != "device.enrol" || log[0].Actor != "guest" || log[0].Source != "2001:db8::17" {
		t.Errorf("audit entry %+v", log[0])
	}
	wantStatus(t, f.enrol(code, "apple", iPhoneUA, "[::ffff:192.0.2.99]:443"), http.StatusOK, "enrol by SCEP")
	log, _ = f.vs.AuditLog(context.Background(), 1)
	if log[0].Action != "challenge.mint" || log[0].Source != "192.0.2.99" {
		t.Errorf("audit entry %+v", log[0])
	}
}

// wrongCode keeps code's selector and changes its secret.
func wrongCode(code string, i int) string {
	c := []byte(code)
	j := strings.IndexByte(vouchers.CodeAlphabet, c[len(c)-1])
	c[len(c)-1] = vouchers.CodeAlphabet[(j+1+i%24)%len(vouchers.CodeAlphabet)]
	return string(c)
}
