package profiles

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"howett.net/plist"
)

// Payload types (apple/device-management, mdm/profiles/*.yaml).
const (
	appleConfiguration = "Configuration"
	appleRoot          = "com.apple.security.root"
	applePKCS12        = "com.apple.security.pkcs12"
	appleSCEP          = "com.apple.security.scep"
	appleWiFi          = "com.apple.wifi.managed"
)

// eapTLS is the EAP method type of EAP-TLS (RFC 5216).
const eapTLS = 13

// appleProfile is the top level of a configuration profile (TopLevel.yaml).
type appleProfile struct {
	PayloadType         string
	PayloadVersion      int
	PayloadIdentifier   string
	PayloadUUID         string
	PayloadDisplayName  string
	PayloadDescription  string `plist:",omitempty"`
	PayloadOrganization string `plist:",omitempty"`
	RemovalDate         time.Time
	PayloadContent      []any
}

// appleCertificate is a com.apple.security.root or .pkcs12 payload.
type appleCertificate struct {
	PayloadType                string
	PayloadVersion             int
	PayloadIdentifier          string
	PayloadUUID                string
	PayloadDisplayName         string
	PayloadCertificateFileName string
	PayloadContent             []byte
	Password                   string `plist:",omitempty"` // PKCS#12 only
}

// appleSCEPPayload is a com.apple.security.scep payload.
type appleSCEPPayload struct {
	PayloadType        string
	PayloadVersion     int
	PayloadIdentifier  string
	PayloadUUID        string
	PayloadDisplayName string
	PayloadContent     appleSCEPContent
}

type appleSCEPContent struct {
	URL       string
	Name      string `plist:",omitempty"`
	Subject   [][][]string
	Challenge string
	Keysize   int
	KeyType   string `plist:"Key Type"`
	KeyUsage  int    `plist:"Key Usage"`
}

// appleWiFiPayload is a com.apple.wifi.managed payload.
type appleWiFiPayload struct {
	PayloadType            string
	PayloadVersion         int
	PayloadIdentifier      string
	PayloadUUID            string
	PayloadDisplayName     string
	SSID                   string `plist:"SSID_STR"`
	Hidden                 bool   `plist:"HIDDEN_NETWORK"`
	AutoJoin               bool
	EncryptionType         string
	PayloadCertificateUUID string
	EAPClientConfiguration appleEAP
}

type appleEAP struct {
	AcceptEAPTypes               []int
	UserName                     string `plist:",omitempty"`
	TLSTrustedServerNames        []string
	PayloadCertificateAnchorUUID []string
}

