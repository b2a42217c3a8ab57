package radiusd

import (
	"crypto/tls"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// ticketHandleSize is the length of the session ticket a device holds.
const ticketHandleSize = 16

// maxTicketAge bounds how long a session can be resumed, whatever the stay.
const maxTicketAge = 24 * time.Hour

// ticketStore keeps resumable TLS sessions on the server and gives devices
// a 16-byte random handle as their ticket.
//
// Why not Go's default encrypted tickets: they carry the whole client
// certificate chain, so a resuming ClientHello grows by about 1 KB and
// costs EAP rounds (a resumed TLS 1.3 authentication took more rounds than
// a full one). A short handle keeps the ClientHello in one fragment, and
// binding each session to the stay's end means a ticket is worthless after
// checkout even before VerifyConnection (which runs on every resumption
// and asks the stay policy again) would refuse it.
type ticketStore struct {
	sessions *expirable.LRU[[ticketHandleSize]byte, ticket]
	now      func() time.Time
	rand     io.Reader
}

type ticket struct {
	state    []byte    // tls.SessionState.Bytes()
	notAfter time.Time // the stay's end (or the certificate's), at most maxTicketAge away
}

func newTicketStore(size int, now func() time.Time, rand io.Reader) *ticketStore {
	if size < 1024 {
		size = 1024
	}
	return &ticketStore{
		sessions: expirable.NewLRU[[ticketHandleSize]byte, ticket](size, nil, maxTicketAge),
		now:      now,
		rand:     rand,
	}
}

// wrap stores a session that may resume until notAfter (never more than
// maxTicketAge) and returns its handle. A zero notAfter gets a handle that
// resumes nothing.
func (t *ticketStore) wrap(notAfter time.Time, ss *tls.SessionState) ([]byte, error) {
	var h [ticketHandleSize]byte
	if _, err := io.ReadFull(t.rand, h[:]); err != nil {
		return nil, fmt.Errorf("radiusd: session ticket: %w", err)
	}
	if notAfter.IsZero() || !t.now().Before(notAfter) {
		return h[:], nil
	}
	if limit := t.now().Add(maxTicketAge); notAfter.After(limit) {
		notAfter = limit
	}
	state, err := ss.Bytes()
	if err != nil {
		return nil, fmt.Errorf("radiusd: session ticket: %w", err)
	}
	t.sessions.Add(h, ticket{state: state, notAfter: notAfter})
	return h[:], nil
}

// unwrap finds the session behind a handle and forgets the handle: each
// ticket resumes once (a resumed handshake hands out a fresh one), so a
// ticket seen on the air cannot be replayed. An unknown, expired or
// malformed handle is not an error: the device falls back to a full
// handshake.
func (t *ticketStore) unwrap(handle []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
	if len(handle) != ticketHandleSize {
		return nil, nil
	}
	h := [ticketHandleSize]byte(handle)
	tk, ok := t.sessions.Peek(h)
	if !ok {
		return nil, nil
	}
	t.sessions.Remove(h)
	if !t.now().Before(tk.notAfter) {
		return nil, nil
	}
	ss, err := tls.ParseSessionState(tk.state)
	if err != nil {
		return nil, nil
	}
	return ss, nil
}

// remove forgets the sessions behind handles (tickets of a refused device).
func (t *ticketStore) remove(handles [][ticketHandleSize]byte) {
	for _, h := range handles {
		t.sessions.Remove(h)
	}
}
