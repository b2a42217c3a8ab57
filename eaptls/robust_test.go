package eaptls_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"keycard/eaptls"
	"keycard/eaptls/eaptlstest"
)

func identity(id uint8, name string) []byte {
	b, _ := (&eaptls.Packet{Code: eaptls.CodeResponse, Identifier: id, Type: eaptls.TypeIdentity, Data: []byte(name)}).MarshalBinary()
	return b
}

func tlsResponse(id uint8, p eaptls.TLSPayload) []byte {
	b, _ := (&eaptls.Packet{Code: eaptls.CodeResponse, Identifier: id, Type: eaptls.TypeTLS, Data: p.Append(nil)}).MarshalBinary()
	return b
}

func TestSessionStart(t *testing.T) {
	s := eaptls.NewSession(&eaptls.Config{})
	defer s.Close()
	out, res := s.Step(identity(41, "anonymous@hotel"), 0)
	if want := []byte{1, 42, 0, 6, 13, 0x20}; !bytes.Equal(out, want) {
		t.Fatalf("Start = %x, want %x", out, want)
	}
	if res.Outcome != eaptls.Continue || res.Rounds != 1 {
		t.Errorf("result %+v", res)
	}
	if s.Identity() != "anonymous@hotel" {
		t.Errorf("Identity() = %q", s.Identity())
	}
}

func TestSessionFailures(t *testing.T) {
	p := newTestPKI(t)
	nak, _ := (&eaptls.Packet{Code: eaptls.CodeResponse, Identifier: 2, Type: eaptls.TypeNak, Data: []byte{25}}).MarshalBinary()
	md5, _ := (&eaptls.Packet{Code: eaptls.CodeResponse, Identifier: 2, Type: 4, Data: []byte{1}}).MarshalBinary()
	tests := []struct {
		name    string
		cfg     eaptls.Config
		packets [][]byte // after the Response/Identity with Identifier 1
		is      error
		message string
	}{
		{"nak", eaptls.Config{}, [][]byte{nak}, eaptls.ErrMethodRefused, "Nak proposes [Type(25)]"},
		{"other method", eaptls.Config{}, [][]byte{md5}, eaptls.ErrMethodRefused, "Type(4)"},
		{"ack instead of ClientHello", eaptls.Config{}, [][]byte{tlsResponse(2, eaptls.TLSPayload{})}, nil, "acknowledgement"},
		{"malformed", eaptls.Config{}, [][]byte{{2, 2, 0}}, io.ErrUnexpectedEOF, "truncated"},
		{"request from peer", eaptls.Config{}, [][]byte{{1, 2, 0, 5, 1}}, nil, "want a Response"},
		{"over-cap announced", eaptls.Config{MaxMessageSize: 1000},
			[][]byte{tlsResponse(2, eaptls.TLSPayload{Flags: eaptls.FlagLength | eaptls.FlagMore, Length: 1001, Data: []byte{0x16}})},
			eaptls.ErrMessageTooLarge, ""},
		{"over-cap sent", eaptls.Config{MaxMessageSize: 10}, [][]byte{
			tlsResponse(2, eaptls.TLSPayload{Flags: eaptls.FlagMore, Data: make([]byte, 8)}),
			tlsResponse(3, eaptls.TLSPayload{Flags: eaptls.FlagMore, Data: make([]byte, 8)}),
		}, eaptls.ErrMessageTooLarge, ""},
		{"oversized ClientHello", eaptls.Config{},
			[][]byte{tlsResponse(2, eaptls.TLSPayload{Flags: eaptls.FlagLength | eaptls.FlagMore, Length: 16<<10 + 1, Data: []byte{0x16}})},
			eaptls.ErrMessageTooLarge, ""},
		{"too many rounds", eaptls.Config{MaxRounds: 3}, [][]byte{
			tlsResponse(2, eaptls.TLSPayload{Flags: eaptls.FlagMore, Data: make([]byte, 8)}),
			tlsResponse(3, eaptls.TLSPayload{Flags: eaptls.FlagMore, Data: make([]byte, 8)}),
			tlsResponse(4, eaptls.TLSPayload{Flags: eaptls.FlagMore, Data: make([]byte, 8)}),
		}, eaptls.ErrTooManyRounds, ""},
		{"garbage instead of ClientHello", eaptls.Config{TLS: p.serverTLS(0, 0)},
			[][]byte{tlsResponse(2, eaptls.TLSPayload{Data: []byte("GET / HTTP/1.1\r\n\r\n")})}, nil, "TLS handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := eaptls.NewSession(&tt.cfg)
			defer s.Close()
			s.Step(identity(1, "x"), 0)
			var (
				out []byte
				res eaptls.Result
			)
			for _, in := range tt.packets {
				out, res = s.Step(in, 0)
			}
			if res.Outcome != eaptls.Failure || res.Err == nil {
				t.Fatalf("outcome %v err %v, want failure", res.Outcome, res.Err)
			}
			if len(out) != 4 || out[0] != byte(eaptls.CodeFailure) {
				t.Fatalf("out %x, want EAP-Failure", out)
			}
			if tt.is != nil && !errors.Is(res.Err, tt.is) {
				t.Errorf("err %v, want %v", res.Err, tt.is)
			}
			if !strings.HasPrefix(res.Err.Error(), "eaptls: ") {
				t.Errorf("err %q lacks the package prefix", res.Err)
			}
			if !strings.Contains(res.Err.Error(), tt.message) {
				t.Errorf("err %q does not mention %q", res.Err, tt.message)
			}
			// The Failure repeats; the session stays finished.
			again, res2 := s.Step(tt.packets[len(tt.packets)-1], 0)
			if !bytes.Equal(again, out) || res2.Outcome != eaptls.Failure {
				t.Errorf("after failure: %x %v", again, res2.Outcome)
			}
		})
	}
}

