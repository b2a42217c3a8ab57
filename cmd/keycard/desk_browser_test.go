package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// The front desk in a real browser, in the hotel in a box: headless
// Chromium as a 1024×768 tablet at the desk. An admin made with the CLI
// logs in (password, then setting up TOTP from the page: the test reads
// the secret off it and computes the code as an authenticator app would),
// adds a front-desk account on the staff page; that member of staff logs
// in, sets up TOTP the same way, creates a stay and opens its voucher
// card. A device enrolled for that stay joins through hostapd and
// wpa_supplicant, its live session shows on the stay page, and when the
// stay is ended in the browser the access point drops the device. Each
// step leaves a screenshot (deskArtifacts).
func TestDeskBrowser(t *testing.T) {
	chromium := requireTool(t, "chromium")
	ho := newHotel(t)
	h := ho.h
	// newHotel's serve runs without the desk: restart it with desk.listen
	// set (hostapd keeps running and simply talks to the new process).
	deskPort := freeTCPPort(t)
	ho.serve.stop()
	f, err := os.OpenFile(h.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "desk:\n  listen: 127.0.0.1:%d\n", deskPort)
	f.Close()
	ho.serve = h.serveProcess("serve-desk")
	deskURL := fmt.Sprintf("https://127.0.0.1:%d/", deskPort)
	if _, ok := ho.serve.waitLog(5*time.Second, "keycard serving", deskURL); !ok {
		t.Fatalf("serve does not log the desk's URL\n%s", tail(ho.serve.log(), 20))
	}

	// The first admin, from the CLI, the password from a file.
	const adminPassword = "lantern harbour evening tide"
	pwFile := filepath.Join(h.dir, "admin-password")
	if err := os.WriteFile(pwFile, []byte(adminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.cli("staff", "add", "--name", "admin", "--role", "admin", "--password-file", pwFile)

	shots := deskArtifacts(t)
	ctx := startChromium(t, chromium)
	var seen []string // every page's HTML, for the secret checks
	shot := func(name string) {
		t.Helper()
		if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err == nil {
			seen = append(seen, html)
		}
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
			t.Fatalf("%s: %v\n--- keycard ---\n%s", what, err, tail(ho.serve.log(), 30))
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
	clickAndLoad := func(what, sel string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
			t.Fatalf("%s: %v\n--- keycard ---\n%s", what, err, tail(ho.serve.log(), 30))
		}
	}
	// firstLogin logs a new account in: password, TOTP set up from the
	// page, recovery codes, and the own password instead of the one set
	// by an admin (confirmed with a recovery code, so no wait for the next
	// TOTP step). It returns the TOTP secret.
	firstLogin := func(who, password, newPassword, prefix string) string {
		t.Helper()
		do(who+": login page", chromedp.Navigate(deskURL), chromedp.WaitVisible(chromedp.CSS("#name")),
			chromedp.SendKeys(chromedp.CSS("#name"), who), chromedp.SendKeys(chromedp.CSS("#password"), password))
		shot(prefix + "-1-login.png")
		clickAndLoad(who+": password", "form button.primary")
		do(who+": set-up page", chromedp.WaitVisible(chromedp.CSS("#secret")), chromedp.WaitVisible(chromedp.CSS("img.qr")))
		secret := strings.ReplaceAll(text("#secret"), " ", "")
		shot(prefix + "-2-totp-setup.png")
		code, err := totp.GenerateCode(secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		do(who+": code", chromedp.SendKeys(chromedp.CSS("#code"), code))
		clickAndLoad(who+": confirm the app", "form button.primary")
		do(who+": recovery codes", chromedp.WaitVisible(chromedp.CSS("#recovery-codes")))
		recovery := strings.Fields(text("#recovery-codes"))
		if len(recovery) != 10 {
			t.Fatalf("%s: recovery codes %q", who, recovery)
		}
		shot(prefix + "-3-recovery-codes.png")
		clickAndLoad(who+": continue", "a.button.primary")
		do(who+": change password", chromedp.WaitVisible(chromedp.CSS("#current")),
			chromedp.SendKeys(chromedp.CSS("#current"), password), chromedp.SendKeys(chromedp.CSS("#code"), recovery[0]),
			chromedp.SendKeys(chromedp.CSS("#new"), newPassword), chromedp.SendKeys(chromedp.CSS("#repeat"), newPassword))
		clickAndLoad(who+": change password", "form button.primary")
		if got := text("main"); !strings.Contains(got, "Your password is changed") {
			t.Fatalf("%s: after the password change: %s", who, got)
		}
		clickAndLoad(who+": to the stays", "a.button.primary")
		if got := text("h1"); got != "Stays" {
			t.Fatalf("%s: after logging in: %q", who, got)
		}
		return secret
	}

	do("tablet", chromedp.EmulateViewport(1024, 768))
	// 1. The admin logs in for the first time.
	adminSecret := firstLogin("admin", adminPassword, "my own quiet lighthouse keeper", "1-admin")
	// 2. … and adds a front-desk account; its first password is
	// generated and shown once.
	do("staff page", chromedp.Navigate(deskURL+"staff"), chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "frontdesk"))
	clickAndLoad("add account", "form button.primary")
	generated := text("#generated-password")
	if len(generated) < 20 || !strings.Contains(text("#accounts"), "frontdesk") {
		t.Fatalf("staff page after adding: %q\n%s", generated, text("main"))
	}
	shot("2-admin-added-front-desk.png")
	clickAndLoad("admin logs out", "header form.logout button")

	// 3. The front desk logs in, sets up TOTP from the QR page.
	deskSecret := firstLogin("frontdesk", generated, "front desk morning coffee", "3-frontdesk")
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("header")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, `href="/staff"`) {
		t.Error("the front desk's menu links to the staff page")
	}

	// 4. A stay and its voucher card.
	do("new stay", chromedp.Navigate(deskURL+"stays/new"), chromedp.WaitVisible(chromedp.CSS("#room")),
		chromedp.SendKeys(chromedp.CSS("#room"), "214"), chromedp.SendKeys(chromedp.CSS("#guest"), "Grace Hopper"),
		chromedp.SetValue(chromedp.CSS("#max_devices"), "2"))
	shot("4-new-stay.png")
	clickAndLoad("create stay", "form button.primary")
	do("voucher card", chromedp.WaitVisible(chromedp.CSS("#voucher-code")))
	voucher := text("#voucher-code")
	if !regexp.MustCompile(`^[A-Z0-9]{4}(-[A-Z0-9]{4}){2}$`).MatchString(voucher) || !strings.Contains(text(".voucher"), h.portalURL()) {
		t.Errorf("voucher card: %q\n%s", voucher, text(".voucher"))
	}
	shot("5-voucher-card.png")
	link, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`p.noprint a[href^="/stays/"]`), "href"))
	if err != nil {
		t.Fatal(err)
	}
	stayHref := link.Value
	stayID, err := strconv.ParseInt(strings.TrimPrefix(stayHref, "/stays/"), 10, 64)
	if err != nil {
		t.Fatalf("stay link %q", stayHref)
	}

	// 5. A guest device of this stay joins the secure network.
	dev := ho.h.enrol(stayID)
	_, sess := ho.connect(dev, "grace-laptop")
	clickAndLoad("open the stay", "p.noprint a.button.primary")
	do("live session", chromedp.WaitVisible(chromedp.CSS("#sessions")))
	if got := text("#sessions"); !strings.Contains(strings.ToLower(got), strings.ReplaceAll(ho.station, ":", "-")) &&
		!strings.Contains(strings.ToLower(got), ho.station) {
		t.Errorf("the stay page's sessions do not show the station %s:\n%s", ho.station, got)
	}
	if got := text("#devices"); !strings.Contains(got, "online") {
		t.Errorf("the device is not shown online: %s", got)
	}
	shot("6-stay-with-live-session.png")
	keepDocShot(t, filepath.Join(shots, "6-stay-with-live-session.png"))

	// 6. The stay ends at the desk, after a confirmation; the access point
	// drops the device.
	clickAndLoad("end…", `a.button.danger[href$="/end"]`)
	shot("7-confirm-end.png")
	clickAndLoad("end the stay", "form.confirm button.danger")
	if got := text("#stay-status"); got != "ended" {
		t.Errorf("stay status after ending: %q", got)
	}
	ho.waitDropped(sess, 5*time.Second, "stay ended at the desk")
	do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#no-sessions")))
	shot("8-stay-ended.png")

	// Nothing secret on any page after it was shown once, or in the log.
	logs := ho.serve.log()
	for what, s := range map[string]string{"NAS secret": h.secret, "admin password": adminPassword, "admin TOTP secret": adminSecret,
		"front desk TOTP secret": deskSecret, "generated password": generated} {
		if strings.Contains(logs, s) {
			t.Errorf("the serve log holds the %s", what)
		}
		for i, p := range seen {
			if strings.Contains(p, s) && !(strings.Contains(what, "TOTP") && strings.Contains(p, `id="secret"`)) &&
				!(what == "generated password" && strings.Contains(p, `id="generated-password"`)) {
				t.Errorf("page %d holds the %s", i, what)
			}
		}
	}
}

// portalURL is the guest portal's URL in the harness config.
func (h *harness) portalURL() string { return fmt.Sprintf("https://127.0.0.1:%d/", h.portal) }

// deskArtifacts is the folder the screenshots go to, as portalArtifacts
// but under desk/.
func deskArtifacts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "screenshots")
	if base := os.Getenv("KEYCARD_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, "desk")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("KEYCARD_KEEP_ARTIFACTS") == "1" {
		keep, err := filepath.Abs(filepath.Join("..", "..", "artifacts", "desk"))
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

// keepDocShot copies the stay page's screenshot to docs/desk-stay.png
// when KEYCARD_UPDATE_DOCS=1 (the README shows it).
func keepDocShot(t *testing.T, png string) {
	t.Helper()
	if os.Getenv("KEYCARD_UPDATE_DOCS") != "1" {
		return
	}
	data, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "desk-stay.png"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
