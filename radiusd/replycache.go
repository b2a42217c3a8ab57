package radiusd

import (
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// The RFC 5080 (section 2.2.2) reply cache. A NAS retransmits a request it
// got no answer to with the same source, Identifier and Request
// Authenticator; the server must send the same answer again, not run the
// request a second time (an EAP conversation would be derailed). A request
// with the same Identifier and a new authenticator is a new request.

type replyKey struct {
	remote        netip.AddrPort
	identifier    byte
	authenticator [16]byte
}

// replyEntry is a cached answer; reply is nil while the request is being
// answered. A delayed reply (Access-Reject) is not sent from the cache
// before readyAt.
type replyEntry struct {
	reply   []byte
	readyAt time.Time
}

type replyState int

const (
	replyNew        replyState = iota // first sight: run the request
	replyInProgress                   // being answered: drop the duplicate
	replyCached                       // answered: send the cached bytes
)

// replyCache is bounded in entries and in time. It is safe for concurrent
// use.
type replyCache struct {
	mu  sync.Mutex // makes look-up-then-add atomic
	lru *expirable.LRU[replyKey, replyEntry]
	now func() time.Time
}

func newReplyCache(size int, ttl time.Duration) *replyCache {
	return &replyCache{lru: expirable.NewLRU[replyKey, replyEntry](size, nil, ttl), now: time.Now}
}

// begin looks k up; on first sight it marks k in progress.
func (c *replyCache) begin(k replyKey) (replyState, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(k)
	switch {
	case !ok:
		c.lru.Add(k, replyEntry{})
		return replyNew, nil
	case e.reply == nil || c.now().Before(e.readyAt):
		return replyInProgress, nil
	}
	return replyCached, e.reply
}

// finish stores the encoded reply to k, sendable from readyAt.
func (c *replyCache) finish(k replyKey, reply []byte, readyAt time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Add(k, replyEntry{reply: reply, readyAt: readyAt})
}

// abandon forgets k: the request got no answer, so a retransmission must
// be run again.
func (c *replyCache) abandon(k replyKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.lru.Peek(k); ok && e.reply == nil {
		c.lru.Remove(k)
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
		k := replyKey{remote: r.remote, identifier: r.packet.Identifier, authenticator: r.packet.Authenticator}
		switch state, reply := s.replies.begin(k); state {
		case replyInProgress:
			return drop(dropInProgress, nil)
		case replyCached:
			s.metrics.cacheHits.Inc()
			w.writeReply(reply, 0)
			return nil
		}
		cw := &cachingWriter{next: w, cache: s.replies, key: k}
		// Deferred so that even a panic further in (recovered by the
		// worker) does not leave the request marked in progress.
		defer func() {
			if !cw.written {
				s.replies.abandon(k)
			}
		}()
		return next.serveRADIUS(cw, r)
	})
}
