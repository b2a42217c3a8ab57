package profiles

import (
	"bytes"
	"crypto/x509"
	"reflect"
	"strings"
	"testing"
	"time"

	"howett.net/plist"
	"software.sslmate.com/src/go-pkcs12"
)

func testSCEP() SCEP {
	return SCEP{
		URL:       "https://portal.grand-hotel.example/scep",
		Challenge: "Qm9va2luZy00Mi1vbmUtdGltZQ",
		Subject:   "device-42",
		Name:      "keycard",
		KeySize:   2048,
	}
}

// decodeApple reads a .mobileconfig back as Apple's devices would see it.
func decodeApple(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var profile map[string]any
	format, err := plist.Unmarshal(data, &profile)
	if err != nil {
		t.Fatalf("the profile is not a property list: %v", err)
	}
	if format != plist.XMLFormat {
		t.Errorf("format %d, want XML", format)
	}
	return profile
}

// payloads returns the profile's payloads by type, checking the parts
// every payload has.
func payloads(t *testing.T, profile map[string]any) map[string]map[string]any {
	t.Helper()
	content, ok := profile["PayloadContent"].([]any)
	if !ok {
		t.Fatalf("PayloadContent is %T, want an array", profile["PayloadContent"])
	}
	byType := map[string]map[string]any{}
	uuids := map[string]bool{profile["PayloadUUID"].(string): true}
	for i, item := range content {
		p, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("payload %d is %T, want a dictionary", i, item)
		}
		typ, _ := p["PayloadType"].(string)
		if _, dup := byType[typ]; dup {
			t.Errorf("two %s payloads", typ)
		}
		byType[typ] = p
		if v, _ := p["PayloadVersion"].(uint64); v != 1 {
			t.Errorf("%s: PayloadVersion %v, want 1", typ, p["PayloadVersion"])
		}
		id, _ := p["PayloadIdentifier"].(string)
		if !strings.HasPrefix(id, profile["PayloadIdentifier"].(string)+".") {
			t.Errorf("%s: PayloadIdentifier %q is not under the profile's", typ, id)
		}
		u, _ := p["PayloadUUID"].(string)
		if !uuidPattern.MatchString(u) {
			t.Errorf("%s: PayloadUUID %q is not a UUID", typ, u)
		}
		if uuids[u] {
			t.Errorf("%s: PayloadUUID %s used twice", typ, u)
		}
		uuids[u] = true
	}
	return byType
}

func checkAppleTop(t *testing.T, n Network, profile map[string]any, removal time.Time) {
	t.Helper()
	for key, want := range map[string]any{
		"PayloadType":       "Configuration",
		"PayloadVersion":    uint64(1),
		"PayloadIdentifier": n.PayloadIdentifier,
	} {
		if got := profile[key]; got != want {
			t.Errorf("%s = %#v, want %#v", key, got, want)
		}
	}
	if !uuidPattern.MatchString(profile["PayloadUUID"].(string)) {
		t.Errorf("PayloadUUID %v is not a UUID", profile["PayloadUUID"])
	}
	if got, _ := profile["RemovalDate"].(time.Time); !got.Equal(removal) {
		t.Errorf("RemovalDate = %v, want %v", profile["RemovalDate"], removal)
	}
	if got := profile["PayloadOrganization"]; got != n.HotelName {
		t.Errorf("PayloadOrganization = %q, want %q", got, n.HotelName)
	}
}

// checkAppleWiFi checks the Wi-Fi payload and its links to the root and
// the identity.
func checkAppleWiFi(t *testing.T, n Network, byType map[string]map[string]any, identityType string) {
	t.Helper()
	root, identity, wifi := byType[appleRoot], byType[identityType], byType[appleWiFi]
	if root == nil || identity == nil || wifi == nil {
		t.Fatalf("payload types %v, want %s, %s and %s", reflect.ValueOf(byType).MapKeys(), appleRoot, identityType, appleWiFi)
	}
	if got, _ := root["PayloadContent"].([]byte); !bytes.Equal(got, n.RootCA.Raw) {
		t.Error("the root payload is not Keycard's root (DER)")
	}
	if got := wifi["SSID_STR"]; got != n.SSID {
		t.Errorf("SSID_STR = %q, want %q", got, n.SSID)
	}
	if wifi["AutoJoin"] != true || wifi["EncryptionType"] != "WPA2" || wifi["HIDDEN_NETWORK"] != false {
		t.Errorf("AutoJoin %v, EncryptionType %v, HIDDEN_NETWORK %v; want true, WPA2, false", wifi["AutoJoin"], wifi["EncryptionType"], wifi["HIDDEN_NETWORK"])
	}
	if got := wifi["PayloadCertificateUUID"]; got != identity["PayloadUUID"] {
		t.Errorf("PayloadCertificateUUID %v is not the identity payload's UUID %v", got, identity["PayloadUUID"])
	}
	eap, ok := wifi["EAPClientConfiguration"].(map[string]any)
	if !ok {
		t.Fatal("no EAPClientConfiguration")
	}
	if got := eap["AcceptEAPTypes"]; !reflect.DeepEqual(got, []any{uint64(13)}) {
		t.Errorf("AcceptEAPTypes = %v, want [13]", got)
	}
	if got := eap["TLSTrustedServerNames"]; !reflect.DeepEqual(got, []any{n.ServerName}) {
		t.Errorf("TLSTrustedServerNames = %v, want [%s]", got, n.ServerName)
	}
	if got := eap["PayloadCertificateAnchorUUID"]; !reflect.DeepEqual(got, []any{root["PayloadUUID"]}) {
		t.Errorf("PayloadCertificateAnchorUUID = %v, want [%v] (the root payload)", got, root["PayloadUUID"])
	}
	if _, ok := eap["TLSMaximumVersion"]; ok {
		t.Error("TLSMaximumVersion is set; older devices do not know 1.3")
	}
}

