package profiles

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
)

// The PerProviderSubscription management object (Hotspot 2.0 PPS MO) as
// an OMA-DM DDF tree, the form AOSP's PpsMoParser reads. Every node has a
// NodeName and either a Value or child nodes.
type ppsTree struct {
	XMLName xml.Name `xml:"MgmtTree"`
	XMLNS   string   `xml:"xmlns,attr"`
	VerDTD  string   `xml:"VerDTD"`
	Node    ppsRoot  `xml:"Node"`
}

// ppsRoot is the PerProviderSubscription node, the only one with
// RTProperties (PpsMoParser refuses any other tag below it).
type ppsRoot struct {
	Name     string     `xml:"NodeName"`
	DDFName  string     `xml:"RTProperties>Type>DDFName"`
	Children []*ppsNode `xml:"Node"`
}

type ppsNode struct {
	Name     string     `xml:"NodeName"`
	Value    *string    `xml:"Value"`
	Children []*ppsNode `xml:"Node"`
}

func ppsLeaf(name, value string) *ppsNode { return &ppsNode{Name: name, Value: &value} }

func ppsInner(name string, children ...*ppsNode) *ppsNode {
	return &ppsNode{Name: name, Children: children}
}

// passpointBoundary separates the MIME parts. It holds '-' and '_', which
// base64 never produces, so no line of a part can look like it.
const passpointBoundary = "keycard_passpoint-8c1f5e2a"

// AndroidPasspoint builds a Passpoint (Hotspot 2.0 release 1) installation
// file for Android 11+ (served as [ContentTypePasspoint], with
// Content-Transfer-Encoding: base64 and no Content-Disposition; Chrome hands
// it to the system's Wi-Fi installer). It is base64 of a MIME
// multipart/mixed message with three base64 parts, in the format of AOSP's
// android.net.wifi.hotspot2.ConfigParser:
//
//   - application/x-passpoint-profile: the PPS MO with HomeSP (FQDN,
//     FriendlyName, RoamingConsortiumOI), Credential (Realm, ExpirationDate
//     = check-out, DigitalCertificate x509v3 with the SHA-256 fingerprint of
//     the device certificate) and Extension/Android/AAAServerTrustedNames =
//     n.ServerName, which Android checks the RADIUS server certificate
//     against (without it Android would check the Home SP FQDN);
//   - application/x-x509-ca-cert: Keycard's root (DER);
//   - application/x-pkcs12: the device key and certificate chain, without
//     the root and WITHOUT A PASSWORD: ConfigParser opens the PKCS#12 with
//     an empty password (KeyStore.load(in, new char[0])), so a protected
//     file cannot be installed this way. The portal must serve this file
//     only over HTTPS, once, to the guest who enrolled.
//
// It only matches access points that advertise Passpoint (the Home SP
// FQDN, a roaming consortium OI or the NAI realm); Android sends
// "anonymous@<realm>" as the EAP identity. ServerName, not the FQDN, is
// what the server's certificate must name. The PPS MO has no field for an
// EAP-TLS outer identity, so p12.Identity is not used.
func AndroidPasspoint(n Network, pp Passpoint, p12 PKCS12) ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	if err := hostname("Passpoint FQDN", pp.FQDN); err != nil {
		return nil, err
	}
	friendly := pp.FriendlyName
	if friendly == "" {
		friendly = n.displayName()
	}
	if err := text("Passpoint FriendlyName", friendly); err != nil {
		return nil, err
	}
	realm := pp.Realm
	if realm == "" {
		realm = n.Realm
	}
	if realm == "" {
		return nil, errors.New("profiles: Passpoint needs a realm (Passpoint.Realm or Network.Realm)")
	}
	if err := text("Passpoint realm", realm); err != nil {
		return nil, err
	}
	ois := make([]string, 0, len(pp.RoamingConsortiumOIs))
	for _, oi := range pp.RoamingConsortiumOIs {
		if b, err := hex.DecodeString(oi); err != nil || len(b) != 3 && len(b) != 5 {
			return nil, fmt.Errorf("profiles: roaming consortium OI %q is not 3 or 5 octets in hex", oi)
		}
		ois = append(ois, strings.ToUpper(oi))
	}

	c, err := p12.open()
	if err != nil {
		return nil, err
	}
	chain, _ := c.withoutRoots(n.RootCA)
	bare, err := c.encode(p12, chain, "", "passpoint")
	if err != nil {
		return nil, err
	}
	fingerprint := sha256.Sum256(c.leaf.Raw)

	homeSP := ppsInner("HomeSP",
		ppsLeaf("FriendlyName", friendly),
		ppsLeaf("FQDN", pp.FQDN),
	)
	if len(ois) > 0 {
		homeSP.Children = append(homeSP.Children, ppsLeaf("RoamingConsortiumOI", strings.Join(ois, ",")))
	}
	mo := ppsTree{
		XMLNS:  "syncml:dmddf1.2",
		VerDTD: "1.2",
		Node: ppsRoot{
			Name:    "PerProviderSubscription",
			DDFName: "urn:wfa:mo:hotspot2dot0-perprovidersubscription:1.0",
			Children: []*ppsNode{ppsInner("i001",
				homeSP,
				ppsInner("Credential",
					// Android reads "yyyy-MM-dd'T'HH:mm:ss'Z'" and only
					// stores it: the certificate's NotAfter is what ends access.
					ppsLeaf("ExpirationDate", p12.NotAfter.UTC().Format("2006-01-02T15:04:05Z")),
					ppsLeaf("Realm", realm),
					ppsInner("DigitalCertificate",
						ppsLeaf("CertificateType", "x509v3"),
						ppsLeaf("CertSHA256Fingerprint", hex.EncodeToString(fingerprint[:])),
					),
				),
				ppsInner("Extension",
					ppsInner("Android",
						ppsInner("AAAServerTrustedNames",
							ppsLeaf("FQDN", n.ServerName),
						),
					),
				),
			)},
		},
	}
	moXML, err := xml.MarshalIndent(mo, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("profiles: encoding the Passpoint profile: %w", err)
	}

	var msg bytes.Buffer
	msg.WriteString("Content-Type: multipart/mixed; boundary=" + passpointBoundary + "\r\n")
	msg.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	for _, part := range []struct {
		contentType string
		data        []byte
	}{
		{"application/x-passpoint-profile", moXML},
		{"application/x-x509-ca-cert", n.RootCA.Raw},
		{"application/x-pkcs12", bare},
	} {
		msg.WriteString("--" + passpointBoundary + "\r\n")
		msg.WriteString("Content-Type: " + part.contentType + "\r\n")
		msg.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		msg.Write(base64Lines(part.data))
	}
	msg.WriteString("--" + passpointBoundary + "--\r\n")
	return base64Lines(msg.Bytes()), nil
}

// base64Lines is RFC 2045 base64: lines of 76 characters ending in CRLF.
func base64Lines(data []byte) []byte {
	s := base64.StdEncoding.EncodeToString(data)
	var b bytes.Buffer
	for len(s) > 76 {
		b.WriteString(s[:76])
		b.WriteString("\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	b.WriteString("\r\n")
	return b.Bytes()
}
