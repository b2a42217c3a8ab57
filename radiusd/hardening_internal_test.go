package radiusd

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"keycard/eaptls"
)

// The reply cache gives up Challenges before final answers, stays within
// its entry and byte bounds, and forgets answers after the TTL (on the
// injected clock).
func TestReplyCacheKeepsFinalAnswers(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	c := newReplyCache(100, 30*time.Second)
	c.now = func() time.Time { return now }
	key := func(i int) replyKey {
		return replyKey{remote: netip.MustParseAddrPort("10.0.0.5:40000"), identifier: byte(i), authenticator: [16]byte{byte(i >> 8), byte(i), 1}}
	}
	answer := func(code radius.Code, n int) []byte {
		b := make([]byte, n)
		b[0] = byte(code)
		return b
	}
	store := func(i int, reply []byte) {
		t.Helper()
		if st, _ := c.begin(key(i)); st != replyNew {
			t.Fatalf("key %d: %v", i, st)
		}
		c.finish(key(i), reply, now)
	}
	accept := answer(radius.CodeAccessAccept, 300)
	store(0, accept)
	for i := 1; i <= 1000; i++ {
		store(i, answer(radius.CodeAccessChallenge, 1100))
	}
	if st, b := c.begin(key(0)); st != replyCached || !bytes.Equal(b, accept) {
		t.Fatalf("the Accept was given up for Challenges: %v", st)
	}
	if n := c.len(); n > 100 {
		t.Errorf("%d entries, bound 100", n)
	}
	if c.bytes > c.maxBytes {
		t.Errorf("%d bytes, bound %d", c.bytes, c.maxBytes)
	}

	// Finals alone beyond the bound: the oldest goes.
	for i := 1001; i <= 1100; i++ {
		store(i, answer(radius.CodeAccessReject, 100))
	}
	if st, _ := c.begin(key(0)); st != replyNew {
		t.Errorf("the oldest final answer was kept beyond the bound: %v", st)
	}
	c.abandon(key(0))
	if st, _ := c.begin(key(1100)); st != replyCached {
		t.Errorf("the newest final answer is gone: %v", st)
	}

	// The cache is full of final answers: a new Challenge is the first to
	// go.
	store(1101, answer(radius.CodeAccessChallenge, 1100))
	if st, _ := c.begin(key(1100)); st != replyCached {
		t.Errorf("a Challenge pushed out a final answer: %v", st)
	}

	// After the TTL every answer is forgotten.
	now = now.Add(30 * time.Second)
	if st, _ := c.begin(key(1100)); st != replyNew {
		t.Errorf("an answer outlived the TTL: %v", st)
	}
	if n := c.len(); n != 0 {
		t.Errorf("%d entries after the TTL", n)
	}
}

// Large answers: the byte bound holds before the entry bound.
func TestReplyCacheByteBound(t *testing.T) {
	c := newReplyCache(100, 30*time.Second)
	for i := range 100 {
		k := replyKey{identifier: byte(i)}
		c.begin(k)
		reply := make([]byte, radius.MaxPacketLength)
		reply[0] = byte(radius.CodeAccessChallenge)
		c.finish(k, reply, time.Time{})
	}
	if c.bytes > c.maxBytes {
		t.Errorf("%d bytes, bound %d", c.bytes, c.maxBytes)
	}
	if n := c.len(); n >= 100 || n == 0 {
		t.Errorf("%d entries of 4 KiB: the byte bound did not bind", n)
	}
}

