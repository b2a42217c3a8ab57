package eaptls_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"strings"
	"sync"
	"testing"

	"keycard/eaptls"
	"keycard/eaptls/eaptlstest"
)

// converse runs a whole conversation between a server session and a peer.
func converse(t testing.TB, cfg *eaptls.Config, peer *eaptlstest.Peer, mtu int) (eaptls.Result, error) {
	t.Helper()
	return converseTap(t, cfg, peer, mtu, nil)
}

// converseTap is converse, calling tap with each packet the server sends.
func converseTap(t testing.TB, cfg *eaptls.Config, peer *eaptlstest.Peer, mtu int, tap func([]byte)) (eaptls.Result, error) {
	t.Helper()
	s := eaptls.NewSession(cfg)
	defer s.Close()
	defer peer.Close()
	in, _, err := peer.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		out, res := s.Step(in, mtu)
		if tap != nil {
			tap(out)
		}
		if len(out) > 0 && mtu > 0 && len(out) > mtu {
			t.Errorf("EAP packet of %d bytes exceeds Framed-MTU %d", len(out), mtu)
		}
		var done bool
		in, done, err = peer.Step(out)
		if res.Outcome != eaptls.Continue {
			if !done {
				t.Fatalf("server finished with %v but peer is not done", res.Outcome)
			}
			return res, err
		}
		if done {
			t.Fatalf("peer done (%v) but server continues", err)
		}
		if err != nil {
			t.Fatalf("peer: %v", err)
		}
	}
	t.Fatal("conversation did not end")
	return eaptls.Result{}, nil
}

func TestSessionHandshake(t *testing.T) {
	p := newTestPKI(t)
	tests := []struct {
		name       string
		version    uint16
		serverFrag int
		peerFrag   int
		mtu        int
		curves     []tls.CurveID
		maxRounds  int
	}{
		{"TLS1.2 frag 1000", tls.VersionTLS12, 1000, 1000, 0, nil, 0},
		{"TLS1.2 frag 200", tls.VersionTLS12, 200, 1000, 0, nil, 0},
		{"TLS1.3 frag 1000", tls.VersionTLS13, 1000, 1000, 0, nil, 0},
		{"TLS1.3 frag 200", tls.VersionTLS13, 200, 1000, 0, nil, 0},
		{"TLS1.3 peer fragments its flights", tls.VersionTLS13, 1000, 40, 0, nil, 200},
		{"TLS1.2 peer fragments its flights", tls.VersionTLS12, 1000, 40, 0, nil, 200},
		{"TLS1.3 Framed-MTU 300", tls.VersionTLS13, 1000, 1000, 300, nil, 0},
		{"TLS1.3 X25519MLKEM768 small fragments", tls.VersionTLS13, 200, 200, 0, []tls.CurveID{tls.X25519MLKEM768}, 0},
		{"TLS1.3 P-256", tls.VersionTLS13, 1000, 1000, 0, []tls.CurveID{tls.CurveP256}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := p.serverTLS(tls.VersionTLS12, tls.VersionTLS13)
			srv.CurvePreferences = tt.curves
			cfg := &eaptls.Config{TLS: srv, FragmentSize: tt.serverFrag, MaxRounds: tt.maxRounds}
			cli := p.clientTLS(tt.version, tt.version)
			peer := eaptlstest.NewPeer(cli, tt.peerFrag)
			res, err := converse(t, cfg, peer, tt.mtu)
			if err != nil || res.Outcome != eaptls.Success {
				t.Fatalf("outcome %v, server err %v, peer err %v", res.Outcome, res.Err, err)
			}
			if res.Version != tt.version {
				t.Errorf("version %x, want %x", res.Version, tt.version)
			}
			msk, emsk := peer.Keys()
			if len(res.MSK) != 64 || len(res.EMSK) != 64 {
				t.Fatalf("MSK %d bytes, EMSK %d bytes, want 64 each", len(res.MSK), len(res.EMSK))
			}
			if !bytes.Equal(msk, res.MSK) || !bytes.Equal(emsk, res.EMSK) {
				t.Error("peer and server keys differ")
			}
			if bytes.Equal(res.MSK, res.EMSK) {
				t.Error("MSK equals EMSK")
			}
			if len(res.PeerCertificates) == 0 || res.PeerCertificates[0].Subject.CommonName != "d-1" {
				t.Errorf("peer certificates %v", res.PeerCertificates)
			}
			if tt.curves != nil {
				if got := peer.ConnectionState().CurveID; got != tt.curves[0] {
					t.Errorf("curve %v, want %v", got, tt.curves[0])
				}
			}
			t.Logf("rounds %d", res.Rounds)
		})
	}
}

func TestSessionVerifyConnectionRefuses(t *testing.T) {
	p := newTestPKI(t)
	errRevoked := errors.New("device revoked")
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			srv := p.serverTLS(v, v)
			srv.VerifyConnection = func(tls.ConnectionState) error { return errRevoked }
			res, err := converse(t, &eaptls.Config{TLS: srv}, eaptlstest.NewPeer(p.clientTLS(v, v), 1000), 0)
			if res.Outcome != eaptls.Failure || !errors.Is(res.Err, errRevoked) {
				t.Fatalf("outcome %v, err %v; want failure with the policy error", res.Outcome, res.Err)
			}
			if !errors.Is(err, eaptlstest.ErrFailure) {
				t.Errorf("peer err %v, want ErrFailure", err)
			}
			// The alert reached the peer before the Failure.
			if err == nil || !strings.Contains(err.Error(), "bad certificate") {
				t.Errorf("peer err %v does not carry the server's alert", err)
			}
			if res.MSK != nil {
				t.Error("keys on failure")
			}
			if len(res.PeerCertificates) == 0 {
				t.Error("the refused certificate is not in the result, for the log")
			}
		})
	}
}

