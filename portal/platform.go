package portal

import (
	"net/http"
	"strings"
)

// Platform is a kind of device the portal makes a profile for.
type Platform string

// The platforms, in the order "other device" lists them.
const (
	// Apple: iPhone, iPad, Mac. An Apple configuration profile.
	PlatformApple Platform = "apple"
	// Android: an eap-config for the geteduroam app (and a Passpoint
	// profile when the hotel has Hotspot 2.0).
	PlatformAndroid Platform = "android"
	// Windows: a WLAN profile and a PKCS#12.
	PlatformWindows Platform = "windows"
	// Linux: a NetworkManager connection, a PKCS#12 and the CA.
	PlatformLinux Platform = "linux"
	// Other: an eap-config for a geteduroam app (it exists for Android,
	// iOS, Windows and Linux).
	PlatformOther Platform = "other"
)

var platforms = []Platform{PlatformApple, PlatformAndroid, PlatformWindows, PlatformLinux, PlatformOther}

func parsePlatform(s string) (Platform, bool) {
	for _, p := range platforms {
		if string(p) == s {
			return p, true
		}
	}
	return "", false
}

// client is what the portal makes of a browser from its request.
type client struct {
	platform Platform
	// mini is a captive-portal mini-browser, or another in-app web view,
	// that cannot download or install a profile and closes when the guest
	// switches apps: the guest must open the page in the real browser
	// first.
	mini bool
	// device names the kind of device, as a catalog key ("dev_iphone");
	// "" when the User-Agent does not say.
	device string
	// iphone: an iPhone or iPad, which installs profiles in Settings,
	// not System Settings. (iPadOS's Safari says "Macintosh" by default,
	// so the Mac steps name the iPad too.)
	iphone bool
}

// detect reads the User-Agent (and Android's X-Requested-With).
//
// Captive mini-browsers:
//   - Apple's captive network assistant (iOS, iPadOS, macOS) sends
//     "CaptiveNetworkSupport-<version> wispr" on its probes; its web sheet
//     sends a WebKit User-Agent without the "Safari/" token that Safari
//     and the other iOS browsers (CriOS, FxiOS, EdgiOS) all carry. In-app
//     web views of other apps look the same and cannot install profiles
//     either, so both get the open-in-Safari step.
//   - Android's captive portal login (com.android.captiveportallogin)
//     shows the portal in a WebView: its User-Agent has "; wv)" and the
//     WebView may send X-Requested-With: com.android.captiveportallogin.
//     (Android releases that use a Custom Tab instead show the real
//     browser, which can download, and are not flagged.)
func detect(r *http.Request) client {
	ua := r.Header.Get("User-Agent")
	xrw := strings.ToLower(r.Header.Get("X-Requested-With"))
	has := func(s string) bool { return strings.Contains(ua, s) }
	var c client
	switch {
	case has("CaptiveNetworkSupport"):
		c = client{platform: PlatformApple, mini: true, device: "dev_iphone", iphone: true}
	case has("iPhone") || has("iPod"):
		c = client{platform: PlatformApple, device: "dev_iphone", iphone: true}
	case has("iPad"):
		c = client{platform: PlatformApple, device: "dev_ipad", iphone: true}
	case has("Android"):
		c = client{platform: PlatformAndroid, device: "dev_android"}
		c.mini = has("; wv)") || strings.Contains(xrw, "captiveportallogin")
	case has("Windows"):
		c = client{platform: PlatformWindows, device: "dev_windows"}
	case has("Macintosh") || has("Mac OS X"):
		c = client{platform: PlatformApple, device: "dev_mac"}
	case has("CrOS"):
		c = client{platform: PlatformOther, device: "dev_chromebook"}
	case has("Linux") || has("X11"):
		c = client{platform: PlatformLinux, device: "dev_linux"}
	default:
		c = client{platform: PlatformOther}
	}
	if c.platform == PlatformApple && !c.mini && has("AppleWebKit") && !has("Safari/") {
		c.mini = true
	}
	return c
}
