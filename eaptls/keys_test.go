package eaptls_test

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/tls"
	"encoding/hex"
	"hash"
	"strings"
	"testing"

	"keycard/eaptls"
	"keycard/eaptls/eaptlstest"

	_ "crypto/sha256"
	_ "crypto/sha512"
)

// TestKeyDerivation recomputes MSK and EMSK independently of crypto/tls's
// exporter, from the secrets the peer logs (NSS key log format), and checks
// them against what the server and the peer derived:
//
//   - TLS 1.2 (RFC 5216 section 2.3): Key_Material = TLS-PRF-128(master
//     secret, "client EAP encryption", client.random || server.random).
//   - TLS 1.3 (RFC 9190 section 2.3): TLS-Exporter("EXPORTER_EAP_TLS_Key_Material",
//     0x0D, 128), taken from the peer's connection state (Go does not log
//     the exporter secret).
func TestKeyDerivation(t *testing.T) {
	p := newTestPKI(t)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			var keyLog bytes.Buffer
			cli := p.clientTLS(v, v)
			cli.KeyLogWriter = &keyLog
			peer := eaptlstest.NewPeer(cli, 1000)

			// Tap the server's first flight for the ServerHello random.
			var (
				r            eaptls.Reassembler
				serverFlight []byte
			)
			tap := func(out []byte) {
				var pkt eaptls.Packet
				if serverFlight != nil || pkt.UnmarshalBinary(out) != nil || pkt.Type != eaptls.TypeTLS {
					return
				}
				tp, _ := eaptls.ParseTLSPayload(pkt.Data)
				if tp.IsAck() || tp.Flags&eaptls.FlagStart != 0 {
					return
				}
				if msg, done, err := r.Add(tp); err == nil && done {
					serverFlight = bytes.Clone(msg)
				}
			}
			res, err := converseTap(t, &eaptls.Config{TLS: p.serverTLS(v, v)}, peer, 0, tap)
			if err != nil || res.Outcome != eaptls.Success {
				t.Fatalf("%v %v %v", res.Outcome, res.Err, err)
			}
			msk, emsk := peer.Keys()
			if !bytes.Equal(msk, res.MSK) || !bytes.Equal(emsk, res.EMSK) {
				t.Fatal("peer and server keys differ")
			}
			h := suiteHash(t, peer.ConnectionState().CipherSuite)
			var want []byte
			if v == tls.VersionTLS12 {
				// Record header (5), handshake header (4), legacy_version (2), random (32).
				if len(serverFlight) < 43 || serverFlight[0] != 22 || serverFlight[5] != 2 {
					t.Fatalf("server flight does not start with a ServerHello: %x", serverFlight[:min(len(serverFlight), 16)])
				}
				clientRandom, master := keyLogLine(t, keyLog.String(), "CLIENT_RANDOM")
				seed := append(clientRandom, serverFlight[11:43]...)
				want = prf12(h.New, master, "client EAP encryption", seed, 128)
			} else {
				// Go's key log has no exporter secret, so this is the
				// peer's own exporter, with the RFC 9190 label and context
				// spelled out here rather than taken from the package.
				cs := peer.ConnectionState()
				want, err = cs.ExportKeyingMaterial("EXPORTER_EAP_TLS_Key_Material", []byte{0x0D}, 128)
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(res.MSK, want[:64]) || !bytes.Equal(res.EMSK, want[64:]) {
				t.Errorf("keys differ from the independent derivation\nMSK  %x\nwant %x", res.MSK, want[:64])
			}
		})
	}
}

func suiteHash(t *testing.T, id uint16) crypto.Hash {
	name := tls.CipherSuiteName(id)
	switch {
	case strings.HasSuffix(name, "SHA384"):
		return crypto.SHA384
	case strings.HasSuffix(name, "SHA256"), strings.Contains(name, "CHACHA20"):
		return crypto.SHA256
	}
	t.Fatalf("unexpected cipher suite %s", name)
	return 0
}

// keyLogLine returns the client random and the secret of the key log line
// with the given label.
func keyLogLine(t *testing.T, log, label string) (clientRandom, secret []byte) {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == label {
			cr, err1 := hex.DecodeString(f[1])
			s, err2 := hex.DecodeString(f[2])
			if err1 != nil || err2 != nil {
				t.Fatalf("bad key log line %q", sc.Text())
			}
			return cr, s
		}
	}
	t.Fatalf("no %s in the key log:\n%s", label, log)
	return nil, nil
}

// prf12 is the TLS 1.2 PRF (RFC 5246 section 5).
func prf12(h func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	seed = append([]byte(label), seed...)
	var out []byte
	a := seed
	for len(out) < n {
		m := hmac.New(h, secret)
		m.Write(a)
		a = m.Sum(nil)
		m = hmac.New(h, secret)
		m.Write(a)
		m.Write(seed)
		out = m.Sum(out)
	}
	return out[:n]
}
