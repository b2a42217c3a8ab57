package profiles

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"software.sslmate.com/src/go-pkcs12"
)

// Content types the portal serves each profile with.
const (
	ContentTypeApple     = "application/x-apple-aspen-config"
	ContentTypeEAPConfig = "application/eap-config"
	ContentTypePasspoint = "application/x-wifi-config"
	ContentTypeWindows   = "application/xml" // WLAN profile XML
	ContentTypeNM        = "text/plain"      // NetworkManager keyfile (.nmconnection)
)

// Network is what every profile says about the hotel's secure network.
type Network struct {
	SSID       string
	ServerName string            // RADIUS server certificate name the device must check (Android 11+ needs it)
	RootCA     *x509.Certificate // Keycard's root CA, pinned
	HotelName  string

	// Any of these may be empty.
	HelpdeskURL, HelpdeskEmail, HelpdeskPhone string

	// PayloadIdentifier is reverse-DNS and stable per hotel
	// ("com.keycard.grand-hotel"), so that a new Apple profile replaces
	// the old one.
	PayloadIdentifier string

	// Realm is the eap-config provider ID (e.g. the hotel's domain).
	Realm string
}

// PKCS12 is a server-made device credential.
type PKCS12 struct {
	Data     []byte    // 3DES/SHA-1 PKCS#12 (ca.PKCS12 makes it; go-pkcs12 LegacyDES)
	Password string    // its password
	Identity string    // the device's identity ("device-42"): OuterIdentity / EAP identity
	NotAfter time.Time // = the stay's check-out
}

// SCEP asks an Apple device to make its own key and enrol for a
// certificate (RFC 8894).
type SCEP struct {
	URL       string // https://…/scep
	Challenge string // one-time, minted for this enrolment
	Subject   string // CN the device asks for ("device-42" or a placeholder the server overrides)
	Name      string // SCEP CA identifier (may be empty)
	KeySize   int    // 2048 or 4096; 0 means 2048 (Apple: RSA only)
}

// Passpoint names the Hotspot 2.0 home service provider.
type Passpoint struct {
	FQDN                 string   // Home SP domain; Android also matches access points by it
	FriendlyName         string   // shown by Android; empty means the hotel's name
	RoamingConsortiumOIs []string // hex, 3 or 5 octets ("5A03BA0000"); may be empty
	Realm                string   // NAI realm; empty means Network.Realm
}

// text checks a value that ends up in a profile as text: valid UTF-8 and no
// control characters (no profile format can carry them safely).
func text(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("profiles: %s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\ufffe' || r == '\uffff' {
			return fmt.Errorf("profiles: %s contains the control character %U", field, r)
		}
	}
	return nil
}

// required is text that must not be empty.
func required(field, s string) error {
	if s == "" {
		return fmt.Errorf("profiles: %s is empty", field)
	}
	return text(field, s)
}

// hostname checks a DNS name (no wildcard): the RADIUS server name, a
// Passpoint FQDN.
func hostname(field, s string) error {
	if s == "" {
		return fmt.Errorf("profiles: %s is empty", field)
	}
	if len(s) > 253 {
		return fmt.Errorf("profiles: %s %q is longer than 253 bytes", field, s)
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("profiles: %s %q is not a DNS name", field, s)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("profiles: %s %q is not a DNS name", field, s)
			}
		}
	}
	return nil
}

// validate checks the fields every profile uses.
func (n Network) validate() error {
	if n.SSID == "" {
		return errors.New("profiles: SSID is empty")
	}
	if len(n.SSID) > 32 {
		return fmt.Errorf("profiles: SSID %q is longer than 32 bytes", n.SSID)
	}
	if err := text("SSID", n.SSID); err != nil {
		return err
	}
	if err := hostname("ServerName", n.ServerName); err != nil {
		return err
	}
	if n.RootCA == nil {
		return errors.New("profiles: RootCA is missing")
	}
	if !n.RootCA.IsCA {
		return errors.New("profiles: RootCA is not a CA certificate")
	}
	for _, f := range []struct{ name, value string }{
		{"HotelName", n.HotelName},
		{"HelpdeskURL", n.HelpdeskURL},
		{"HelpdeskEmail", n.HelpdeskEmail},
		{"HelpdeskPhone", n.HelpdeskPhone},
		{"Realm", n.Realm},
		{"PayloadIdentifier", n.PayloadIdentifier},
	} {
		if err := text(f.name, f.value); err != nil {
			return err
		}
	}
	return nil
}

