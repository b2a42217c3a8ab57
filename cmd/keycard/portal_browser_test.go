package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"
	"howett.net/plist"
	"software.sslmate.com/src/go-pkcs12"
)

// The guest's side of the hotel, in a real browser: headless Chromium
// (Debian's chromium, driven by chromedp) as an Android phone 375 px wide
// opens the portal the way a phone does on the onboarding network,
// through the plain-HTTP captive probe, follows the redirect to HTTPS,
// redeems the voucher a member of staff created with the CLI, and
// downloads the eap-config and the Apple profile. The test reads both as
// the devices would, joins the secure network with the eap-config's
// credentials (eapol_test against Keycard: accepted, MPPE keys agreed),
// and after `keycard stay end` is refused. Each step leaves a screenshot
// (see portalArtifacts).

const (
	androidPhoneUA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
	iosCaptiveUA   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)

// phone is the emulated device: 375 CSS px wide, as the issue asks.
func phone(ua string) device.Info {
	return device.Info{Name: "phone", UserAgent: ua, Width: 375, Height: 812, Scale: 2, Mobile: true, Touch: true}
}

func TestPortalBrowser(t *testing.T) {
	chromium := requireTool(t, "chromium")
	h, stay := portalHotel(t)
	shots := portalArtifacts(t)
	downloads := t.TempDir()
	ctx := startChromium(t, chromium)
	portalURL := fmt.Sprintf("https://127.0.0.1:%d/", h.portal)

	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v\n--- keycard ---\n%s", what, err, tail(h.logs.String(), 30))
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	// clickAndLoad clicks and waits for the page the click leads to.
	clickAndLoad := func(what, sel string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// 0. The captive mini-browser (iOS's web sheet) is told to open the
	// page in Safari before anything else.
	do("mini-browser", chromedp.Emulate(phone(iosCaptiveUA)), chromedp.Navigate(portalURL), chromedp.WaitVisible(chromedp.CSS("#url")))
	if got, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#url"))); got != portalURL {
		t.Errorf("the mini-browser step shows %q, want %q", got, portalURL)
	}
	if !strings.Contains(text("main"), "Open this page in your browser") {
		t.Errorf("mini-browser page: %s", text("main"))
	}
	shot("0-captive-mini-browser.png")

	// 1. The phone's captive probe lands on the portal.
	do("captive probe", chromedp.Emulate(phone(androidPhoneUA)),
		chromedp.Navigate(fmt.Sprintf("http://127.0.0.1:%d/hotspot-detect.html", h.probe)),
		chromedp.WaitVisible(chromedp.CSS("#code")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != portalURL {
		t.Errorf("the probe led to %q, want %q", loc, portalURL)
	}
	shot("1-portal-from-captive-probe.png")

	// 2. The guest types the code from the front desk.
	do("type the code", chromedp.SendKeys(chromedp.CSS("#code"), stay.Voucher), chromedp.SendKeys(chromedp.CSS("#label"), "Ada's Pixel"))
	shot("2-voucher-entered.png")

	// 3. The Android profile: an eap-config for geteduroam.
	clickAndLoad("redeem", "form button.primary")
	do("result", chromedp.WaitVisible(chromedp.CSS("section.done")))
	if got := text("section.done h2"); got != "Your Wi-Fi profile is ready" {
		t.Fatalf("after redeeming: %q\n%s", got, text("main"))
	}
	pass := text("#password")
	shot("3-android-profile-ready.png")
	eapConfig := download(t, ctx, downloads, ".files a")

	// 4. Another profile for this stay, without typing the code again:
	// the Apple one.
	do("other profiles", chromedp.Click(chromedp.CSS("section.card details summary")))
	clickAndLoad("Apple profile", `details button[value="apple"]`)
	do("Apple result", chromedp.WaitVisible(chromedp.CSS("section.done")))
	shot("4-apple-profile-ready.png")
	mobileconfig := download(t, ctx, downloads, ".files a")

	// 5. At the device cap (2: the Android phone, and a Windows PC set up
	// next; the iPhone enrols only when it installs its profile), a
	// fourth device is offered the stay's devices to replace one.
	another := func(platform string) {
		t.Helper()
		do("other profiles", chromedp.Click(chromedp.CSS("section.card details summary")))
		clickAndLoad(platform+" profile", `details button[value="`+platform+`"]`)
	}
	another("windows")
	do("Windows result", chromedp.WaitVisible(chromedp.CSS("section.done")))
	another("linux")
	do("device cap", chromedp.WaitVisible(chromedp.CSS("ul.devices")))
	capText := text("main")
	for _, want := range []string{"Your stay already has 2 devices", "Ada's Pixel", "Windows PC"} {
		if !strings.Contains(capText, want) {
			t.Errorf("the device cap page lacks %q:\n%s", want, capText)
		}
	}
	shot("5-device-cap.png")
	clickAndLoad("replace the Windows PC", "ul.devices li:nth-child(2) button")
	do("Linux result", chromedp.WaitVisible(chromedp.CSS("section.done")))
	shot("6-replaced-linux-profile-ready.png")

	// The root CA every profile must pin.
	rootPEM, err := os.ReadFile(filepath.Join(h.dir, "data", "ca", "root.crt"))
	if err != nil {
		t.Fatal(err)
	}
	rootBlock, _ := pem.Decode(rootPEM)

	// The eap-config: CA and server name pinned, the PKCS#12 opens with
	// the password the page showed and ends at check-out.
	cred := readEAPConfig(t, eapConfig, pass)
	if !bytes.Equal(cred.ca.Raw, rootBlock.Bytes) {
		t.Error("the eap-config does not pin Keycard's root CA")
	}
	if !slices.Contains(cred.serverIDs, "radius.keycard.test") {
		t.Errorf("the eap-config's ServerID %v lacks radius.keycard.test", cred.serverIDs)
	}
	if !cred.leaf.NotAfter.Equal(stay.CheckOut) {
		t.Errorf("certificate NotAfter %s, want the check-out %s", cred.leaf.NotAfter, stay.CheckOut)
	}

	// The Apple profile: SCEP (the device makes its key), the root CA as
	// its own payload, the server name, RemovalDate = check-out.
	checkAppleProfile(t, mobileconfig, rootBlock.Bytes, portalURL, stay.CheckOut)

	// The eap-config's credentials get onto the secure network.
	certFile, keyFile, caFile := cred.write(t)
	res := h.eapol(certFile, keyFile, caFile, h.secret)
	if !res.success || !res.mppeOK {
		t.Fatalf("eapol_test with the portal's credentials: success=%v mppeOK=%v\n%s\n--- keycard ---\n%s",
			res.success, res.mppeOK, tail(res.output, 40), tail(h.logs.String(), 30))
	}
	// Check-out: the same device is refused.
	h.run("stay", "end", strconv.FormatInt(stay.ID, 10))
	res = h.eapol(certFile, keyFile, caFile, h.secret)
	if res.success || !strings.Contains(res.output, "Access-Reject") {
		t.Fatalf("eapol_test after stay end: success=%v\n%s", res.success, tail(res.output, 30))
	}
	if !strings.Contains(lastDecision(h.logs.String(), "reject"), `"reason":"stay ended"`) {
		t.Errorf("reject reason: %s", lastDecision(h.logs.String(), "reject"))
	}

	// And the portal says so too.
	do("ended stay", chromedp.Navigate(portalURL), chromedp.WaitVisible(chromedp.CSS("#code")),
		chromedp.SendKeys(chromedp.CSS("#code"), stay.Voucher))
	clickAndLoad("redeem after check-out", "form button.primary")
	if got := text(".error"); !strings.Contains(got, "Your stay has ended") {
		t.Errorf("after check-out the portal says %q", got)
	}
	shot("7-stay-ended.png")
}

// portalHotel serves Keycard with a NAS for eapol_test and one stay.
func portalHotel(t *testing.T) (*harness, createdStay) {
	t.Helper()
	requireTool(t, "eapol_test")
	requireTool(t, "radclient")
	h := newHarness(t)
	h.run("ca", "init")
	h.run("nas", "add", "--name", "lobby-ap", "--address", "127.0.0.1", "--secret", h.secret)
	var stay createdStay
	h.runJSON(&stay, "stay", "create", "--room", "204", "--guest", "Ada Lovelace", "--check-out", "3h", "--max-devices", "2")
	h.serve()
	return h, stay
}

// portalArtifacts is the folder the screenshots go to:
// $KEYCARD_ARTIFACTS/portal when that is set, else the test's temporary
// folder; with KEYCARD_KEEP_ARTIFACTS=1 they are also copied to
// artifacts/portal/ in the repository.
func portalArtifacts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "screenshots")
	if base := os.Getenv("KEYCARD_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, "portal")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("KEYCARD_KEEP_ARTIFACTS") == "1" {
		keep, err := filepath.Abs(filepath.Join("..", "..", "artifacts", "portal"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := os.CopyFS(keep, os.DirFS(dir)); err != nil && !errors.Is(err, fs.ErrExist) {
				t.Errorf("keep screenshots: %v", err)
			}
			t.Logf("screenshots kept in %s", keep)
		})
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// startChromium starts headless Chromium with a fresh profile. The lab CA
// is not in its trust store, so certificate errors are ignored: the test
// checks the certificates it cares about itself.
func startChromium(t *testing.T, path string) context.Context {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	return tctx
}

// download clicks the link sel and returns the file the browser saved.
func download(t *testing.T, ctx context.Context, dir, sel string) []byte {
	t.Helper()
	yes := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &yes,
	}); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	progress := chromedp.BrowserEvents(dctx, browser.DownloadProgress)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download from %s: %v", sel, err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			path := ev.FilePath
			if path == "" {
				path = filepath.Join(dir, ev.GUID)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return data
		case browser.DownloadProgressStateCanceled:
			t.Fatalf("the browser cancelled the download from %s", sel)
		}
	}
	t.Fatalf("no download from %s", sel)
	return nil
}

