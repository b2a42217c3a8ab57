package profiles

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"strings"
	"testing"
)

const (
	nsWLAN    = "http://www.microsoft.com/networking/WLAN/profile/v1"
	nsOneX    = "http://www.microsoft.com/networking/OneX/v1"
	nsEapHost = "http://www.microsoft.com/provisioning/EapHostConfig"
	nsCommon  = "http://www.microsoft.com/provisioning/EapCommon"
	nsBaseEap = "http://www.microsoft.com/provisioning/BaseEapConnectionPropertiesV1"
	nsTLSv1   = "http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV1"
	nsTLSv2   = "http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV2"
	nsTLSv3   = "http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV3"
)

// xnode is an XML element with its namespace resolved, as Windows reads it.
type xnode struct {
	XMLName xml.Name
	Text    string  `xml:",chardata"`
	Kids    []xnode `xml:",any"`
}

// find follows a path of "namespace local" names and returns the matching
// elements' texts (trimmed).
func (x xnode) find(path ...string) []string {
	if len(path) == 0 {
		return []string{strings.TrimSpace(x.Text)}
	}
	ns, local, _ := strings.Cut(path[0], " ")
	var out []string
	for _, k := range x.Kids {
		if k.XMLName.Space == ns && k.XMLName.Local == local {
			out = append(out, k.find(path[1:]...)...)
		}
	}
	return out
}

// one is find for a path that must name exactly one element.
func (x xnode) one(t *testing.T, path ...string) string {
	t.Helper()
	got := x.find(path...)
	if len(got) != 1 {
		t.Errorf("%d elements at %v, want 1", len(got), path)
		return ""
	}
	return got[0]
}

func decodeWLAN(t *testing.T, data []byte) xnode {
	t.Helper()
	var doc xnode
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("the WLAN profile is not XML: %v", err)
	}
	if doc.XMLName != (xml.Name{Space: nsWLAN, Local: "WLANProfile"}) {
		t.Fatalf("root element %v, want WLANProfile in %s", doc.XMLName, nsWLAN)
	}
	return doc
}

// Paths into the profile.
var (
	wlanSSID = []string{nsWLAN + " SSIDConfig", nsWLAN + " SSID"}
	wlanSec  = []string{nsWLAN + " MSM", nsWLAN + " security"}
	wlanOneX = append(wlanSec[:2:2], nsOneX+" OneX")
	wlanHost = append(wlanOneX[:3:3], nsOneX+" EAPConfig", nsEapHost+" EapHostConfig")
	wlanTLS  = append(wlanHost[:5:5], nsEapHost+" Config", nsBaseEap+" Eap", nsTLSv1+" EapType")
)

func path(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

// elementNamespaces lists every element's resolved namespace, to check that
// each sits in the one Windows' schemas put it in.
func elementNamespaces(t *testing.T, data []byte) map[string]string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	got := map[string]string{}
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok {
			if prev, seen := got[se.Name.Local]; seen && prev != se.Name.Space && se.Name.Local != "Type" && se.Name.Local != "name" {
				t.Errorf("element %s in two namespaces: %s, %s", se.Name.Local, prev, se.Name.Space)
			}
			got[se.Name.Local] = se.Name.Space
		}
	}
	return got
}

