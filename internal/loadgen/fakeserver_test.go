package loadgen

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"keycard/eaptls"

	"layeh.com/radius"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/vendors/microsoft"
)

// fault is one way the fake server misbehaves.
type fault int

const (
	faultNone fault = iota
	faultWrongKeys
	faultNoMsgAuth
	faultLateMsgAuth
	faultBadMsgAuth
	faultBadResponseAuth
	faultDropFirst
	faultReject
)

// fakeServer is a RADIUS server on loopback that runs EAP-TLS with
// keycard/eaptls and answers the way its fault says, on the Access-Accept
// (or, for faultDropFirst, by ignoring the first packet).
type fakeServer struct {
	t      *testing.T
	conn   net.PacketConn
	secret []byte
	fault  fault
	eap    *eaptls.Config

	mu       sync.Mutex
	sessions map[string]*eaptls.Session
	nextID   int
	dropped  bool
}

func newFakeServer(t *testing.T, pki *testPKI, secret []byte, f fault) *fakeServer {
	t.Helper()
	serverCert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AppendCertsFromPEM(mustRead(t, pki.CAFile))
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{
		t: t, conn: conn, secret: secret, fault: f,
		eap: &eaptls.Config{TLS: &tls.Config{
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    clientCAs,
			MinVersion:   tls.VersionTLS12,
		}},
		sessions: map[string]*eaptls.Session{},
	}
	done := make(chan struct{})
	go func() { defer close(done); s.serve() }()
	t.Cleanup(func() { conn.Close(); <-done })
	return s
}

func (s *fakeServer) addr() string { return s.conn.LocalAddr().String() }

func (s *fakeServer) serve() {
	buf := make([]byte, 4096)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if out := s.answer(bytes.Clone(buf[:n])); out != nil {
			s.conn.WriteTo(out, from)
		}
	}
}

