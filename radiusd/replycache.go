package radiusd

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	"layeh.com/radius"
)

// The RFC 5080 (section 2.2.2) reply cache. A NAS retransmits a request it
// got no answer to with the same source, Identifier and Request
// Authenticator; the server must send the same answer again, not run the
// request a second time (an EAP conversation would be derailed). A request
// with the same Identifier and a new authenticator is a new request.
//
// # Sizing
//
// What the cache must never lose early is a final answer (Access-Accept,
// Access-Reject, Accounting-Response): its conversation is over, so a
// retransmission that misses the cache is run again and an accepted device
// gets a late Access-Reject ("unknown EAP conversation"). An
// Access-Challenge matters much less: a retransmitted Challenge round finds
// its conversation, whose eaptls.Session answers a duplicate Response with
// the outstanding Request again, the same bytes (a retransmitted first
// request, which has no State yet, finds its conversation by the device
// and the request: see conversations.start).
//
// At the design load, a few thousand authentications a second of about 7
// rounds each, a 30 s TTL spans some 60,000 final answers and six times as
// many Challenges. Challenges are about 1.1 KB (up to 4 KB), finals a few
// hundred bytes. Holding every Challenge for the TTL would take hundreds
// of MB; holding the finals takes a few tens. So the cache is bounded in
// entries (Config.ReplyCacheSize, default 65,536) and in bytes (on average
// replyBytesPerEntry per entry, 40 MiB at the default), and when it is full
// it gives up the oldest Challenge first and a final answer only when no
// Challenge is left: finals stay for the TTL up to the bound, whatever the
// flood of Challenges around them.

type replyKey struct {
	remote        netip.AddrPort
	identifier    byte
	authenticator [16]byte
}

// replyClass says what losing a cached answer costs.
type replyClass uint8

const (
	replyFinal     replyClass = iota // the request cannot be run again: kept first
	replyChallenge                   // the EAP conversation can answer again
	replyClasses
)

func classOfReply(b []byte) replyClass {
	if len(b) > 0 && radius.Code(b[0]) == radius.CodeAccessChallenge {
		return replyChallenge
	}
	return replyFinal
}

// replyEntry is a cached answer. A delayed reply (Access-Reject) is not
// sent from the cache before readyAt.
type replyEntry struct {
	key     replyKey
	reply   []byte
	readyAt time.Time
	expires time.Time
	class   replyClass
}

// replyEntryOverhead approximates what an entry costs beside its reply: the
// map slot, the list element and the entry itself.
const replyEntryOverhead = 288

// replyBytesPerEntry is the average memory an entry may take: the byte
// bound is ReplyCacheSize times this (40 MiB at the default 65,536), about
// what the final answers of the design load take.
const replyBytesPerEntry = 640

func (e *replyEntry) cost() int { return len(e.reply) + replyEntryOverhead }

type replyState int

const (
	replyNew        replyState = iota // first sight: run the request
	replyInProgress                   // being answered: drop the duplicate
	replyCached                       // answered: send the cached bytes
)

// replyCache is bounded in entries, in bytes and in time (each answer is
// kept for ttl from when it was sent). It is safe for concurrent use.
type replyCache struct {
	size     int
	maxBytes int
	ttl      time.Duration
	now      func() time.Time

	mu       sync.Mutex
	inFlight map[replyKey]struct{} // requests being answered: at most one per worker
	entries  map[replyKey]*list.Element
	byClass  [replyClasses]list.List // of *replyEntry, oldest (first to expire) in front
	bytes    int
}

func newReplyCache(size int, ttl time.Duration) *replyCache {
	size = max(size, 1)
	if ttl <= 0 {
		ttl = time.Hour
	}
	return &replyCache{
		size: size,
		// Always room for a few of the largest answers.
		maxBytes: max(size*replyBytesPerEntry, 4*(radius.MaxPacketLength+replyEntryOverhead)),
		ttl:      ttl,
		now:      time.Now,
		inFlight: map[replyKey]struct{}{},
		entries:  map[replyKey]*list.Element{},
	}
}

// begin looks k up; on first sight it marks k in progress.
func (c *replyCache) begin(k replyKey) (replyState, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.expireLocked(now)
	if _, ok := c.inFlight[k]; ok {
		return replyInProgress, nil
	}
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*replyEntry)
		if now.Before(e.readyAt) {
			return replyInProgress, nil
		}
		return replyCached, e.reply
	}
	c.inFlight[k] = struct{}{}
	return replyNew, nil
}

// finish stores the encoded reply to k, sendable from readyAt.
func (c *replyCache) finish(k replyKey, reply []byte, readyAt time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inFlight, k)
	if el, ok := c.entries[k]; ok {
		c.removeLocked(el)
	}
	now := c.now()
	e := &replyEntry{key: k, reply: reply, readyAt: readyAt, expires: now.Add(c.ttl), class: classOfReply(reply)}
	c.entries[k] = c.byClass[e.class].PushBack(e)
	c.bytes += e.cost()
	c.expireLocked(now)
	for len(c.entries) > c.size || c.bytes > c.maxBytes {
		victims := &c.byClass[replyChallenge]
		if victims.Len() == 0 {
			victims = &c.byClass[replyFinal]
		}
		c.removeLocked(victims.Front())
	}
}

// abandon forgets k: the request got no answer, so a retransmission must
// be run again.
func (c *replyCache) abandon(k replyKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inFlight, k)
}

// len returns the number of cached answers.
func (c *replyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *replyCache) removeLocked(el *list.Element) {
	e := el.Value.(*replyEntry)
	c.byClass[e.class].Remove(el)
	delete(c.entries, e.key)
	c.bytes -= e.cost()
}

// expireLocked drops the answers older than the TTL; each class's list is
// in the order they were stored, so they are at its front.
func (c *replyCache) expireLocked(now time.Time) {
	for i := range c.byClass {
		l := &c.byClass[i]
		for el := l.Front(); el != nil && !now.Before(el.Value.(*replyEntry).expires); el = l.Front() {
			c.removeLocked(el)
		}
	}
}

// cachingWriter stores the reply in the cache on its way out.
type cachingWriter struct {
	next    responseWriter
	cache   *replyCache
	key     replyKey
	written bool
}

func (w *cachingWriter) writeReply(b []byte, delay time.Duration) {
	w.written = true
	w.cache.finish(w.key, b, w.cache.now().Add(delay))
	w.next.writeReply(b, delay)
}

// withReplyCache answers retransmissions from the cache and drops a
// duplicate of a request still in progress.
func (s *Server) withReplyCache(next handler) handler {
	return handlerFunc(func(w responseWriter, r *request) error {
		return serveCached(s.replies, s.metrics.cacheHits, next, w, r)
	})
}