// Apple builds a .mobileconfig (served as [ContentTypeApple]) for iOS,
// iPadOS and macOS: Keycard's root as its own com.apple.security.root
// payload, the device identity, and a com.apple.wifi.managed payload for
// EAP-TLS that trusts only that root and only n.ServerName.
//
// Exactly one of p12 and scep must be given. With scep the device makes
// its own RSA key and enrols through a com.apple.security.scep payload;
// with p12 the server-made credential travels in a
// com.apple.security.pkcs12 payload (without the root, even if the file
// had it) and p12.Identity is the EAP identity (UserName); a SCEP device
// names itself from its certificate. The SCEP payload carries no
// CAFingerprint (scep.URL is https). removal is the stay's check-out: the device deletes the profile
// by itself then (RemovalDate).
//
// The top-level PayloadIdentifier is n.PayloadIdentifier, so a newer
// profile for the same hotel replaces the older one on install; every
// PayloadUUID is derived from the inputs, so the same input gives the same
// bytes.
//
// The profile is not signed (the device shows it as unverified), and it
// leaves TLSMaximumVersion at the device's default (TLS 1.2): the value
// "1.3" is documented only from iOS 17 and macOS 14, and a profile the
// device rejects is worse than EAP-TLS 1.2, which Keycard serves too.
func Apple(n Network, removal time.Time, p12 *PKCS12, scep *SCEP) ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	if err := bundleID("PayloadIdentifier", n.PayloadIdentifier); err != nil {
		return nil, err
	}
	if removal.IsZero() {
		return nil, errors.New("profiles: Apple profile needs a removal date (the check-out)")
	}
	if (p12 == nil) == (scep == nil) {
		return nil, errors.New("profiles: Apple profile needs exactly one of a PKCS#12 and a SCEP enrolment")
	}

	// What tells this credential apart, for the UUIDs.
	var credentialID string
	if p12 != nil {
		credentialID = hexDigest([]byte("pkcs12"), p12.Data)
	} else {
		credentialID = hexDigest([]byte("scep"), []byte(scep.URL), []byte(scep.Challenge),
			[]byte(scep.Subject), []byte(scep.Name), []byte(strconv.Itoa(scep.KeySize)))
	}
	identityUUID := nameUUID(n.PayloadIdentifier, "identity", credentialID)

	var identity any
	var userName string
	if p12 != nil {
		c, err := p12.open()
		if err != nil {
			return nil, err
		}
		data := p12.Data
		if chain, dropped := c.withoutRoots(n.RootCA); dropped {
			if data, err = c.encode(*p12, chain, p12.Password, "apple"); err != nil {
				return nil, err
			}
		}
		userName = p12.Identity
		identity = appleCertificate{
			PayloadType:                applePKCS12,
			PayloadVersion:             1,
			PayloadIdentifier:          n.PayloadIdentifier + ".identity",
			PayloadUUID:                identityUUID,
			PayloadDisplayName:         p12.Identity,
			PayloadCertificateFileName: fileName(p12.Identity) + ".p12",
			PayloadContent:             data,
			Password:                   p12.Password,
		}
	} else {
		content, err := scep.content()
		if err != nil {
			return nil, err
		}
		identity = appleSCEPPayload{
			PayloadType:        appleSCEP,
			PayloadVersion:     1,
			PayloadIdentifier:  n.PayloadIdentifier + ".identity",
			PayloadUUID:        identityUUID,
			PayloadDisplayName: scep.Subject,
			PayloadContent:     content,
		}
	}

	rootName := n.RootCA.Subject.CommonName
	if rootName == "" {
		rootName = "Keycard root CA"
	}
	root := appleCertificate{
		PayloadType:                appleRoot,
		PayloadVersion:             1,
		PayloadIdentifier:          n.PayloadIdentifier + ".root",
		PayloadUUID:                nameUUID(n.PayloadIdentifier, "root", hexDigest(n.RootCA.Raw)),
		PayloadDisplayName:         rootName,
		PayloadCertificateFileName: fileName(rootName) + ".cer",
		PayloadContent:             n.RootCA.Raw,
	}

	wifi := appleWiFiPayload{
		PayloadType:        appleWiFi,
		PayloadVersion:     1,
		PayloadIdentifier:  n.PayloadIdentifier + ".wifi",
		PayloadUUID:        nameUUID(n.PayloadIdentifier, "wifi", n.SSID, credentialID),
		PayloadDisplayName: "Wi-Fi (" + n.SSID + ")",
		SSID:               n.SSID,
		AutoJoin:           true,
		// As of iOS 16 and macOS 13 "WPA2" joins WPA2 and WPA3 networks;
		// before macOS 13 it had to match the network exactly, which a
		// WPA2-Enterprise hotel network does.
		EncryptionType:         "WPA2",
		PayloadCertificateUUID: identityUUID,
		EAPClientConfiguration: appleEAP{
			AcceptEAPTypes:               []int{eapTLS},
			UserName:                     userName,
			TLSTrustedServerNames:        []string{n.ServerName},
			PayloadCertificateAnchorUUID: []string{root.PayloadUUID},
		},
	}

	removal = removal.UTC().Truncate(time.Second)
	profile := appleProfile{
		PayloadType:        appleConfiguration,
		PayloadVersion:     1,
		PayloadIdentifier:  n.PayloadIdentifier,
		PayloadUUID:        nameUUID(n.PayloadIdentifier, "profile", credentialID, removal.Format(time.RFC3339)),
		PayloadDisplayName: n.displayName() + " Wi-Fi",
		PayloadDescription: "Joins the Wi-Fi network " + n.SSID + " with a certificate for this device. " +
			"The profile removes itself at check-out.",
		PayloadOrganization: n.HotelName,
		RemovalDate:         removal,
		PayloadContent:      []any{root, identity, wifi},
	}
	out, err := plist.MarshalIndent(profile, plist.XMLFormat, "\t")
	if err != nil {
		return nil, fmt.Errorf("profiles: encoding the Apple profile: %w", err)
	}
	return append(out, '\n'), nil
}

// content checks the enrolment and builds the SCEP payload's dictionary.
func (s *SCEP) content() (appleSCEPContent, error) {
	u, err := url.Parse(s.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return appleSCEPContent{}, fmt.Errorf("profiles: SCEP URL %q is not an https URL", s.URL)
	}
	if err := text("SCEP URL", s.URL); err != nil {
		return appleSCEPContent{}, err
	}
	if err := required("SCEP challenge", s.Challenge); err != nil {
		return appleSCEPContent{}, err
	}
	if err := required("SCEP subject", s.Subject); err != nil {
		return appleSCEPContent{}, err
	}
	if err := text("SCEP name", s.Name); err != nil {
		return appleSCEPContent{}, err
	}
	size := s.KeySize
	switch size {
	case 0:
		size = 2048
	case 2048, 4096:
	default:
		// Apple also takes 1024, which is too weak to issue.
		return appleSCEPContent{}, fmt.Errorf("profiles: SCEP key size %d is not 2048 or 4096", s.KeySize)
	}
	return appleSCEPContent{
		URL:       s.URL,
		Name:      s.Name,
		Subject:   [][][]string{{{"CN", s.Subject}}},
		Challenge: s.Challenge,
		Keysize:   size,
		KeyType:   "RSA", // the only value Apple knows
		KeyUsage:  1 | 4, // signing and encryption: TLS signs, SCEP's reply is encrypted to the key
	}, nil
}

// bundleID checks a reverse-DNS identifier ("com.keycard.grand-hotel").
func bundleID(field, s string) error {
	if s == "" {
		return fmt.Errorf("profiles: %s is empty", field)
	}
	for part := range strings.SplitSeq(s, ".") {
		if part == "" {
			return fmt.Errorf("profiles: %s %q is not reverse-DNS", field, s)
		}
		for _, r := range part {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("profiles: %s %q is not reverse-DNS", field, s)
			}
		}
	}
	return nil
}

// fileName keeps a display name usable as a file name.
func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(`/\:*?"<>|`, r) {
			return '_'
		}
		return r
	}, s)
}
