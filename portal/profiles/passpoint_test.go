package profiles

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

func testPasspoint() Passpoint {
	return Passpoint{
		FQDN:                 "grand-hotel.example",
		FriendlyName:         "",
		RoamingConsortiumOIs: []string{"5a03ba0000", "004096"},
		Realm:                "",
	}
}

// aospParts reads an installation file the way AOSP's
// android.net.wifi.hotspot2.ConfigParser does (parseMimeMultipartMessage
// and parseMimePart): the outer headers must say multipart/mixed with a
// boundary and base64, the parts follow the first boundary line, each part
// must be base64 and one of the three known types, and the part ending in
// "--boundary--" is the last.
func aospParts(data []byte) (map[string][]byte, error) {
	decoded, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("outer base64: %w", err)
	}
	lines := bufio.NewScanner(bytes.NewReader(decoded))
	next := func() (string, bool) {
		if !lines.Scan() {
			return "", false
		}
		return strings.TrimSuffix(lines.Text(), "\r"), true
	}
	headers := func() (contentType, boundary, encoding string, err error) {
		for {
			line, ok := next()
			if !ok {
				return "", "", "", errors.New("EOF in headers")
			}
			if strings.TrimSpace(line) == "" {
				return contentType, boundary, encoding, nil
			}
			name, value, ok := strings.Cut(line, ":")
			if !ok || line[0] == ' ' || line[0] == '\t' {
				return "", "", "", fmt.Errorf("bad header line %q", line)
			}
			value = strings.TrimSpace(value)
			switch strings.TrimSpace(name) {
			case "Content-Type":
				attrs := strings.Split(value, ";")
				contentType = strings.TrimSpace(attrs[0])
				for _, a := range attrs[1:] {
					if b, ok := strings.CutPrefix(strings.TrimSpace(a), "boundary="); ok {
						boundary = strings.Trim(b, `"`)
					}
				}
			case "Content-Transfer-Encoding":
				encoding = value
			}
		}
	}
	typ, boundary, enc, err := headers()
	if err != nil {
		return nil, err
	}
	if typ != "multipart/mixed" || boundary == "" || enc != "base64" {
		return nil, fmt.Errorf("outer headers: type %q boundary %q encoding %q", typ, boundary, enc)
	}
	for {
		line, ok := next()
		if !ok {
			return nil, errors.New("EOF before the first boundary")
		}
		if line == "--"+boundary {
			break
		}
	}
	parts := map[string][]byte{}
	for last := false; !last; {
		typ, _, enc, err := headers()
		if err != nil {
			return nil, err
		}
		if enc != "base64" {
			return nil, fmt.Errorf("part encoding %q", enc)
		}
		switch typ {
		case "application/x-passpoint-profile", "application/x-x509-ca-cert", "application/x-pkcs12":
		default:
			return nil, fmt.Errorf("part type %q", typ)
		}
		var body strings.Builder
		for {
			line, ok := next()
			if !ok {
				return nil, errors.New("EOF in a part")
			}
			if strings.HasPrefix(line, "--"+boundary) {
				last = line == "--"+boundary+"--"
				break
			}
			body.WriteString(line)
		}
		if parts[typ], err = base64.StdEncoding.DecodeString(body.String()); err != nil {
			return nil, fmt.Errorf("part %s: %w", typ, err)
		}
	}
	return parts, nil
}

// moNode is a PPS MO node as AOSP's PpsMoParser.buildPpsNode sees it.
type moNode struct {
	Name     string
	Value    *string
	Children map[string]*moNode
}

