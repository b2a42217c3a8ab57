package profiles

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

// eapDoc reads an eap-config the way a consumer does (the structure of
// geteduroam/linux-app's internal/eap, trimmed to what Keycard writes).
type eapDoc struct {
	XMLName  xml.Name `xml:"EAPIdentityProviderList"`
	Provider struct {
		ID         string `xml:"ID,attr"`
		Namespace  string `xml:"namespace,attr"`
		ValidUntil string `xml:"ValidUntil"`
		Methods    []struct {
			Type   int `xml:"EAPMethod>Type"`
			Server struct {
				CA []struct {
					Format   string `xml:"format,attr"`
					Encoding string `xml:"encoding,attr"`
					Value    string `xml:",chardata"`
				} `xml:"CA"`
				ServerID []string `xml:"ServerID"`
			} `xml:"ServerSideCredential"`
			Client struct {
				OuterIdentity     string `xml:"OuterIdentity"`
				ClientCertificate struct {
					Format   string `xml:"format,attr"`
					Encoding string `xml:"encoding,attr"`
					Value    string `xml:",chardata"`
				} `xml:"ClientCertificate"`
				Passphrase string `xml:"Passphrase"`
			} `xml:"ClientSideCredential"`
		} `xml:"AuthenticationMethods>AuthenticationMethod"`
		Networks []struct {
			SSID        string `xml:"SSID"`
			MinRSNProto string `xml:"MinRSNProto"`
		} `xml:"CredentialApplicability>IEEE80211"`
		DisplayName string `xml:"ProviderInfo>DisplayName"`
		Helpdesk    *struct {
			EmailAddress string `xml:"EmailAddress"`
			WebAddress   string `xml:"WebAddress"`
			Phone        string `xml:"Phone"`
		} `xml:"ProviderInfo>Helpdesk"`
	} `xml:"EAPIdentityProvider"`
}

// validateEAPConfig checks a document against GEANT's published schema.
func validateEAPConfig(t *testing.T, doc []byte) {
	t.Helper()
	xmllint := requireTool(t, "xmllint")
	path := filepath.Join(t.TempDir(), "profile.eap-config")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", filepath.Join("testdata", "eap-metadata.xsd"), path).CombinedOutput()
	if err != nil {
		t.Errorf("the eap-config does not validate against eap-metadata.xsd: %v\n%s", err, out)
	}
}

func decodeEAPConfig(t *testing.T, data []byte) eapDoc {
	t.Helper()
	var doc eapDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("the eap-config is not XML: %v", err)
	}
	return doc
}