func TestWindowsWLAN(t *testing.T) {
	pki := loadPKI(t)
	n := testNetwork(pki)
	out, err := WindowsWLAN(n)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "windows-wlan.xml", out)

	doc := decodeWLAN(t, out)
	if got := doc.one(t, nsWLAN+" name"); got != n.SSID {
		t.Errorf("name %q, want %q", got, n.SSID)
	}
	if got := doc.one(t, path(wlanSSID, nsWLAN+" name")...); got != n.SSID {
		t.Errorf("SSID name %q, want %q", got, n.SSID)
	}
	if h := doc.one(t, path(wlanSSID, nsWLAN+" hex")...); !strings.EqualFold(h, hex.EncodeToString([]byte(n.SSID))) {
		t.Errorf("SSID hex %q does not decode to the SSID", h)
	}
	for _, c := range []struct {
		path []string
		want string
	}{
		{[]string{nsWLAN + " connectionType"}, "ESS"},
		{[]string{nsWLAN + " connectionMode"}, "auto"},
		{path(wlanSec, nsWLAN+" authEncryption", nsWLAN+" authentication"), "WPA2"},
		{path(wlanSec, nsWLAN+" authEncryption", nsWLAN+" encryption"), "AES"},
		{path(wlanSec, nsWLAN+" authEncryption", nsWLAN+" useOneX"), "true"},
		{path(wlanOneX, nsOneX+" authMode"), "user"}, // the certificate is in the user's store
		{path(wlanHost, nsEapHost+" EapMethod", nsCommon+" Type"), "13"},
		{path(wlanHost, nsEapHost+" EapMethod", nsCommon+" AuthorId"), "0"},
		{path(wlanHost, nsEapHost+" Config", nsBaseEap+" Eap", nsBaseEap+" Type"), "13"},
		{path(wlanTLS, nsTLSv1+" CredentialsSource", nsTLSv1+" CertificateStore", nsTLSv1+" SimpleCertSelection"), "true"},
		{path(wlanTLS, nsTLSv1+" ServerValidation", nsTLSv1+" DisableUserPromptForServerValidation"), "true"},
		{path(wlanTLS, nsTLSv1+" ServerValidation", nsTLSv1+" ServerNames"), n.ServerName},
		{path(wlanTLS, nsTLSv1+" DifferentUsername"), "false"},
		{path(wlanTLS, nsTLSv2+" PerformServerValidation"), "true"},
		{path(wlanTLS, nsTLSv2+" AcceptServerName"), "true"},
	} {
		if got := doc.one(t, c.path...); got != c.want {
			t.Errorf("%s = %q, want %q", c.path[len(c.path)-1], got, c.want)
		}
	}

	sum := sha1.Sum(pki.root.Raw)
	thumb := strings.ToUpper(hex.EncodeToString(sum[:]))
	var spaced []string
	for i := 0; i < len(thumb); i += 2 {
		spaced = append(spaced, thumb[i:i+2])
	}
	want := strings.Join(spaced, " ")
	if got := doc.one(t, path(wlanTLS, nsTLSv1+" ServerValidation", nsTLSv1+" TrustedRootCA")...); got != want {
		t.Errorf("TrustedRootCA = %q, want the root's SHA-1 thumbprint %q", got, want)
	}
	if got := doc.one(t, path(wlanTLS, nsTLSv2+" TLSExtensions", nsTLSv3+" FilteringInfo", nsTLSv3+" CAHashList", nsTLSv3+" IssuerHash")...); got != want {
		t.Errorf("CAHashList IssuerHash = %q, want the root's thumbprint", got)
	}

	ns := elementNamespaces(t, out)
	for el, want := range map[string]string{
		"WLANProfile": nsWLAN, "SSIDConfig": nsWLAN, "MSM": nsWLAN, "useOneX": nsWLAN,
		"OneX": nsOneX, "EAPConfig": nsOneX, "authMode": nsOneX,
		"EapHostConfig": nsEapHost, "EapMethod": nsEapHost, "Config": nsEapHost,
		"AuthorId": nsCommon, "VendorId": nsCommon,
		"Eap": nsBaseEap, "EapType": nsTLSv1, "ServerValidation": nsTLSv1, "TrustedRootCA": nsTLSv1,
		"PerformServerValidation": nsTLSv2, "AcceptServerName": nsTLSv2, "TLSExtensions": nsTLSv2,
		"FilteringInfo": nsTLSv3, "CAHashList": nsTLSv3, "IssuerHash": nsTLSv3,
	} {
		if ns[el] != want {
			t.Errorf("%s is in namespace %q, want %q", el, ns[el], want)
		}
	}
}

func TestWindowsWLANEscaping(t *testing.T) {
	pki := loadPKI(t)
	n := nastyNetwork(pki)
	out, err := WindowsWLAN(n)
	if err != nil {
		t.Fatal(err)
	}
	doc := decodeWLAN(t, out)
	if got := doc.one(t, nsWLAN+" name"); got != strings.TrimSpace(n.SSID) {
		t.Errorf("name %q, want %q", got, n.SSID)
	}
	if got := doc.find(path(wlanSSID, nsWLAN+" name")...); len(got) != 1 {
		t.Fatalf("%d SSID names", len(got))
	}
	if h := doc.one(t, path(wlanSSID, nsWLAN+" hex")...); !strings.EqualFold(h, hex.EncodeToString([]byte(n.SSID))) {
		t.Errorf("SSID hex %q, want the SSID %q", h, n.SSID)
	}
	// Untrimmed, the name is the SSID exactly.
	var raw struct {
		Name string `xml:"SSIDConfig>SSID>name"`
	}
	if err := xml.Unmarshal(out, &raw); err != nil || raw.Name != n.SSID {
		t.Errorf("SSID name %q (%v), want %q", raw.Name, err, n.SSID)
	}
	if bytes.Contains(out, []byte(`<"5G">`)) {
		t.Error("the SSID is not escaped")
	}
}
