package eaptls_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"runtime"
	"testing"
	"time"

	"keycard/eaptls"
	"keycard/eaptls/eaptlstest"
)

// An EAP-Start from the NAS (an empty EAP-Message, RFC 3579 section 2.1)
// is answered with EAP-Request/Identity; the Response/Identity must carry
// its Identifier, and the conversation goes on as usual.
func TestSessionEAPStart(t *testing.T) {
	p := newTestPKI(t)
	s := eaptls.NewSession(&eaptls.Config{TLS: p.serverTLS(0, 0)})
	defer s.Close()
	out, res := s.Step(nil, 0)
	if want := []byte{1, 1, 0, 5, 1}; !bytes.Equal(out, want) || res.Outcome != eaptls.Continue {
		t.Fatalf("EAP-Start answered %x (%v), want Request/Identity %x", out, res.Outcome, want)
	}
	if again, _ := s.Step([]byte{}, 0); !bytes.Equal(again, out) {
		t.Errorf("repeated EAP-Start answered %x, want the same Request/Identity", again)
	}
	// A Response/Identity to another Request is stale: the Request again.
	if stale, _ := s.Step(identity(0, "anonymous"), 0); !bytes.Equal(stale, out) {
		t.Errorf("Response/Identity with a stale Identifier answered %x", stale)
	}
	if s.Identity() != "" {
		t.Errorf("identity %q taken from a stale Response", s.Identity())
	}

	peer := eaptlstest.NewPeer(p.clientTLS(tls.VersionTLS13, tls.VersionTLS13), 1000)
	defer peer.Close()
	in, _, err := peer.Step(out)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		out, res = s.Step(in, 0)
		var done bool
		in, done, err = peer.Step(out)
		if res.Outcome != eaptls.Continue {
			if res.Outcome != eaptls.Success || !done || err != nil {
				t.Fatalf("outcome %v (%v), peer done %v err %v", res.Outcome, res.Err, done, err)
			}
			if s.Identity() != "anonymous" {
				t.Errorf("identity %q", s.Identity())
			}
			return
		}
	}
	t.Fatal("conversation did not end")
}

// An empty packet after the identity is no EAP-Start: the session fails.
func TestSessionEmptyPacketMidConversation(t *testing.T) {
	s := eaptls.NewSession(&eaptls.Config{})
	defer s.Close()
	s.Step(identity(1, "x"), 0)
	if out, res := s.Step(nil, 0); res.Outcome != eaptls.Failure || out[0] != byte(eaptls.CodeFailure) {
		t.Fatalf("%x %v", out, res.Outcome)
	}
}

// firstFragment is the start of a long TLS message: n bytes of data, more
// announced.
func firstFragment(id uint8, n int) []byte {
	return tlsResponse(id, eaptls.TLSPayload{Flags: eaptls.FlagLength | eaptls.FlagMore, Length: 8000, Data: make([]byte, n)})
}