// displayName is the name a device shows for the network's provider.
func (n Network) displayName() string {
	if n.HotelName != "" {
		return n.HotelName
	}
	return n.SSID
}

// credential is an opened PKCS#12.
type credential struct {
	key   any
	leaf  *x509.Certificate
	chain []*x509.Certificate // as found in the file, the root included if it was
}

// open checks the PKCS#12 fields and opens the file with its password, so
// that a profile never ships a credential the device cannot open.
func (p PKCS12) open() (*credential, error) {
	if len(p.Data) == 0 {
		return nil, errors.New("profiles: PKCS#12 data is empty")
	}
	if p.Password == "" {
		return nil, errors.New("profiles: PKCS#12 password is empty")
	}
	if err := text("PKCS#12 password", p.Password); err != nil {
		return nil, err
	}
	if err := required("PKCS#12 identity", p.Identity); err != nil {
		return nil, err
	}
	if p.NotAfter.IsZero() {
		return nil, errors.New("profiles: PKCS#12 NotAfter is zero")
	}
	key, leaf, chain, err := pkcs12.DecodeChain(p.Data, p.Password)
	if err != nil {
		return nil, fmt.Errorf("profiles: PKCS#12 does not open with its password: %w", err)
	}
	return &credential{key: key, leaf: leaf, chain: chain}, nil
}

// withoutRoots is the chain minus root certificates (self-signed ones and
// the pinned root): a root inside a PKCS#12 is installed as trusted for
// everything on some systems (macOS would trust it for HTTPS), so profiles
// ship the root as its own, Wi-Fi-only item instead.
func (c *credential) withoutRoots(root *x509.Certificate) (kept []*x509.Certificate, dropped bool) {
	for _, cert := range c.chain {
		if cert.Equal(root) || bytes.Equal(cert.RawIssuer, cert.RawSubject) && cert.CheckSignatureFrom(cert) == nil {
			dropped = true
			continue
		}
		kept = append(kept, cert)
	}
	return kept, dropped
}

// encode writes the credential as a 3DES/SHA-1 PKCS#12 (the only form
// every supported device opens) with the given chain and password.
//
// The salts come from a generator seeded with the original file, its
// password and purpose, so the builders stay pure functions (the same input
// gives the same profile). The original file's own random salts and
// encrypted key make the seed unpredictable, and a salt needs uniqueness,
// not secrecy.
func (c *credential) encode(p PKCS12, chain []*x509.Certificate, password, purpose string) ([]byte, error) {
	enc := pkcs12.LegacyDES.WithRand(seededRand(purpose, p.Data, []byte(p.Password)))
	data, err := enc.Encode(c.key, c.leaf, chain, password)
	if err != nil {
		return nil, fmt.Errorf("profiles: re-encoding PKCS#12: %w", err)
	}
	return data, nil
}

// seededRand is a deterministic CSPRNG (ChaCha8) keyed by SHA-256 of its
// inputs.
func seededRand(purpose string, inputs ...[]byte) io.Reader {
	return rand.NewChaCha8(digest(append([][]byte{[]byte(purpose)}, inputs...)...))
}

// digest is SHA-256 over length-prefixed parts (so that no two different
// lists of parts collide by concatenation).
func digest(parts ...[]byte) [32]byte {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// uuidNamespace is Keycard's namespace for name-based UUIDs.
var uuidNamespace = [16]byte{0x6b, 0x65, 0x79, 0x63, 0x61, 0x72, 0x64, 0x2d, 0x70, 0x72, 0x6f, 0x66, 0x69, 0x6c, 0x65, 0x73}

// nameUUID is a name-based UUID (RFC 9562 version 5: SHA-1 of a namespace
// and a name) over length-prefixed parts, in upper case as uuidgen prints
// it. The same parts always give the same UUID, which keeps golden files
// stable and lets a re-issued profile keep its identifiers.
func nameUUID(parts ...string) string {
	h := sha1.New()
	h.Write(uuidNamespace[:])
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	s := strings.ToUpper(hex.EncodeToString(u[:]))
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// hexDigest is a short printable form of digest, for use inside nameUUID.
func hexDigest(parts ...[]byte) string {
	d := digest(parts...)
	return hex.EncodeToString(d[:])
}