func TestEAPConfig(t *testing.T) {
	pki := loadPKI(t)
	n := testNetwork(pki)
	p12 := testP12(t, pki)
	out, err := EAPConfig(n, p12)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "device.eap-config", out)
	validateEAPConfig(t, out)

	doc := decodeEAPConfig(t, out)
	p := doc.Provider
	if p.ID != n.Realm || p.Namespace != "urn:RFC4282:realm" {
		t.Errorf("provider ID %q namespace %q, want %q urn:RFC4282:realm", p.ID, p.Namespace, n.Realm)
	}
	if p.ValidUntil != "2026-08-03T11:00:00Z" {
		t.Errorf("ValidUntil = %q, want the check-out 2026-08-03T11:00:00Z", p.ValidUntil)
	}
	if len(p.Methods) != 1 {
		t.Fatalf("%d authentication methods, want 1", len(p.Methods))
	}
	m := p.Methods[0]
	if m.Type != 13 {
		t.Errorf("EAP type %d, want 13 (TLS)", m.Type)
	}
	if len(m.Server.CA) != 1 || m.Server.CA[0].Format != "X.509" || m.Server.CA[0].Encoding != "base64" {
		t.Fatalf("CA elements %+v, want one X.509/base64", m.Server.CA)
	}
	der, err := base64.StdEncoding.DecodeString(m.Server.CA[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if ca, err := x509.ParseCertificate(der); err != nil || !ca.Equal(pki.root) {
		t.Errorf("CA is not Keycard's root (%v)", err)
	}
	if len(m.Server.ServerID) != 1 || m.Server.ServerID[0] != n.ServerName {
		t.Errorf("ServerID = %v, want [%s]", m.Server.ServerID, n.ServerName)
	}
	if m.Client.OuterIdentity != "device-42" {
		t.Errorf("OuterIdentity = %q, want device-42", m.Client.OuterIdentity)
	}
	cc := m.Client.ClientCertificate
	if cc.Format != "PKCS12" || cc.Encoding != "base64" {
		t.Errorf("ClientCertificate format %q encoding %q, want PKCS12 base64", cc.Format, cc.Encoding)
	}
	raw, err := base64.StdEncoding.DecodeString(cc.Value)
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, _, err := pkcs12.DecodeChain(raw, m.Client.Passphrase)
	if err != nil {
		t.Fatalf("the ClientCertificate does not open with the Passphrase: %v", err)
	}
	if key == nil || !leaf.Equal(pki.device) || !leaf.NotAfter.Equal(checkout) {
		t.Error("the ClientCertificate is not the device's credential ending at check-out")
	}
	if len(p.Networks) != 1 || p.Networks[0].SSID != n.SSID || p.Networks[0].MinRSNProto != "CCMP" {
		t.Errorf("IEEE80211 = %+v, want SSID %q, MinRSNProto CCMP", p.Networks, n.SSID)
	}
	if p.DisplayName != n.HotelName {
		t.Errorf("DisplayName = %q, want %q", p.DisplayName, n.HotelName)
	}
	if p.Helpdesk == nil || p.Helpdesk.EmailAddress != n.HelpdeskEmail || p.Helpdesk.WebAddress != n.HelpdeskURL || p.Helpdesk.Phone != n.HelpdeskPhone {
		t.Errorf("Helpdesk = %+v, want the hotel's", p.Helpdesk)
	}
}

// Only the help desk fields the hotel set are written; with none, no
// Helpdesk element.
func TestEAPConfigHelpdesk(t *testing.T) {
	pki := loadPKI(t)
	p12 := testP12(t, pki)
	for _, tc := range []struct {
		name        string
		change      func(*Network)
		wantElement bool
		absent      []string
	}{
		{"none", func(n *Network) { n.HelpdeskEmail, n.HelpdeskURL, n.HelpdeskPhone = "", "", "" }, false, []string{"<Helpdesk>"}},
		{"phone only", func(n *Network) { n.HelpdeskEmail, n.HelpdeskURL = "", "" }, true, []string{"<EmailAddress>", "<WebAddress>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNetwork(pki)
			tc.change(&n)
			out, err := EAPConfig(n, p12)
			if err != nil {
				t.Fatal(err)
			}
			validateEAPConfig(t, out)
			if got := decodeEAPConfig(t, out).Provider.Helpdesk != nil; got != tc.wantElement {
				t.Errorf("Helpdesk element present = %v, want %v", got, tc.wantElement)
			}
			for _, s := range tc.absent {
				if bytes.Contains(out, []byte(s)) {
					t.Errorf("%s is written", s)
				}
			}
		})
	}
}

func TestEAPConfigEscaping(t *testing.T) {
	pki := loadPKI(t)
	n := nastyNetwork(pki)
	out, err := EAPConfig(n, testP12(t, pki))
	if err != nil {
		t.Fatal(err)
	}
	validateEAPConfig(t, out)
	p := decodeEAPConfig(t, out).Provider
	if p.DisplayName != n.HotelName || p.Networks[0].SSID != n.SSID || p.Helpdesk.Phone != n.HelpdeskPhone {
		t.Errorf("DisplayName %q, SSID %q, Phone %q; want %q, %q, %q", p.DisplayName, p.Networks[0].SSID, p.Helpdesk.Phone, n.HotelName, n.SSID, n.HelpdeskPhone)
	}
	if bytes.Contains(out, []byte("<script>")) {
		t.Error("the hotel name is not escaped")
	}
}

func TestEAPConfigNeedsRealm(t *testing.T) {
	pki := loadPKI(t)
	n := testNetwork(pki)
	n.Realm = ""
	if _, err := EAPConfig(n, testP12(t, pki)); err == nil || !strings.Contains(err.Error(), "Realm") {
		t.Errorf("error %v, want one about the Realm", err)
	}
}