// Sessions sharing a Budget hold no more reassembly memory than it allows:
// the fragment that would exceed it fails its session cleanly, and Close
// (or the garbage collector, for a session never closed) gives the memory
// back.
func TestReassemblyBudget(t *testing.T) {
	budget := eaptls.NewBudget(4 << 10)
	cfg := &eaptls.Config{Budget: budget}
	start := func() *eaptls.Session {
		s := eaptls.NewSession(cfg)
		s.Step(identity(1, "x"), 0)
		return s
	}
	var held []*eaptls.Session
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("the budget never refused a fragment")
		}
		s := start()
		out, res := s.Step(firstFragment(2, 1000), 0)
		if budget.InUse() > budget.Limit() {
			t.Fatalf("%d bytes in use, budget %d", budget.InUse(), budget.Limit())
		}
		if res.Outcome == eaptls.Continue {
			held = append(held, s)
			continue
		}
		if res.Outcome != eaptls.Failure || !errors.Is(res.Err, eaptls.ErrBudgetExhausted) || out[0] != byte(eaptls.CodeFailure) {
			t.Fatalf("over budget: %x %v %v", out, res.Outcome, res.Err)
		}
		s.Close()
		break
	}
	if len(held) == 0 {
		t.Fatal("no session got memory")
	}
	// A session growing its message is refused too, failing cleanly.
	_, res := held[0].Step(tlsResponse(3, eaptls.TLSPayload{Flags: eaptls.FlagMore, Data: make([]byte, 1000)}), 0)
	if res.Outcome != eaptls.Failure || !errors.Is(res.Err, eaptls.ErrBudgetExhausted) {
		t.Errorf("growing past the budget: %v %v", res.Outcome, res.Err)
	}
	held[0].Close()
	held = held[1:]

	// Memory comes back: a new session gets some.
	s := start()
	if _, res := s.Step(firstFragment(2, 1000), 0); res.Outcome != eaptls.Continue {
		t.Fatalf("after a session ended: %v %v", res.Outcome, res.Err)
	}
	s.Close()
	for _, s := range held {
		s.Close()
	}
	if n := budget.InUse(); n != 0 {
		t.Errorf("%d bytes in use after every session closed", n)
	}

	// A session dropped without Close gives its memory back once collected.
	func() {
		s := start()
		s.Step(firstFragment(2, 1000), 0)
		if budget.InUse() == 0 {
			t.Fatal("the session holds no memory: the test proves nothing")
		}
	}()
	for i := 0; i < 100 && budget.InUse() != 0; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := budget.InUse(); n != 0 {
		t.Errorf("%d bytes in use after a dropped session was collected", n)
	}
}

// A budget ample for a real handshake does not get in its way, even with
// the peer's flights in many fragments.
func TestReassemblyBudgetHandshake(t *testing.T) {
	p := newTestPKI(t)
	budget := eaptls.NewBudget(64 << 10)
	cfg := &eaptls.Config{TLS: p.serverTLS(0, 0), Budget: budget}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		res, err := converse(t, cfg, eaptlstest.NewPeer(p.clientTLS(v, v), 100), 0)
		if err != nil || res.Outcome != eaptls.Success {
			t.Fatalf("%s: %v %v %v", tls.VersionName(v), res.Outcome, res.Err, err)
		}
	}
	if n := budget.InUse(); n != 0 {
		t.Errorf("%d bytes in use after the handshakes", n)
	}
}

// A Reassembler takes from its Budget only what the data received needs,
// not what the first fragment announces (which costs a peer nothing).
func TestReassemblerBudgetFollowsData(t *testing.T) {
	budget := eaptls.NewBudget(1 << 20)
	r := eaptls.Reassembler{Budget: budget}
	if _, done, err := r.Add(eaptls.TLSPayload{Flags: eaptls.FlagLength | eaptls.FlagMore, Length: 60000, Data: []byte{1}}); done || err != nil {
		t.Fatal(done, err)
	}
	if n := budget.InUse(); n > 4096 {
		t.Errorf("one byte received, %d bytes of the budget taken", n)
	}
	msg := []byte{1}
	for len(msg) < 60000 {
		chunk := bytes.Repeat([]byte{byte(len(msg))}, min(1000, 60000-len(msg)))
		msg = append(msg, chunk...)
		flags := eaptls.FlagMore
		if len(msg) == 60000 {
			flags = 0
		}
		got, done, err := r.Add(eaptls.TLSPayload{Flags: flags, Data: chunk})
		if err != nil {
			t.Fatal(err)
		}
		if done && !bytes.Equal(got, msg) {
			t.Fatal("reassembled message differs")
		}
	}
	if n := budget.InUse(); n != 60000 {
		t.Errorf("%d bytes taken for a 60000-byte message announced as such", n)
	}
	r.Release()
	if n := budget.InUse(); n != 0 {
		t.Errorf("%d bytes in use after Release", n)
	}
}
