package portal

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name, ua, xrw string
		platform      Platform
		mini          bool
	}{
		{"iPhone Safari", iPhoneUA, "", PlatformApple, false},
		{"iPhone Chrome", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1", "", PlatformApple, false},
		{"Apple captive probe", "CaptiveNetworkSupport-481.100.1 wispr", "", PlatformApple, true},
		{"iOS captive web sheet", appleCNAUA, "", PlatformApple, true},
		{"macOS captive web sheet", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)", "", PlatformApple, true},
		{"Mac Safari (or iPad)", macUA, "", PlatformApple, false},
		{"Android Chrome", androidUA, "", PlatformAndroid, false},
		{"Android captive portal login (WebView)", androidWV, "", PlatformAndroid, true},
		{"Android WebView by X-Requested-With", androidUA, "com.android.captiveportallogin", PlatformAndroid, true},
		{"Windows Edge", windowsUA, "", PlatformWindows, false},
		{"Linux Firefox", linuxUA, "", PlatformLinux, false},
		{"ChromeOS", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "", PlatformOther, false},
		{"nothing", "", "", PlatformOther, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("User-Agent", tc.ua)
		if tc.xrw != "" {
			r.Header.Set("X-Requested-With", tc.xrw)
		}
		c := detect(r)
		if c.platform != tc.platform || c.mini != tc.mini {
			t.Errorf("%s: platform %s mini %v, want %s %v", tc.name, c.platform, c.mini, tc.platform, tc.mini)
		}
	}
}

func TestMiniBrowserGetsTheOpenInBrowserStep(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ ua, words string }{
		{appleCNAUA, "Use Without Internet, open Safari"},
		{"CaptiveNetworkSupport-481.100.1 wispr", "open Safari"},
		{androidWV, "Use this network as is, open Chrome"},
	} {
		w := f.do(request{path: "/", ua: tc.ua})
		wantStatus(t, w, http.StatusOK, tc.ua)
		wantBody(t, w, "Open this page in your browser", "cannot install Wi-Fi profiles", `value="https://wifi.hotel.test/" readonly`, tc.words)
		// One step, before anything else: no form, no download.
		if strings.Contains(w.Body.String(), `name="code"`) || strings.Contains(w.Body.String(), "/download/") {
			t.Errorf("%s: the mini-browser is offered the form", tc.ua)
		}
	}
	// The guest who knows better can go on.
	w := f.do(request{path: "/?browser=full", ua: appleCNAUA})
	wantBody(t, w, `name="code"`)
	// And in German.
	wantBody(t, f.do(request{path: "/", ua: appleCNAUA, lang: "de"}), "Öffnen Sie diese Seite in Ihrem Browser", "Ohne Internet verwenden")
}