func TestApplePKCS12(t *testing.T) {
	pki := loadPKI(t)
	n := testNetwork(pki)
	p12 := testP12(t, pki)
	removal := checkout
	out, err := Apple(n, removal, &p12, nil)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "apple-pkcs12.mobileconfig", out)

	profile := decodeApple(t, out)
	checkAppleTop(t, n, profile, removal)
	byType := payloads(t, profile)
	if len(byType) != 3 {
		t.Errorf("%d payloads, want 3 (root, PKCS#12, Wi-Fi)", len(byType))
	}
	checkAppleWiFi(t, n, byType, applePKCS12)
	if _, ok := byType[appleSCEP]; ok {
		t.Error("a SCEP payload beside the PKCS#12")
	}

	// The identity opens with its password, holds the device's key and
	// certificate, and not the root (macOS would trust it for HTTPS).
	identity := byType[applePKCS12]
	if identity["Password"] != testPassword {
		t.Errorf("Password = %v, want the PKCS#12's", identity["Password"])
	}
	data, _ := identity["PayloadContent"].([]byte)
	key, leaf, chain, err := pkcs12.DecodeChain(data, testPassword)
	if err != nil {
		t.Fatalf("the PKCS#12 payload does not open: %v", err)
	}
	if key == nil || !leaf.Equal(pki.device) {
		t.Error("the PKCS#12 payload is not the device's credential")
	}
	for _, c := range chain {
		if c.Equal(pki.root) {
			t.Error("the root is inside the PKCS#12 payload")
		}
	}
	if len(chain) != 1 || !chain[0].Equal(pki.intermediate) {
		t.Errorf("the PKCS#12 payload's chain has %d certificates, want the intermediate", len(chain))
	}
	eap := byType[appleWiFi]["EAPClientConfiguration"].(map[string]any)
	if eap["UserName"] != "device-42" {
		t.Errorf("UserName = %v, want the device identity", eap["UserName"])
	}
}

func TestAppleSCEP(t *testing.T) {
	pki := loadPKI(t)
	n := testNetwork(pki)
	scep := testSCEP()
	removal := checkout.Add(30 * time.Minute)
	out, err := Apple(n, removal, nil, &scep)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "apple-scep.mobileconfig", out)

	profile := decodeApple(t, out)
	checkAppleTop(t, n, profile, removal)
	byType := payloads(t, profile)
	if len(byType) != 3 {
		t.Errorf("%d payloads, want 3 (root, SCEP, Wi-Fi)", len(byType))
	}
	checkAppleWiFi(t, n, byType, appleSCEP)
	if _, ok := byType[applePKCS12]; ok {
		t.Error("a PKCS#12 payload beside the SCEP one")
	}
	content, ok := byType[appleSCEP]["PayloadContent"].(map[string]any)
	if !ok {
		t.Fatal("the SCEP payload's PayloadContent is not a dictionary")
	}
	want := map[string]any{
		"URL":       scep.URL,
		"Name":      scep.Name,
		"Challenge": scep.Challenge,
		"Subject":   []any{[]any{[]any{"CN", "device-42"}}},
		"Keysize":   uint64(2048),
		"Key Type":  "RSA",
		"Key Usage": uint64(5),
	}
	if !reflect.DeepEqual(content, want) {
		t.Errorf("SCEP PayloadContent = %#v\nwant %#v", content, want)
	}
	if _, ok := byType[appleWiFi]["EAPClientConfiguration"].(map[string]any)["UserName"]; ok {
		t.Error("UserName is set for SCEP; the device's certificate names it")
	}
}