// credential is what the eap-config hands the device.
type credential struct {
	ca        *x509.Certificate
	serverIDs []string
	leaf      *x509.Certificate
	chain     []*x509.Certificate
	key       any
}

func readEAPConfig(t *testing.T, data []byte, pass string) credential {
	t.Helper()
	var doc struct {
		Methods []struct {
			CA       []string `xml:"ServerSideCredential>CA"`
			ServerID []string `xml:"ServerSideCredential>ServerID"`
			Cert     string   `xml:"ClientSideCredential>ClientCertificate"`
		} `xml:"EAPIdentityProvider>AuthenticationMethods>AuthenticationMethod"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil || len(doc.Methods) == 0 || len(doc.Methods[0].CA) == 0 {
		t.Fatalf("eap-config: %v\n%s", err, data)
	}
	m := doc.Methods[0]
	caDER, err := base64.StdEncoding.DecodeString(strings.TrimSpace(m.CA[0]))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p12, err := base64.StdEncoding.DecodeString(strings.TrimSpace(m.Cert))
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, chain, err := pkcs12.DecodeChain(p12, pass)
	if err != nil {
		t.Fatalf("the eap-config's PKCS#12 does not open with the password the page showed (%q): %v", pass, err)
	}
	return credential{ca: ca, serverIDs: m.ServerID, leaf: leaf, chain: chain, key: key}
}

// write puts the credential in the files eapol_test reads.
func (c credential) write(t *testing.T) (certFile, keyFile, caFile string) {
	t.Helper()
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	var certs bytes.Buffer
	pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: c.leaf.Raw})
	for _, ch := range c.chain {
		pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: ch.Raw})
	}
	certFile, keyFile, caFile = filepath.Join(dir, "device.crt"), filepath.Join(dir, "device.key"), filepath.Join(dir, "ca.pem")
	for path, data := range map[string][]byte{
		certFile: certs.Bytes(),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		caFile:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.ca.Raw}),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile, caFile
}

// checkAppleProfile reads a .mobileconfig as iOS would.
func checkAppleProfile(t *testing.T, data, rootDER []byte, portalURL string, checkOut time.Time) {
	t.Helper()
	var top map[string]any
	if _, err := plist.Unmarshal(data, &top); err != nil {
		t.Fatalf("the Apple profile is not a plist: %v", err)
	}
	if got, ok := top["RemovalDate"].(time.Time); !ok || !got.Equal(checkOut) {
		t.Errorf("RemovalDate %v, want the check-out %s", top["RemovalDate"], checkOut)
	}
	byType := map[string]map[string]any{}
	for _, p := range top["PayloadContent"].([]any) {
		pl := p.(map[string]any)
		byType[pl["PayloadType"].(string)] = pl
	}
	root, ok := byType["com.apple.security.root"]
	if !ok || !bytes.Equal(root["PayloadContent"].([]byte), rootDER) {
		t.Error("the Apple profile has no com.apple.security.root payload with Keycard's root")
	}
	wifi, ok := byType["com.apple.wifi.managed"]
	if !ok {
		t.Fatalf("no Wi-Fi payload: %v", byType)
	}
	if wifi["SSID_STR"] != "Keycard Test" {
		t.Errorf("SSID_STR %v", wifi["SSID_STR"])
	}
	eap := wifi["EAPClientConfiguration"].(map[string]any)
	names, _ := eap["TLSTrustedServerNames"].([]any)
	if !slices.Contains(names, any("radius.keycard.test")) {
		t.Errorf("TLSTrustedServerNames %v", names)
	}
	switch {
	case byType["com.apple.security.scep"] != nil:
		scep := byType["com.apple.security.scep"]["PayloadContent"].(map[string]any)
		if scep["URL"] != portalURL+"scep" || scep["Challenge"] == "" {
			t.Errorf("SCEP payload %v", scep)
		}
	case byType["com.apple.security.pkcs12"] != nil:
	default:
		t.Errorf("the Apple profile has neither a SCEP nor a PKCS#12 payload: %v", byType)
	}
}