// answer handles one Access-Request; nil means no answer.
func (s *fakeServer) answer(b []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault == faultDropFirst && !s.dropped {
		s.dropped = true
		return nil
	}
	req, err := radius.Parse(b, s.secret)
	if err != nil || req.Code != radius.CodeAccessRequest {
		s.t.Errorf("fake server: bad request: %v", err)
		return nil
	}
	// Check the request's Message-Authenticator by hand, independently of
	// the code under test: first attribute, HMAC-MD5 over the packet with
	// itself zeroed.
	if len(b) < 38 || b[20] != attrMessageAuthenticator || b[21] != 18 {
		s.t.Errorf("fake server: Message-Authenticator is not the first attribute")
		return nil
	}
	zeroed := bytes.Clone(b)
	clear(zeroed[22:38])
	mac := hmac.New(md5.New, s.secret)
	mac.Write(zeroed)
	if !hmac.Equal(mac.Sum(nil), b[22:38]) {
		s.t.Errorf("fake server: request Message-Authenticator does not verify")
		return nil
	}

	var in []byte
	for _, a := range req.Attributes {
		if a.Type == rfc2869.EAPMessage_Type {
			in = append(in, a.Attribute...)
		}
	}
	state := string(req.Get(attrState))
	sess := s.sessions[state]
	if sess == nil {
		sess = eaptls.NewSession(s.eap)
		s.nextID++
		state = fmt.Sprintf("fake-state-%d", s.nextID)
	}
	delete(s.sessions, string(req.Get(attrState)))
	out, res := sess.Step(in, 0)

	var resp *radius.Packet
	switch res.Outcome {
	case eaptls.Continue:
		resp = req.Response(radius.CodeAccessChallenge)
		s.sessions[state] = sess
		resp.Add(attrState, []byte(state))
	case eaptls.Success:
		resp = req.Response(radius.CodeAccessAccept)
		msk := bytes.Clone(res.MSK)
		if s.fault == faultWrongKeys {
			msk[40] ^= 1
		}
		if s.fault == faultReject {
			resp.Code = radius.CodeAccessReject
			out = []byte{byte(eaptls.CodeFailure), out[1], 0, 4}
		} else {
			microsoft.MSMPPERecvKey_Add(resp, msk[0:32])
			microsoft.MSMPPESendKey_Add(resp, msk[32:64])
		}
		sess.Close()
	default:
		resp = req.Response(radius.CodeAccessReject)
		sess.Close()
	}
	for len(out) > 0 {
		n := min(len(out), 253)
		resp.Add(rfc2869.EAPMessage_Type, out[:n])
		out = out[n:]
	}
	final := resp.Code != radius.CodeAccessChallenge
	placeholder := &radius.AVP{Type: attrMessageAuthenticator, Attribute: make([]byte, 16)}
	switch {
	case final && s.fault == faultNoMsgAuth:
	case final && s.fault == faultLateMsgAuth:
		resp.Attributes = append(resp.Attributes, placeholder)
	default:
		resp.Attributes = append(radius.Attributes{placeholder}, resp.Attributes...)
	}
	if resp.Get(attrMessageAuthenticator) != nil {
		wire, err := resp.MarshalBinary() // Authenticator is still the request's
		if err != nil {
			s.t.Error(err)
			return nil
		}
		mac := hmac.New(md5.New, s.secret)
		mac.Write(wire)
		copy(placeholder.Attribute, mac.Sum(nil))
		if final && s.fault == faultBadMsgAuth {
			placeholder.Attribute[0] ^= 1
		}
	}
	wire, err := resp.Encode()
	if err != nil {
		s.t.Error(err)
		return nil
	}
	if final && s.fault == faultBadResponseAuth {
		wire[4] ^= 1
	}
	return wire
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRunDetectsFaults runs the load generator against a server that
// misbehaves in one way at a time: each must be caught and counted under
// its cause, and a well-behaved server must pass.
func TestRunDetectsFaults(t *testing.T) {
	pki := newTestPKI(t, t.TempDir())
	secret := []byte("fake-secret")
	tests := []struct {
		name      string
		fault     fault
		allowLate bool
		want      Cause // "" = every authentication succeeds
	}{
		{"well behaved", faultNone, false, ""},
		{"wrong MPPE keys", faultWrongKeys, false, CauseMPPEMismatch},
		{"no Message-Authenticator", faultNoMsgAuth, false, CauseMsgAuthMissing},
		{"late Message-Authenticator", faultLateMsgAuth, false, CauseMsgAuthNotFirst},
		{"late Message-Authenticator allowed", faultLateMsgAuth, true, ""},
		{"bad Message-Authenticator", faultBadMsgAuth, false, CauseMsgAuthInvalid},
		{"bad Response Authenticator", faultBadResponseAuth, false, CauseResponseAuthenticator},
		{"lost packet", faultDropFirst, false, ""},
		{"reject", faultReject, false, CauseReject},
	}
	for _, tt := range tests {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tt.name+"/"+tls.VersionName(version), func(t *testing.T) {
				srv := newFakeServer(t, pki, secret, tt.fault)
				const count = 3
				rep, err := Run(t.Context(), Options{
					Server: srv.addr(), Secret: secret, Concurrency: 1, Count: count,
					TLSVersion: version, Certificate: pki.Client, RootCAs: pki.Roots,
					ServerName: testServerName, Timeout: 200 * time.Millisecond, Resume: true,
					AllowLateMessageAuthenticator: tt.allowLate,
				})
				if err != nil {
					t.Fatal(err)
				}
				if rep.Attempts != count {
					t.Errorf("attempts %d, want %d", rep.Attempts, count)
				}
				if tt.want == "" {
					if rep.Auths != count {
						t.Fatalf("auths %d of %d; failures %v; first: %s", rep.Auths, count, rep.Failures, rep.FirstError)
					}
					if rep.Resumed != count-1 {
						t.Errorf("resumed %d, want %d", rep.Resumed, count-1)
					}
				} else if rep.Failures[tt.want] != count {
					t.Fatalf("failures %v, want %d × %q; first: %s", rep.Failures, count, tt.want, rep.FirstError)
				}
				if tt.fault == faultDropFirst && rep.Retransmits != 1 {
					t.Errorf("retransmits %d, want 1", rep.Retransmits)
				}
				if tt.allowLate && rep.LateMessageAuthenticators != count {
					t.Errorf("late Message-Authenticators %d, want %d", rep.LateMessageAuthenticators, count)
				}
			})
		}
	}
}

func TestRunStopsByItself(t *testing.T) {
	pki := newTestPKI(t, t.TempDir())
	secret := []byte("fake-secret")
	srv := newFakeServer(t, pki, secret, faultNone)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, Options{
		Server: srv.addr(), Secret: secret, Concurrency: 2, Duration: 300 * time.Millisecond,
		Certificate: pki.Client, RootCAs: pki.Roots, ServerName: testServerName,
	})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("a 300ms run took %s", elapsed)
	}
	if rep.Auths == 0 || rep.FailureCount() != 0 {
		t.Errorf("auths %d, failures %v; first: %s", rep.Auths, rep.Failures, rep.FirstError)
	}
}

// A silent server: cancelling ctx must end the run at once, not after the
// retransmission timeouts.
func TestRunCancelled(t *testing.T) {
	pki := newTestPKI(t, t.TempDir())
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, Options{
		Server: silent.LocalAddr().String(), Secret: []byte("s"), Count: 1, Timeout: 10 * time.Second,
		Certificate: pki.Client, RootCAs: pki.Roots, ServerName: testServerName,
	})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("cancelled run took %s", elapsed)
	}
	if rep.Failures[CauseCancelled] != 1 {
		t.Errorf("failures %v, want 1 cancelled", rep.Failures)
	}
}