// A new profile for the same hotel replaces the old one: the identifiers
// stay, the profile's UUID changes with the credential.
func TestAppleReplaces(t *testing.T) {
	pki := loadPKI(t)
	n := testNetwork(pki)
	p12 := testP12(t, pki)
	scep := testSCEP()
	first, err := Apple(n, checkout, &p12, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Apple(n, checkout.AddDate(0, 0, 2), nil, &scep)
	if err != nil {
		t.Fatal(err)
	}
	a, b := decodeApple(t, first), decodeApple(t, second)
	if a["PayloadIdentifier"] != b["PayloadIdentifier"] {
		t.Errorf("PayloadIdentifier changed: %v, %v", a["PayloadIdentifier"], b["PayloadIdentifier"])
	}
	if a["PayloadUUID"] == b["PayloadUUID"] {
		t.Error("two different profiles have the same PayloadUUID")
	}
	pa, pb := payloads(t, a), payloads(t, b)
	if pa[appleWiFi]["PayloadIdentifier"] != pb[appleWiFi]["PayloadIdentifier"] {
		t.Error("the Wi-Fi payload's identifier changed")
	}
}

func TestAppleEscaping(t *testing.T) {
	pki := loadPKI(t)
	n := nastyNetwork(pki)
	p12 := testP12(t, pki)
	out, err := Apple(n, checkout, &p12, nil)
	if err != nil {
		t.Fatal(err)
	}
	profile := decodeApple(t, out)
	if profile["PayloadOrganization"] != n.HotelName {
		t.Errorf("PayloadOrganization = %q, want %q", profile["PayloadOrganization"], n.HotelName)
	}
	if got := payloads(t, profile)[appleWiFi]["SSID_STR"]; got != n.SSID {
		t.Errorf("SSID_STR = %q, want %q", got, n.SSID)
	}
	if bytes.Contains(out, []byte("<script>")) {
		t.Error("the hotel name is not escaped")
	}
}

// A PKCS#12 without the root is shipped as it is.
func TestApplePKCS12WithoutRoot(t *testing.T) {
	pki := loadPKI(t)
	n := testNetwork(pki)
	data, err := pkcs12.LegacyDES.Encode(pki.key, pki.device, []*x509.Certificate{pki.intermediate}, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	p12 := PKCS12{Data: data, Password: testPassword, Identity: "device-42", NotAfter: checkout}
	out, err := Apple(n, checkout, &p12, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := payloads(t, decodeApple(t, out))[applePKCS12]["PayloadContent"].([]byte)
	if !bytes.Equal(got, data) {
		t.Error("a PKCS#12 without the root was re-encoded")
	}
}

func TestAppleErrors(t *testing.T) {
	pki := loadPKI(t)
	p12 := testP12(t, pki)
	scep := testSCEP()
	for _, tc := range []struct {
		name    string
		change  func(*Network, *SCEP)
		removal time.Time
		p12     *PKCS12
		scep    bool
		want    string
	}{
		{name: "neither credential", removal: checkout, want: "exactly one"},
		{name: "both credentials", removal: checkout, p12: &p12, scep: true, want: "exactly one"},
		{name: "no removal date", p12: &p12, want: "removal date"},
		{name: "no identifier", removal: checkout, p12: &p12, change: func(n *Network, _ *SCEP) { n.PayloadIdentifier = "" }, want: "PayloadIdentifier is empty"},
		{name: "bad identifier", removal: checkout, p12: &p12, change: func(n *Network, _ *SCEP) { n.PayloadIdentifier = "com..keycard" }, want: "not reverse-DNS"},
		{name: "http SCEP", removal: checkout, scep: true, change: func(_ *Network, s *SCEP) { s.URL = "http://portal.example/scep" }, want: "not an https URL"},
		{name: "weak SCEP key", removal: checkout, scep: true, change: func(_ *Network, s *SCEP) { s.KeySize = 1024 }, want: "key size"},
		{name: "no challenge", removal: checkout, scep: true, change: func(_ *Network, s *SCEP) { s.Challenge = "" }, want: "challenge is empty"},
		{name: "no subject", removal: checkout, scep: true, change: func(_ *Network, s *SCEP) { s.Subject = "" }, want: "subject is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNetwork(pki)
			s := scep
			if tc.change != nil {
				tc.change(&n, &s)
			}
			var sp *SCEP
			if tc.scep {
				sp = &s
			}
			_, err := Apple(n, tc.removal, tc.p12, sp)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestAppleSCEPDefaultKeySize(t *testing.T) {
	pki := loadPKI(t)
	s := testSCEP()
	s.KeySize = 0
	out, err := Apple(testNetwork(pki), checkout, nil, &s)
	if err != nil {
		t.Fatal(err)
	}
	content := payloads(t, decodeApple(t, out))[appleSCEP]["PayloadContent"].(map[string]any)
	if content["Keysize"] != uint64(2048) {
		t.Errorf("Keysize = %v, want 2048", content["Keysize"])
	}
}