// TestSessionDuplicate checks that a Response whose Identifier is not the
// outstanding Request's gets that Request again, and the handshake goes on.
func TestSessionDuplicate(t *testing.T) {
	p := newTestPKI(t)
	s := eaptls.NewSession(&eaptls.Config{TLS: p.serverTLS(tls.VersionTLS12, tls.VersionTLS13), FragmentSize: 300})
	defer s.Close()
	peer := eaptlstest.NewPeer(p.clientTLS(tls.VersionTLS13, tls.VersionTLS13), 300)
	defer peer.Close()
	in, _, _ := peer.Step(nil)
	var prevIn []byte
	for i := 0; ; i++ {
		out, res := s.Step(in, 0)
		if res.Outcome != eaptls.Continue {
			if res.Outcome != eaptls.Success {
				t.Fatalf("outcome %v: %v", res.Outcome, res.Err)
			}
			break
		}
		if prevIn != nil && i%2 == 0 {
			// Replay the previous Response: the outstanding Request comes back.
			dup, dupRes := s.Step(prevIn, 0)
			if !bytes.Equal(dup, out) || dupRes.Outcome != eaptls.Continue {
				t.Fatalf("duplicate answered %x (%v), want the outstanding %x", dup, dupRes.Outcome, out)
			}
			// A Response with an Identifier never used gets it too.
			odd := bytes.Clone(in)
			odd[1] += 100
			if dup, _ := s.Step(odd, 0); !bytes.Equal(dup, out) {
				t.Fatal("stale Identifier not answered with the outstanding Request")
			}
		}
		prevIn = in
		var err error
		if in, _, err = peer.Step(out); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := peer.Step([]byte{3, in[1], 0, 4}); err != nil {
		t.Fatal(err)
	}
}

// TestSessionHalfOpenMemory measures what a session costs between the
// EAP-TLS Start and the ClientHello, the state an attacker can multiply.
func TestSessionHalfOpenMemory(t *testing.T) {
	const n = 1000
	cfg := &eaptls.Config{TLS: newTestPKI(t).serverTLS(0, 0)}
	sessions := make([]*eaptls.Session, n)
	packets := make([][]byte, n)
	for i := range packets {
		packets[i] = identity(uint8(i), "anonymous@hotel.example")
	}
	goroutines := runtime.NumGoroutine()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range sessions {
		sessions[i] = eaptls.NewSession(cfg)
		sessions[i].Step(packets[i], 0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSession := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("half-open session: %d bytes of live heap each", perSession)
	if perSession > 16<<10 {
		t.Errorf("half-open session holds %d bytes, want < 16 KiB", perSession)
	}
	if g := runtime.NumGoroutine(); g > goroutines {
		t.Errorf("half-open sessions started %d goroutines", g-goroutines)
	}
	allocs := testing.AllocsPerRun(100, func() {
		s := eaptls.NewSession(cfg)
		s.Step(packets[0], 0)
		s.Close()
	})
	t.Logf("NewSession + Start: %.0f allocations", allocs)
	if allocs > 8 {
		t.Errorf("%.0f allocations to reach Start", allocs)
	}
	runtime.KeepAlive(sessions)
}

// TestSessionCloseStopsGoroutines abandons many sessions mid-handshake and
// checks that Close (and only Close) ends their TLS goroutines.
func TestSessionCloseStopsGoroutines(t *testing.T) {
	p := newTestPKI(t)
	cfg := &eaptls.Config{TLS: p.serverTLS(tls.VersionTLS12, tls.VersionTLS13)}
	before := settledGoroutines()
	const n = 50
	sessions := make([]*eaptls.Session, n)
	for i := range sessions {
		peer := eaptlstest.NewPeer(p.clientTLS(tls.VersionTLS12, tls.VersionTLS13), 1000)
		s := eaptls.NewSession(cfg)
		in, _, _ := peer.Step(nil)
		// Run until the server has its TLS goroutine (after the ClientHello).
		for j := 0; j < 3; j++ {
			out, _ := s.Step(in, 0)
			in, _, _ = peer.Step(out)
		}
		peer.Close()
		sessions[i] = s
	}
	if g := runtime.NumGoroutine(); g < before+n {
		t.Fatalf("%d goroutines for %d sessions mid-handshake; test does not reach the handshake", g-before, n)
	}
	for _, s := range sessions {
		s.Close()
		s.Close() // idempotent
	}
	waitGoroutines(t, before)

	// Sessions that run to the end need no goroutine either.
	for i := 0; i < 10; i++ {
		res, err := converse(t, cfg, eaptlstest.NewPeer(p.clientTLS(0, 0), 1000), 0)
		if err != nil || res.Outcome != eaptls.Success {
			t.Fatal(res.Err, err)
		}
	}
	waitGoroutines(t, before)
}

// settledGoroutines counts goroutines once those of earlier tests (sessions
// left to the garbage collector, peers) have ended, so that counts taken
// in this test are not thrown off by others ending meanwhile.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for i := 0; i < 100; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return m
		}
		n = m
	}
	return n
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if runtime.NumGoroutine() <= want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("%d goroutines, want %d:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
}

func TestSessionStepAfterClose(t *testing.T) {
	s := eaptls.NewSession(&eaptls.Config{})
	s.Step(identity(1, "x"), 0)
	s.Close()
	out, res := s.Step(tlsResponse(2, eaptls.TLSPayload{}), 0)
	if res.Outcome != eaptls.Failure || !errors.Is(res.Err, eaptls.ErrClosed) || out[0] != byte(eaptls.CodeFailure) {
		t.Fatalf("%x %+v", out, res)
	}
}

// TestSessionDroppedWithoutClose checks the safety net: a session the
// caller forgot to Close does not keep its TLS goroutine once collected.
func TestSessionDroppedWithoutClose(t *testing.T) {
	p := newTestPKI(t)
	cfg := &eaptls.Config{TLS: p.serverTLS(0, 0)}
	before := runtime.NumGoroutine()
	func() {
		peer := eaptlstest.NewPeer(p.clientTLS(0, 0), 1000)
		defer peer.Close()
		s := eaptls.NewSession(cfg)
		in, _, _ := peer.Step(nil)
		for j := 0; j < 3; j++ {
			out, _ := s.Step(in, 0)
			in, _, _ = peer.Step(out)
		}
		if runtime.NumGoroutine() <= before {
			t.Fatal("no TLS goroutine: the test does not reach the handshake")
		}
	}()
	for i := 0; i < 5 && runtime.NumGoroutine() > before; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	waitGoroutines(t, before)
}