// parseMO reads a PPS MO with PpsMoParser's rules: a MgmtTree with one
// VerDTD and one Node; the PerProviderSubscription node holds NodeName,
// RTProperties with the PPS URN and the instance; below it every node has
// one NodeName and either a Value or child nodes with unique names, and
// no other tags.
func parseMO(data []byte) (*moNode, error) {
	type rawNode struct {
		XMLName  xml.Name
		NodeName []string `xml:"NodeName"`
		Value    []string `xml:"Value"`
		RTProps  []struct {
			DDFName []string `xml:"Type>DDFName"`
		} `xml:"RTProperties"`
		Nodes []*rawNode `xml:"Node"`
		Other []struct {
			XMLName xml.Name
		} `xml:",any"`
	}
	var tree struct {
		XMLName xml.Name   `xml:"MgmtTree"`
		VerDTD  []string   `xml:"VerDTD"`
		Nodes   []*rawNode `xml:"Node"`
	}
	if err := xml.Unmarshal(data, &tree); err != nil {
		return nil, err
	}
	if len(tree.VerDTD) != 1 || len(tree.Nodes) != 1 {
		return nil, fmt.Errorf("MgmtTree has %d VerDTD and %d Node", len(tree.VerDTD), len(tree.Nodes))
	}
	pps := tree.Nodes[0]
	if len(pps.NodeName) != 1 || pps.NodeName[0] != "PerProviderSubscription" {
		return nil, fmt.Errorf("top node %v", pps.NodeName)
	}
	if len(pps.RTProps) != 1 || len(pps.RTProps[0].DDFName) != 1 || pps.RTProps[0].DDFName[0] != "urn:wfa:mo:hotspot2dot0-perprovidersubscription:1.0" {
		return nil, fmt.Errorf("RTProperties %+v, want one with the PPS URN", pps.RTProps)
	}
	if len(pps.Nodes) != 1 {
		return nil, fmt.Errorf("%d PPS instances", len(pps.Nodes))
	}
	var build func(r *rawNode) (*moNode, error)
	build = func(r *rawNode) (*moNode, error) {
		if len(r.Other) > 0 || len(r.RTProps) > 0 {
			return nil, fmt.Errorf("unknown tag under %v", r.NodeName)
		}
		if len(r.NodeName) != 1 || len(r.Value) > 1 {
			return nil, fmt.Errorf("node %v has %d values", r.NodeName, len(r.Value))
		}
		n := &moNode{Name: strings.TrimSpace(r.NodeName[0]), Children: map[string]*moNode{}}
		if len(r.Value) == 1 {
			v := strings.TrimSpace(r.Value[0])
			n.Value = &v
		}
		if (n.Value == nil) == (len(r.Nodes) == 0) {
			return nil, fmt.Errorf("node %s needs a value or children, not both", n.Name)
		}
		for _, c := range r.Nodes {
			child, err := build(c)
			if err != nil {
				return nil, err
			}
			if _, dup := n.Children[child.Name]; dup {
				return nil, fmt.Errorf("duplicate node %s under %s", child.Name, n.Name)
			}
			n.Children[child.Name] = child
		}
		return n, nil
	}
	return build(pps.Nodes[0])
}

// value follows a path of node names to a leaf.
func (n *moNode) value(path ...string) string {
	for _, name := range path {
		if n = n.Children[name]; n == nil {
			return "<missing " + name + ">"
		}
	}
	if n.Value == nil {
		return "<not a leaf>"
	}
	return *n.Value
}

func TestAndroidPasspoint(t *testing.T) {
	pki := loadPKI(t)
	n := testNetwork(pki)
	p12 := testP12(t, pki)
	out, err := AndroidPasspoint(n, testPasspoint(), p12)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "passpoint.wifi-config", out)

	parts, err := aospParts(out)
	if err != nil {
		t.Fatalf("AOSP's ConfigParser would refuse the file: %v", err)
	}
	golden(t, "passpoint-mo.xml", parts["application/x-passpoint-profile"])
	if len(parts) != 3 {
		t.Errorf("%d parts, want profile, CA and PKCS#12", len(parts))
	}

	ca, err := x509.ParseCertificate(parts["application/x-x509-ca-cert"])
	if err != nil || !ca.Equal(pki.root) {
		t.Errorf("the CA part is not Keycard's root (%v)", err)
	}

	// Android opens the PKCS#12 with an empty password and expects one key.
	key, leaf, chain, err := pkcs12.DecodeChain(parts["application/x-pkcs12"], "")
	if err != nil {
		t.Fatalf("the PKCS#12 part does not open with the empty password: %v", err)
	}
	if key == nil || !leaf.Equal(pki.device) {
		t.Error("the PKCS#12 part is not the device's credential")
	}
	for _, c := range chain {
		if c.Equal(pki.root) {
			t.Error("the root is inside the PKCS#12 part")
		}
	}

	mo, err := parseMO(parts["application/x-passpoint-profile"])
	if err != nil {
		t.Fatalf("AOSP's PpsMoParser would refuse the profile: %v", err)
	}
	fp := sha256.Sum256(pki.device.Raw)
	for path, want := range map[string]string{
		"HomeSP/FQDN":                                         "grand-hotel.example",
		"HomeSP/FriendlyName":                                 n.HotelName,
		"HomeSP/RoamingConsortiumOI":                          "5A03BA0000,004096",
		"Credential/Realm":                                    n.Realm,
		"Credential/ExpirationDate":                           "2026-08-03T11:00:00Z",
		"Credential/DigitalCertificate/CertificateType":       "x509v3",
		"Credential/DigitalCertificate/CertSHA256Fingerprint": hex.EncodeToString(fp[:]),
		"Extension/Android/AAAServerTrustedNames/FQDN":        n.ServerName,
	} {
		if got := mo.value(strings.Split(path, "/")...); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	// PpsMoParser refuses unknown nodes under HomeSP and Credential.
	known := map[string][]string{
		"HomeSP":     {"FQDN", "FriendlyName", "RoamingConsortiumOI"},
		"Credential": {"ExpirationDate", "Realm", "DigitalCertificate"},
	}
	for parent, names := range known {
		for name := range mo.Children[parent].Children {
			if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+name+" ") {
				t.Errorf("unexpected node %s/%s", parent, name)
			}
		}
	}
}

