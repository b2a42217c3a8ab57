package portal

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"regexp"
	"strings"

	"keycard/ca"
	"keycard/portal/profiles"
	"keycard/vouchers"
)

// profile is what one enrolment hands the guest: its files, and the
// PKCS#12 password to show once (empty on the SCEP path, where the
// device makes its own key).
type profile struct {
	files    []file
	password string
	device   int64  // 0 on the SCEP path: the device enrols later
	identity string // "device-42"
	slug     string // file name stem
}

type file struct {
	download
	textKey string // the catalog's words for its button
}

func (pr *profile) keyMade() string {
	if pr.password == "" {
		return "on the device (SCEP)"
	}
	return "by the server (PKCS#12)"
}

// forget wipes the bytes this value still refers to; the download store
// holds its own references until the GET or expiry, and wipes them then.
func (pr *profile) forget() {
	pr.password = ""
	pr.files = nil
}

// makeProfile enrols a device for st (or, for an Apple device with SCEP
// on, mints the challenge it enrols with later) and builds the files for
// platform.
//
// On the PKCS#12 path the key is made here, in memory: ECDSA P-256, its
// public half enrolled, the pair packed into a PKCS#12 under a random
// password, and then dropped. It never reaches a disk, a log or a temp
// file; the PKCS#12 waits in memory for its one download.
func (p *Portal) makeProfile(ctx context.Context, by vouchers.Actor, st vouchers.Stay, via string, platform Platform, label string) (*profile, error) {
	n := p.cfg.Network
	pr := &profile{slug: slug(n.HotelName)}
	if platform == PlatformApple && p.cfg.SCEP {
		challenge, _, err := p.hotel.MintEnrolChallenge(ctx, by, st.ID, string(platform), label, p.cfg.SCEPChallengeLifetime)
		if err != nil {
			return nil, err
		}
		data, err := profiles.Apple(n, st.CheckOut, nil, &profiles.SCEP{
			URL:       p.URL() + "scep",
			Challenge: challenge,
			Subject:   "keycard-guest", // the enrolment names the device; this is a placeholder
			KeySize:   2048,
		})
		if err != nil {
			return nil, err
		}
		pr.add(pr.slug+".mobileconfig", profiles.ContentTypeApple, true, data, "file_apple")
		return pr, nil
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("portal: device key: %w", err)
	}
	d, cert, err := p.hotel.EnrolGuest(ctx, by, st.ID, via, vouchers.Enrolment{PublicKey: &key.PublicKey, Platform: string(platform), Label: label})
	if err != nil {
		return nil, err
	}
	pr.device, pr.identity = d.ID, d.Identity
	if err := p.packPKCS12(pr, platform, key, d, cert, st); err != nil {
		// No device may hold a place under the cap with a key nobody has.
		if _, rerr := p.hotel.RevokeDevice(ctx, by, d.ID, "enrolment aborted: the profile could not be built"); rerr != nil {
			p.log.Error("revoke device of an aborted enrolment", "device", d.ID, "err", rerr)
		}
		return nil, err
	}
	return pr, nil
}

// packPKCS12 builds the platform's files around a server-made key.
func (p *Portal) packPKCS12(pr *profile, platform Platform, key *ecdsa.PrivateKey, d vouchers.Device, cert *x509.Certificate, st vouchers.Stay) error {
	n := p.cfg.Network
	password, err := newPassword(p.rand)
	if err != nil {
		return err
	}
	// The PKCS#12 carries the intermediate and the root. The profile
	// builders take the root out again wherever it would be trusted for
	// more than Wi-Fi (macOS), and ship it as its own item; Windows needs
	// it in the file, as its WLAN profile pins the root by thumbprint.
	data, err := ca.PKCS12(key, cert, p.cfg.Chain, password)
	if err != nil {
		return err
	}
	p12 := profiles.PKCS12{Data: data, Password: password, Identity: d.Identity, NotAfter: d.NotAfter}
	pr.password = password
	switch platform {
	case PlatformApple:
		out, err := profiles.Apple(n, st.CheckOut, &p12, nil)
		if err != nil {
			return err
		}
		pr.add(pr.slug+".mobileconfig", profiles.ContentTypeApple, true, out, "file_apple")
	case PlatformAndroid, PlatformOther:
		out, err := profiles.EAPConfig(n, p12)
		if err != nil {
			return err
		}
		pr.add(pr.slug+".eap-config", profiles.ContentTypeEAPConfig, true, out, "file_eapconfig")
		if platform == PlatformAndroid && p.cfg.Passpoint != nil {
			pp, err := profiles.AndroidPasspoint(n, *p.cfg.Passpoint, p12)
			if err != nil {
				return err
			}
			// No Content-Disposition: Chrome hands application/x-wifi-config
			// to Android's Passpoint installer only when it is not an
			// attachment.
			pr.add(pr.slug+"-passpoint.config", profiles.ContentTypePasspoint, false, pp, "file_passpoint")
		}
	case PlatformWindows:
		out, err := profiles.WindowsWLAN(n)
		if err != nil {
			return err
		}
		pr.add(d.Identity+".p12", "application/x-pkcs12", true, data, "file_p12")
		pr.add(pr.slug+".xml", profiles.ContentTypeWindows, true, out, "file_wlan")
	case PlatformLinux:
		out, err := profiles.NetworkManager(n, linuxFiles(pr.slug, d.Identity), p12)
		if err != nil {
			return err
		}
		pr.add(pr.slug+".nmconnection", profiles.ContentTypeNM, true, out, "file_nm")
		pr.add(d.Identity+".p12", "application/x-pkcs12", true, data, "file_p12")
		pr.add(pr.slug+"-ca.pem", "application/x-pem-file", true, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: n.RootCA.Raw}), "file_ca")
	default:
		return fmt.Errorf("portal: no profile for platform %q", platform)
	}
	return nil
}