// sessionStore keeps TLS session state on the server and hands out 16-byte
// tickets: Go's own tickets embed the client's certificate chain, which makes
// a resuming ClientHello (and a re-issued ticket) about a kilobyte larger.
type sessionStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (st *sessionStore) install(c *tls.Config) {
	st.m = map[string][]byte{}
	c.WrapSession = func(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		b, err := ss.Bytes()
		if err != nil {
			return nil, err
		}
		id := make([]byte, 16)
		rand.Read(id)
		st.mu.Lock()
		defer st.mu.Unlock()
		st.m[string(id)] = b
		return id, nil
	}
	c.UnwrapSession = func(id []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
		st.mu.Lock()
		b, ok := st.m[string(id)]
		st.mu.Unlock()
		if !ok {
			return nil, nil
		}
		return tls.ParseSessionState(b)
	}
}

func TestSessionResumption(t *testing.T) {
	p := newTestPKI(t)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, small := range []bool{false, true} {
			name := tls.VersionName(v) + " Go tickets"
			if small {
				name = tls.VersionName(v) + " server-side sessions"
			}
			t.Run(name, func(t *testing.T) {
				var calls []bool // DidResume per VerifyConnection call
				refuse := false
				errEnded := errors.New("stay ended")
				srv := p.serverTLS(v, v)
				srv.VerifyConnection = func(cs tls.ConnectionState) error {
					calls = append(calls, cs.DidResume)
					if len(cs.PeerCertificates) == 0 {
						t.Error("VerifyConnection without peer certificates")
					}
					if refuse {
						return errEnded
					}
					return nil
				}
				if small {
					new(sessionStore).install(srv)
				}
				// Keycard's default curves, and fragments small enough that
				// certificate flights take several rounds, as a real chain
				// (leaf and intermediate) does at the default 1000 bytes.
				srv.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
				cfg := &eaptls.Config{TLS: srv, FragmentSize: 300}
				cli := p.clientTLS(v, v)
				cli.ClientSessionCache = tls.NewLRUClientSessionCache(4)

				full, err := converse(t, cfg, eaptlstest.NewPeer(cli, 300), 0)
				if err != nil || full.Outcome != eaptls.Success || full.Resumed {
					t.Fatalf("full handshake: %v %v %v resumed=%v", full.Outcome, full.Err, err, full.Resumed)
				}
				peer := eaptlstest.NewPeer(cli, 300)
				resumed, err := converse(t, cfg, peer, 0)
				if err != nil || resumed.Outcome != eaptls.Success || !resumed.Resumed {
					t.Fatalf("resumption: %v %v %v resumed=%v", resumed.Outcome, resumed.Err, err, resumed.Resumed)
				}
				t.Logf("rounds: full %d, resumed %d", full.Rounds, resumed.Rounds)
				if small && resumed.Rounds >= full.Rounds {
					t.Errorf("resumed handshake took %d rounds, full %d", resumed.Rounds, full.Rounds)
				}
				msk, _ := peer.Keys()
				if !bytes.Equal(msk, resumed.MSK) {
					t.Error("keys differ on resumption")
				}
				if len(resumed.PeerCertificates) == 0 {
					t.Error("no peer certificates on resumption")
				}
				if len(calls) != 2 || calls[0] || !calls[1] {
					t.Errorf("VerifyConnection calls (DidResume) %v, want [false true]", calls)
				}

				refuse = true
				refused, _ := converse(t, cfg, eaptlstest.NewPeer(cli, 300), 0)
				if refused.Outcome != eaptls.Failure || !errors.Is(refused.Err, errEnded) {
					t.Fatalf("resumption after the stay ended: %v %v", refused.Outcome, refused.Err)
				}
				if !calls[len(calls)-1] {
					t.Error("refused handshake was not a resumption")
				}
			})
		}
	}
}

// TestSessionPeerRefusesServer: a peer that does not trust the server's
// certificate sends an alert; the server answers with EAP-Failure and says why.
func TestSessionPeerRefusesServer(t *testing.T) {
	p := newTestPKI(t)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			cli := p.clientTLS(v, v)
			cli.ServerName = "evil-twin.example"
			res, err := converse(t, &eaptls.Config{TLS: p.serverTLS(v, v), FragmentSize: 300}, eaptlstest.NewPeer(cli, 300), 0)
			if res.Outcome != eaptls.Failure || res.Err == nil || !strings.Contains(res.Err.Error(), "remote error") {
				t.Fatalf("outcome %v, err %v; want failure on the peer's alert", res.Outcome, res.Err)
			}
			if !errors.Is(err, eaptlstest.ErrFailure) {
				t.Errorf("peer err %v", err)
			}
			t.Log(res.Err)
		})
	}
}

func TestSessionVerifyConnectionPanics(t *testing.T) {
	p := newTestPKI(t)
	srv := p.serverTLS(0, 0)
	srv.VerifyConnection = func(tls.ConnectionState) error { panic("policy bug") }
	res, _ := converse(t, &eaptls.Config{TLS: srv}, eaptlstest.NewPeer(p.clientTLS(0, 0), 1000), 0)
	if res.Outcome != eaptls.Failure || res.Err == nil || !strings.Contains(res.Err.Error(), "policy bug") {
		t.Fatalf("outcome %v, err %v", res.Outcome, res.Err)
	}
}