// The file also reads as standard MIME (RFC 2045, 2046).
func TestAndroidPasspointMIME(t *testing.T) {
	pki := loadPKI(t)
	out, err := AndroidPasspoint(testNetwork(pki), testPasspoint(), testP12(t, pki))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\r\n"), "\r\n") {
		if len(line) > 76 {
			t.Fatalf("a base64 line is %d characters long, RFC 2045 allows 76", len(line))
		}
	}
	decoded, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(out), "\r\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(decoded)))
	header, err := r.ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	mediaType, params, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/mixed" {
		t.Fatalf("Content-Type %q (%v)", header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(r.R, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Transfer-Encoding") != "base64" {
			t.Errorf("part %s is not base64", p.Header.Get("Content-Type"))
		}
		body, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil || len(body) == 0 {
			t.Errorf("part %s: %d bytes, %v", p.Header.Get("Content-Type"), len(body), err)
		}
		types = append(types, p.Header.Get("Content-Type"))
	}
	if want := "application/x-passpoint-profile application/x-x509-ca-cert application/x-pkcs12"; strings.Join(types, " ") != want {
		t.Errorf("parts %v, want %s", types, want)
	}
}

func TestAndroidPasspointEscaping(t *testing.T) {
	pki := loadPKI(t)
	n := nastyNetwork(pki)
	out, err := AndroidPasspoint(n, testPasspoint(), testP12(t, pki))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := aospParts(out)
	if err != nil {
		t.Fatal(err)
	}
	mo, err := parseMO(parts["application/x-passpoint-profile"])
	if err != nil {
		t.Fatal(err)
	}
	// Android trims the text of every element.
	if got, want := mo.value("HomeSP", "FriendlyName"), strings.TrimSpace(n.HotelName); got != want {
		t.Errorf("FriendlyName = %q, want %q", got, want)
	}
}

func TestAndroidPasspointErrors(t *testing.T) {
	pki := loadPKI(t)
	p12 := testP12(t, pki)
	for _, tc := range []struct {
		name   string
		change func(*Network, *Passpoint)
		want   string
	}{
		{"no FQDN", func(_ *Network, p *Passpoint) { p.FQDN = "" }, "FQDN is empty"},
		{"bad OI", func(_ *Network, p *Passpoint) { p.RoamingConsortiumOIs = []string{"5A03BA00"} }, "not 3 or 5 octets"},
		{"OI not hex", func(_ *Network, p *Passpoint) { p.RoamingConsortiumOIs = []string{"zz03ba"} }, "not 3 or 5 octets"},
		{"no realm", func(n *Network, p *Passpoint) { n.Realm, p.Realm = "", "" }, "needs a realm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, pp := testNetwork(pki), testPasspoint()
			tc.change(&n, &pp)
			if _, err := AndroidPasspoint(n, pp, p12); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Passpoint.Realm and FriendlyName win over the network's.
func TestAndroidPasspointOverrides(t *testing.T) {
	pki := loadPKI(t)
	pp := testPasspoint()
	pp.Realm, pp.FriendlyName = "roam.example", "Grand Roaming"
	out, err := AndroidPasspoint(testNetwork(pki), pp, testP12(t, pki))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := aospParts(out)
	if err != nil {
		t.Fatal(err)
	}
	mo, err := parseMO(parts["application/x-passpoint-profile"])
	if err != nil {
		t.Fatal(err)
	}
	if mo.value("Credential", "Realm") != "roam.example" || mo.value("HomeSP", "FriendlyName") != "Grand Roaming" {
		t.Errorf("Realm %q FriendlyName %q", mo.value("Credential", "Realm"), mo.value("HomeSP", "FriendlyName"))
	}
}
