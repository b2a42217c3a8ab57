package profiles

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func testNMFiles() NMFiles {
	return NMFiles{
		CACert:     "/home/guest/.local/share/keycard/ca.pem",
		ClientCert: "/home/guest/.local/share/keycard/device-42.p12",
	}
}

// readKeyfile reads a key file as GLib's g_key_file_get_string does: groups
// in brackets, key=value lines (whitespace around '=' dropped), and the
// escapes \s \n \t \r \\ in values; any other escape (even "\;", which
// only lists know) is an error, as it is for GLib.
func readKeyfile(data string) (map[string]map[string]string, error) {
	groups := map[string]map[string]string{}
	var group map[string]string
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			name := line[1 : len(line)-1]
			if groups[name] != nil {
				return nil, fmt.Errorf("group %s twice", name)
			}
			group = map[string]string{}
			groups[name] = group
			continue
		}
		if group == nil {
			return nil, fmt.Errorf("key outside a group: %q", line)
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("not a key=value line: %q", line)
		}
		k = strings.TrimSpace(k)
		v = strings.TrimLeft(v, " \t")
		if _, dup := group[k]; dup {
			return nil, fmt.Errorf("key %s twice", k)
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] != '\\' {
				b.WriteByte(v[i])
				continue
			}
			i++
			if i == len(v) {
				return nil, fmt.Errorf("escape at end of %q", line)
			}
			switch v[i] {
			case 's':
				b.WriteByte(' ')
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\':
				b.WriteByte('\\')
			default:
				return nil, fmt.Errorf("invalid escape \\%c in %q", v[i], line)
			}
		}
		group[k] = b.String()
	}
	return groups, sc.Err()
}

// nmSSID decodes the SSID as NetworkManager's ssid_parser does: a list of
// byte values, or a string with "\;" unescaped.
func nmSSID(v string) string {
	if v != "" && strings.Trim(v, "0123456789; ") == "" {
		var b []byte
		for f := range strings.SplitSeq(strings.TrimSuffix(v, ";"), ";") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n > 255 {
				return v // not a list after all: NetworkManager falls back to the string
			}
			b = append(b, byte(n))
		}
		return string(b)
	}
	return strings.ReplaceAll(v, `\;`, ";")
}

func TestNetworkManager(t *testing.T) {
	pki := loadPKI(t)
	n := testNetwork(pki)
	p12 := testP12(t, pki)
	out, err := NetworkManager(n, testNMFiles(), p12)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "keycard.nmconnection", out)

	kf, err := readKeyfile(string(out))
	if err != nil {
		t.Fatalf("not a key file: %v", err)
	}
	uuid := kf["connection"]["uuid"]
	if !uuidPattern.MatchString(strings.ToUpper(uuid)) || uuid != strings.ToLower(uuid) {
		t.Errorf("uuid %q is not a lower-case UUID", uuid)
	}
	for group, want := range map[string]map[string]string{
		"connection":    {"id": n.HotelName + " (" + n.SSID + ")", "type": "wifi", "autoconnect": "true"},
		"wifi":          {"mode": "infrastructure", "ssid": n.SSID},
		"wifi-security": {"key-mgmt": "wpa-eap", "proto": "rsn;", "pairwise": "ccmp;"},
		"802-1x": {
			"eap":                        "tls;",
			"identity":                   "device-42",
			"ca-cert":                    testNMFiles().CACert,
			"client-cert":                testNMFiles().ClientCert,
			"private-key":                testNMFiles().ClientCert,
			"private-key-password":       testPassword,
			"private-key-password-flags": "0",
			"domain-suffix-match":        n.ServerName,
			"altsubject-matches":         "DNS:" + n.ServerName + ";",
		},
		"ipv4": {"method": "auto"},
		"ipv6": {"method": "auto"},
	} {
		for k, v := range want {
			got := kf[group][k]
			if k == "ssid" {
				got = nmSSID(got)
			}
			if got != v {
				t.Errorf("[%s] %s = %q, want %q", group, k, got, v)
			}
		}
	}
}

func TestNetworkManagerEscaping(t *testing.T) {
	pki := loadPKI(t)
	n := nastyNetwork(pki)
	p12 := testP12(t, pki)
	p12.Identity = ` device\42 `
	p12.Password = `  pass;word\ `
	files := NMFiles{CACert: "/home/guest/My Files/ca.pem ", ClientCert: `/home/guest/a\b/device.p12`}
	out, err := NetworkManager(n, files, p12)
	if err != nil {
		t.Fatal(err)
	}
	kf, err := readKeyfile(string(out))
	if err != nil {
		t.Fatalf("not a key file: %v\n%s", err, out)
	}
	for _, c := range []struct{ group, key, want string }{
		{"connection", "id", n.HotelName + " (" + n.SSID + ")"},
		{"802-1x", "identity", p12.Identity},
		{"802-1x", "private-key-password", p12.Password},
		{"802-1x", "ca-cert", files.CACert},
		{"802-1x", "private-key", files.ClientCert},
	} {
		if got := kf[c.group][c.key]; got != c.want {
			t.Errorf("[%s] %s = %q, want %q", c.group, c.key, got, c.want)
		}
	}
	// The SSID is not printable ASCII ("ä"): a list of its bytes.
	if got := kf["wifi"]["ssid"]; !strings.HasSuffix(got, ";") || nmSSID(got) != n.SSID {
		t.Errorf("ssid %q reads back as %q, want %q", got, nmSSID(got), n.SSID)
	}
}

func TestNetworkManagerSSID(t *testing.T) {
	for _, tc := range []struct{ ssid, want string }{
		{"Guest", "Guest"},
		{"12;34;", `12\\;34\\;`}, // not a list of two bytes
		{" lead", `\slead`},
		{"Gäste", "71;195;164;115;116;101;"},
	} {
		got := keyfileSSID(tc.ssid)
		if got != tc.want {
			t.Errorf("keyfileSSID(%q) = %q, want %q", tc.ssid, got, tc.want)
		}
		kf, err := readKeyfile("[wifi]\nssid=" + got + "\n")
		if err != nil {
			t.Fatal(err)
		}
		if back := nmSSID(kf["wifi"]["ssid"]); back != tc.ssid {
			t.Errorf("%q reads back as %q", tc.ssid, back)
		}
	}
}

func TestNetworkManagerErrors(t *testing.T) {
	pki := loadPKI(t)
	p12 := testP12(t, pki)
	for _, tc := range []struct {
		name   string
		files  NMFiles
		change func(*PKCS12)
		want   string
	}{
		{"tilde", NMFiles{CACert: "~/.local/share/keycard/ca.pem", ClientCert: "/tmp/device.p12"}, nil, "not an absolute path"},
		{"relative", NMFiles{CACert: "/tmp/ca.pem", ClientCert: "keycard/device.p12"}, nil, "not an absolute path"},
		{"empty", NMFiles{CACert: "/tmp/ca.pem"}, nil, "ClientCert is empty"},
		{"newline", NMFiles{CACert: "/tmp/ca\n.pem", ClientCert: "/tmp/device.p12"}, nil, "control character"},
		{"long", NMFiles{CACert: "/" + strings.Repeat("a", 500), ClientCert: "/tmp/device.p12"}, nil, "500 bytes"},
		{"no password", testNMFiles(), func(p *PKCS12) { p.Password = "" }, "password is empty"},
		{"no identity", testNMFiles(), func(p *PKCS12) { p.Identity = "" }, "identity is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := p12
			if tc.change != nil {
				tc.change(&p)
			}
			if _, err := NetworkManager(testNetwork(pki), tc.files, p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
