package radiusd

import "github.com/prometheus/client_golang/prometheus"

// serveCached runs r through next behind cache: a retransmission is
// answered with the bytes already sent, a duplicate of a request still in
// progress is dropped, and a request that got no answer is forgotten so
// that its retransmission runs again.
func serveCached(cache *replyCache, hits prometheus.Counter, next handler, w responseWriter, r *request) error {
	k := replyKey{remote: r.remote, identifier: r.packet.Identifier, authenticator: r.packet.Authenticator}
	switch state, reply := cache.begin(k); state {
	case replyInProgress:
		return drop(dropInProgress, nil)
	case replyCached:
		hits.Inc()
		w.writeReply(reply, 0)
		return nil
	}
	cw := &cachingWriter{next: w, cache: cache, key: k}
	// Deferred so that even a panic further in (recovered by the worker)
	// does not leave the request marked in progress.
	defer func() {
		if !cw.written {
			cache.abandon(k)
		}
	}()
	return next.serveRADIUS(cw, r)
}