func (pr *profile) add(name, contentType string, attachment bool, data []byte, textKey string) {
	pr.files = append(pr.files, file{download: download{name: name, contentType: contentType, attachment: attachment, data: data}, textKey: textKey})
}

// linuxDir is where the Linux steps install the certificate files that
// the NetworkManager connection names (NetworkManager, running as root,
// needs absolute paths it can read).
func linuxDir(slug string) string { return "/etc/keycard-wifi/" + slug }

func linuxFiles(slug, identity string) profiles.NMFiles {
	return profiles.NMFiles{CACert: linuxDir(slug) + "/ca.pem", ClientCert: linuxDir(slug) + "/" + identity + ".p12"}
}

// steps are the numbered instructions for the guest's platform.
func (p *Portal) steps(pg *page, req enrolRequest, pr *profile) []step {
	ssid := p.cfg.Network.SSID
	var s []step
	add := func(key string, args ...any) { s = append(s, step{Text: pg.T(key, args...)}) }
	switch req.platform {
	case PlatformApple:
		if req.client.platform == PlatformApple && !req.client.iphone {
			add("step_apple_mac_1")
			add("step_apple_mac_2")
		} else {
			add("step_apple_iphone_1")
			add("step_apple_iphone_2")
		}
		if pr.password != "" {
			add("step_apple_password")
		}
		add("step_joins", ssid)
	case PlatformAndroid, PlatformOther:
		if req.platform == PlatformAndroid {
			add("step_android_app")
		} else {
			add("step_eap_app")
		}
		add("step_eap_open")
		add("step_eap_password")
		add("step_eap_connect", ssid)
		if req.platform == PlatformAndroid && p.cfg.Passpoint != nil {
			add("step_passpoint")
		}
	case PlatformWindows:
		add("step_windows_1", p.cfg.Network.RootCA.Subject.CommonName)
		add("step_windows_2")
		s = append(s, step{Text: pg.T("step_windows_3"), Code: fmt.Sprintf(`netsh wlan add profile filename="%s.xml" user=current`, pr.slug)})
		add("step_connect", ssid)
	case PlatformLinux:
		add("step_linux_1")
		dir := linuxDir(pr.slug)
		s = append(s, step{Text: pg.T("step_linux_2"), Code: strings.Join([]string{
			fmt.Sprintf("sudo install -D -m 600 %s.p12 %s/%s.p12", pr.identity, dir, pr.identity),
			fmt.Sprintf("sudo install -D -m 644 %s-ca.pem %s/ca.pem", pr.slug, dir),
			fmt.Sprintf("sudo install -m 600 %s.nmconnection /etc/NetworkManager/system-connections/", pr.slug),
			"sudo nmcli connection reload",
		}, "\n")})
		add("step_connect", ssid)
	}
	return s
}

var notSlug = regexp.MustCompile(`[^a-z0-9]+`)

// slug makes a file name stem of the hotel's name: "Grand Harbour Hotel"
// gives "grand-harbour-hotel-wifi". Only [a-z0-9-], so it is safe in the
// shell commands the steps show.
func slug(name string) string {
	s := strings.Trim(notSlug.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	if s == "" {
		return "wifi"
	}
	return s + "-wifi"
}

// newPassword makes a PKCS#12 password: four groups of four characters of
// the voucher alphabet (no look-alikes, easy to type on Windows' import
// dialog), about 74 bits.
func newPassword(r io.Reader) (string, error) {
	const alphabet = vouchers.CodeAlphabet
	const limit = 256 - 256%len(alphabet)
	out := make([]byte, 0, 19)
	buf := make([]byte, 32)
	for n := 0; n < 16; {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("portal: password randomness: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit || n == 16 {
				continue
			}
			if n > 0 && n%4 == 0 {
				out = append(out, '-')
			}
			out = append(out, alphabet[int(b)%len(alphabet)])
			n++
		}
	}
	return string(out), nil
}