// The conversation table forgets the conversation idle longest when full,
// and every conversation whose last round is older than the timeout, even
// when no request comes to notice (the sweep).
func TestConversationsIdleDeadline(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tab, err := newConversations(2, 30*time.Second, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.closeAll()
	tab.now = func() time.Time { return now }
	newSession := func(*conversation) *eaptls.Session { return eaptls.NewSession(&eaptls.Config{}) }
	start := func(station string) *conversation {
		c, err := tab.start("ap", station, replyKey{authenticator: [16]byte{station[0]}}, newSession)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := start("a")
	now = now.Add(10 * time.Second)
	b := start("b")
	now = now.Add(10 * time.Second)
	if _, ok := tab.find(a.state[:], "ap"); !ok { // a round of a
		t.Fatal("a not found")
	}
	start("c") // full: b has been idle longest
	if _, ok := tab.find(b.state[:], "ap"); ok {
		t.Error("b, idle longest, was kept")
	}
	if _, ok := tab.find(a.state[:], "ap"); !ok {
		t.Error("a, active more recently, was evicted")
	}
	if _, ok := tab.find(a.state[:], "elsewhere"); ok {
		t.Error("a found for another NAS")
	}

	now = now.Add(29 * time.Second) // a: 29 s since its round
	if _, ok := tab.find(a.state[:], "ap"); !ok {
		t.Fatal("a forgotten within the timeout")
	}
	now = now.Add(30 * time.Second)
	tab.sweep()
	if n := len(tab.byState); n != 0 {
		t.Errorf("%d conversations after the idle timeout", n)
	}
	if _, res := a.session.Step([]byte{2, 1, 0, 6, 1, 'x'}, 0); res.Outcome != eaptls.Failure {
		t.Errorf("a forgotten conversation's session is not closed: %v", res.Outcome)
	}
}

// eapRoom leaves room for the Proxy-States: an Access-Challenge with that
// much EAP always encodes within 4096 bytes.
func TestEAPRoomFitsProxyStates(t *testing.T) {
	key := newSecretKey([]byte("secret"))
	for _, sizes := range [][]int{nil, {1}, {253}, {253, 253, 253, 253}, {250, 250, 250, 250, 250, 250, 250, 250, 250, 250, 250, 250, 250, 250}, {7, 100, 253, 0, 31}} {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			req := radius.New(radius.CodeAccessRequest, key.secret)
			for _, n := range sizes {
				req.Add(rfc2865.ProxyState_Type, bytes.Repeat([]byte{'p'}, n))
			}
			room := eapRoom(req)
			resp := req.Response(radius.CodeAccessChallenge)
			addEAPMessage(resp, make([]byte, room))
			resp.Add(rfc2865.State_Type, make([]byte, stateLen))
			b, err := encodeResponse(resp, req, key)
			if err != nil {
				t.Fatalf("room %d: %v", room, err)
			}
			if len(b) > radius.MaxPacketLength {
				t.Fatalf("room %d: answer of %d bytes", room, len(b))
			}
			// And it is (nearly) all the room there is.
			if unused := radius.MaxPacketLength - len(b); unused > 2 {
				t.Errorf("room %d leaves %d bytes of the packet unused", room, unused)
			}
		})
	}
}

// A full table pushes out conversations that have not begun TLS before
// one that has, however long that one has been idle; and a conversation
// pushed out right after its EAP-TLS Start comes back when the device's
// ClientHello arrives with the State the table made for it (its NAS had
// to retransmit it while a flood churned the table), but not for another
// device, another NAS, a forged State, or after the timeout.
func TestConversationsTiersAndRestart(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tab, err := newConversations(2, 30*time.Second, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.closeAll()
	tab.now = func() time.Time { return now }
	newSession := func(*conversation) *eaptls.Session { return eaptls.NewSession(&eaptls.Config{}) }
	atStart := func(_ *conversation, id uint8) *eaptls.Session {
		return eaptls.NewSessionAtStart(&eaptls.Config{}, "guest", id)
	}
	start := func(station string) *conversation {
		c, err := tab.start("ap", station, replyKey{authenticator: [16]byte{station[0]}}, newSession)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	guest := start("guest")
	tab.touch(guest, tierTLS)
	now = now.Add(10 * time.Second)
	flood := start("flood-1")
	start("flood-2") // full: flood-1 goes, not the guest idle longer
	if _, ok := tab.find(flood.state[:], "ap"); ok {
		t.Error("a conversation that had not begun TLS was kept over one that had")
	}
	if _, ok := tab.find(guest.state[:], "ap"); !ok {
		t.Fatal("the guest's conversation, in its TLS handshake, was pushed out")
	}

	clientHello := []byte{2, 7, 0, 6, 13, 0} // EAP-Response/TLS, Identifier 7
	for _, tc := range []struct {
		name    string
		state   []byte
		nas     string
		station string
		in      []byte
	}{
		{"another device", flood.state[:], "ap", "flood-9", clientHello},
		{"another NAS", flood.state[:], "elsewhere", "flood-1", clientHello},
		{"forged State", append([]byte{flood.state[0] ^ 1}, flood.state[1:]...), "ap", "flood-1", clientHello},
		{"not TLS", flood.state[:], "ap", "flood-1", []byte{2, 7, 0, 6, 1, 'x'}},
	} {
		if c := tab.restart(tc.state, tc.nas, tc.station, replyKey{}, tc.in, atStart); c != nil {
			t.Errorf("%s: conversation rebuilt", tc.name)
		}
	}
	c := tab.restart(flood.state[:], "ap", "flood-1", replyKey{}, clientHello, atStart)
	if c == nil {
		t.Fatal("a conversation pushed out after its Start was not rebuilt from its State")
	}
	if found, ok := tab.find(flood.state[:], "ap"); !ok || found != c {
		t.Error("the rebuilt conversation is not in the table")
	}
	now = now.Add(30 * time.Second)
	if c := tab.restart(flood.state[:], "ap", "flood-1", replyKey{}, clientHello, atStart); c != nil {
		t.Error("rebuilt after the timeout")
	}
}
