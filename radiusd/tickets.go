package radiusd

import (
	"crypto/tls"
	"fmt"
	"io"
	"sync/atomic"
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
// checkout even before the stay policy (asked again on every resumption)
// would refuse it. A session enters the store only when the conversation
// that made it ends in an Access-Accept (see tlsPolicy.configFor).
type ticketStore struct {
	sessions *expirable.LRU[[ticketHandleSize]byte, ticket]
	now      func() time.Time
	rand     io.Reader
	sealed   atomic.Int64 // tickets handed out, committed or not
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

// A heldTicket is a session ticket handed out in a conversation that has
// not ended yet: its handle is with the device, its session is not in the
// store (see tlsPolicy.configFor).
type heldTicket struct {
	handle [ticketHandleSize]byte
	ticket ticket
	resume bool // false: a handle that resumes nothing (no or past notAfter)
}

// seal makes the ticket of a session that may resume until notAfter (never
// more than maxTicketAge), to be committed when the conversation admits the
// device. A zero or past notAfter gets a handle that resumes nothing.
func (t *ticketStore) seal(notAfter time.Time, ss *tls.SessionState) (heldTicket, error) {
	var h heldTicket
	if _, err := io.ReadFull(t.rand, h.handle[:]); err != nil {
		return heldTicket{}, fmt.Errorf("radiusd: session ticket: %w", err)
	}
	if notAfter.IsZero() || !t.now().Before(notAfter) {
		return h, nil
	}
	if limit := t.now().Add(maxTicketAge); notAfter.After(limit) {
		notAfter = limit
	}
	state, err := ss.Bytes()
	if err != nil {
		return heldTicket{}, fmt.Errorf("radiusd: session ticket: %w", err)
	}
	h.ticket, h.resume = ticket{state: state, notAfter: notAfter}, true
	t.sealed.Add(1)
	return h, nil
}

// commit stores a sealed ticket: from now on its handle resumes, until
// end (the end of the admitted stay, which after an extension is later
// than the certificate's NotAfter the ticket was sealed with), never more
// than maxTicketAge from now.
func (t *ticketStore) commit(h heldTicket, end time.Time) {
	if !h.resume || !t.now().Before(end) {
		return
	}
	if limit := t.now().Add(maxTicketAge); end.After(limit) {
		end = limit
	}
	h.ticket.notAfter = end
	t.sessions.Add(h.handle, h.ticket)
}

// len returns how many sessions can resume (expired ones may be counted
// until they are swept).
func (t *ticketStore) len() int { return t.sessions.Len() }

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
