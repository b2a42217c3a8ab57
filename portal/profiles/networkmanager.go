package profiles

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// NMFiles are where, on the guest's machine, the page tells the guest to
// save the files the connection refers to. Both must be absolute paths
// (NetworkManager does not expand "~"; a relative path would be taken as a
// file name in the connection file's own directory), readable by
// NetworkManager, and at most 500 bytes long.
type NMFiles struct {
	CACert     string // Keycard's root, PEM or DER ("/home/guest/.local/share/keycard/ca.pem")
	ClientCert string // the PKCS#12 ("/home/guest/.local/share/keycard/device.p12")
}

// NetworkManager builds a NetworkManager connection profile in keyfile
// format (served as [ContentTypeNM]; the guest saves it as
// /etc/NetworkManager/system-connections/<name>.nmconnection, mode 0600,
// and runs "nmcli connection reload"). It joins n.SSID with WPA-EAP
// (RSN, CCMP) and EAP-TLS: the client certificate and private key are both
// the PKCS#12 at files.ClientCert (NetworkManager requires the same path
// for both with PKCS#12) opened with p12.Password, which the file holds
// (private-key-password-flags=0), the EAP identity is p12.Identity, and
// the server must chain to files.CACert and carry n.ServerName as its DNS
// name (domain-suffix-match and altsubject-matches). The connection's UUID
// is derived from the hotel and SSID, so a newer file replaces the older.
//
// p12.Data is not read: the PKCS#12 is saved separately.
//
// Values are written as GLib's key-file format and NetworkManager's reader
// expect them: \s for leading and trailing spaces, \\ for a backslash, and
// the SSID with its semicolons escaped, or as a list of byte values when it
// is not printable ASCII, as NetworkManager itself writes it.
func NetworkManager(n Network, files NMFiles, p12 PKCS12) ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, path string }{{"NMFiles.CACert", files.CACert}, {"NMFiles.ClientCert", files.ClientCert}} {
		if err := required(f.name, f.path); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(f.path, "/") {
			return nil, fmt.Errorf("profiles: %s %q is not an absolute path (NetworkManager does not expand ~)", f.name, f.path)
		}
		if len(f.path) > 500 {
			return nil, fmt.Errorf("profiles: %s is longer than the 500 bytes NetworkManager reads as a path", f.name)
		}
	}
	if p12.Password == "" {
		return nil, errors.New("profiles: PKCS#12 password is empty")
	}
	if err := text("PKCS#12 password", p12.Password); err != nil {
		return nil, err
	}
	if err := required("PKCS#12 identity", p12.Identity); err != nil {
		return nil, err
	}

	id := n.SSID
	if n.HotelName != "" {
		id = n.HotelName + " (" + n.SSID + ")"
	}
	var b strings.Builder
	section := func(name string) {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("[" + name + "]\n")
	}
	key := func(k, v string) { b.WriteString(k + "=" + v + "\n") }

	section("connection")
	key("id", keyfileString(id))
	key("uuid", strings.ToLower(nameUUID(n.PayloadIdentifier, "networkmanager", n.SSID)))
	key("type", "wifi")
	key("autoconnect", "true")

	section("wifi")
	key("mode", "infrastructure")
	key("ssid", keyfileSSID(n.SSID))

	section("wifi-security")
	key("key-mgmt", "wpa-eap")
	key("proto", "rsn;")
	key("pairwise", "ccmp;")

	section("802-1x")
	key("eap", "tls;")
	key("identity", keyfileString(p12.Identity))
	key("ca-cert", keyfileString(files.CACert))
	key("client-cert", keyfileString(files.ClientCert))
	key("private-key", keyfileString(files.ClientCert))
	key("private-key-password", keyfileString(p12.Password))
	key("private-key-password-flags", "0")
	key("domain-suffix-match", n.ServerName)
	key("altsubject-matches", "DNS:"+n.ServerName+";")

	section("ipv4")
	key("method", "auto")

	section("ipv6")
	key("method", "auto")
	return []byte(b.String()), nil
}

// keyfileString escapes a value as g_key_file_set_string does: \n, \r, \t
// and \\ everywhere, \s for spaces (GLib escapes the leading ones; the
// trailing ones are escaped too, since \s reads back as a space anywhere).
// The callers have already refused control characters.
func keyfileString(s string) string {
	var b strings.Builder
	lead := true
	trail := len(s) - len(strings.TrimRight(s, " "))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' && (lead || i >= len(s)-trail):
			b.WriteString(`\s`)
			continue
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
		lead = false
	}
	return b.String()
}

// keyfileSSID writes an SSID as NetworkManager's keyfile writer does
// (ssid_writer in libnm-core's nm-keyfile.c): printable ASCII as a string
// with ';' escaped as "\;" (so that "12;34;" is not read as two bytes),
// anything else as the list of its byte values.
func keyfileSSID(ssid string) string {
	printable := true
	for i := 0; i < len(ssid); i++ {
		if ssid[i] < 0x20 || ssid[i] > 0x7e {
			printable = false
			break
		}
	}
	if !printable {
		var b strings.Builder
		for i := 0; i < len(ssid); i++ {
			b.WriteString(strconv.Itoa(int(ssid[i])) + ";")
		}
		return b.String()
	}
	return keyfileString(strings.ReplaceAll(ssid, ";", `\;`))
}
