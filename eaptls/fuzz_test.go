package eaptls_test

import (
	"crypto/tls"
	"encoding/binary"
	"testing"

	"keycard/eaptls"
	"keycard/eaptls/eaptlstest"
)

// FuzzSessionStep feeds arbitrary EAP packets to a fresh session and to one
// in the middle of a handshake. The input is: a mode byte (low 3 bits: how
// many honest rounds to run first; bit 3: rewrite each packet's Identifier
// to the outstanding one so it is not just treated as a duplicate), then
// packets, each prefixed by a 2-byte length.
func FuzzSessionStep(f *testing.F) {
	p := newTestPKI(f)
	pack := func(mode byte, pkts ...[]byte) []byte {
		b := []byte{mode}
		for _, pkt := range pkts {
			b = binary.BigEndian.AppendUint16(b, uint16(len(pkt)))
			b = append(b, pkt...)
		}
		return b
	}
	f.Add(pack(0, identity(1, "guest")))
	f.Add(pack(0, identity(1, "guest"), tlsResponse(2, eaptls.TLSPayload{Flags: eaptls.FlagLength | eaptls.FlagMore, Length: 70000, Data: []byte{0x16}})))
	f.Add(pack(8|1, tlsResponse(0, eaptls.TLSPayload{Flags: eaptls.FlagMore, Data: []byte{0x16, 3, 1}})))
	f.Add(pack(8|3, tlsResponse(0, eaptls.TLSPayload{}), tlsResponse(0, eaptls.TLSPayload{Data: []byte{21, 3, 3, 0, 2, 2, 40}})))
	f.Add(pack(8|4, []byte{2, 0, 0, 6, 3, 25}))
	f.Add(pack(8|5, tlsResponse(0, eaptls.TLSPayload{Flags: eaptls.FlagStart})))
	f.Add(pack(2, []byte{2, 0, 0, 4}, []byte{3, 0, 0, 4}))

	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 1 {
			return
		}
		mode := in[0]
		in = in[1:]
		cfg := &eaptls.Config{
			TLS:            p.serverTLS(tls.VersionTLS12, tls.VersionTLS13),
			FragmentSize:   300,
			MaxMessageSize: 4096,
			MaxRounds:      30,
		}
		s := eaptls.NewSession(cfg)
		defer s.Close()
		var outstanding []byte
		if honest := int(mode & 7); honest > 0 {
			peer := eaptlstest.NewPeer(p.clientTLS(tls.VersionTLS12, tls.VersionTLS13), 200)
			defer peer.Close()
			pkt, _, _ := peer.Step(nil)
			for i := 0; i < honest; i++ {
				out, res := s.Step(pkt, 0)
				outstanding = out
				if res.Outcome != eaptls.Continue {
					break
				}
				var err error
				if pkt, _, err = peer.Step(out); err != nil {
					break
				}
			}
		}
		for len(in) >= 2 {
			n := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			n = min(n, len(in))
			pkt := append([]byte(nil), in[:n]...)
			in = in[n:]
			if mode&8 != 0 && len(pkt) >= 2 && len(outstanding) >= 2 {
				pkt[1] = outstanding[1]
			}
			out, res := s.Step(pkt, 0)
			if len(out) < 4 || len(out) > 300+10 {
				t.Fatalf("answer of %d bytes", len(out))
			}
			switch res.Outcome {
			case eaptls.Continue:
				if out[0] != byte(eaptls.CodeRequest) {
					t.Fatalf("continue with EAP code %d", out[0])
				}
			case eaptls.Failure:
				if out[0] != byte(eaptls.CodeFailure) || res.Err == nil {
					t.Fatalf("failure with code %d, err %v", out[0], res.Err)
				}
			case eaptls.Success:
				t.Fatal("success from fuzzed input")
			}
			if res.Rounds > cfg.MaxRounds+1 {
				t.Fatalf("%d rounds, cap %d", res.Rounds, cfg.MaxRounds)
			}
			outstanding = out
		}
	})
}
