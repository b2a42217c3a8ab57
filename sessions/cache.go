package sessions

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"
	"unique"

	lru "github.com/hashicorp/golang-lru/v2"
)

// sessionKey is how a NAS names a session.
type sessionKey struct{ nas, acctSessionID string }

// nasSide is what many sessions share: how their NAS names and addresses
// itself, and the AP and SSID (Called-Station-Id). It is interned with
// package unique, so 100,000 sessions on 200 access points hold about 200
// copies of it, not 100,000.
type nasSide struct {
	identifier, calledStationID     string
	address, ipAddress, ipv6Address netip.Addr
}

// live is an open session as the cache holds it: the same content as a
// Session, laid out small (times as unix nanoseconds, the shared part
// interned, the key's strings shared with the LRU's key).
type live struct {
	key                        sessionKey
	id, stayID, deviceID       int64
	userName, callingStationID string
	framedIP                   netip.Addr
	nas                        unique.Handle[nasSide]
	startedAt, updatedAt       int64
	sessionTime                time.Duration
	inOctets, outOctets        uint64
	inPackets, outPackets      uint64
	disconnectAt               int64 // 0: none sent
	disconnectOutcome          string
	epoch                      uint64 // the writer's epoch when it stored this (Store.epoch)
}

func newLive(s *Session) *live {
	l := &live{
		// The NAS name comes in every packet: keep one copy of it.
		key: sessionKey{nas: unique.Make(s.NAS).Value(), acctSessionID: s.AcctSessionID},
	}
	l.set(s)
	return l
}

// set makes l hold s, whose key is l's.
func (l *live) set(s *Session) {
	side := nasSide{
		identifier: s.NASIdentifier, calledStationID: s.CalledStationID,
		address: s.NASAddress, ipAddress: s.NASIPAddress, ipv6Address: s.NASIPv6Address,
	}
	if l.nas == (unique.Handle[nasSide]{}) || l.nas.Value() != side {
		l.nas = unique.Make(side)
	}
	l.id, l.stayID, l.deviceID = s.ID, s.StayID, s.DeviceID
	l.userName, l.callingStationID, l.framedIP = s.UserName, s.CallingStationID, s.FramedIP
	l.startedAt, l.updatedAt = s.StartedAt.UnixNano(), s.UpdatedAt.UnixNano()
	l.sessionTime = s.SessionTime
	l.inOctets, l.outOctets, l.inPackets, l.outPackets = s.InputOctets, s.OutputOctets, s.InputPackets, s.OutputPackets
	l.disconnectAt, l.disconnectOutcome = 0, s.DisconnectOutcome
	if s.DisconnectAt != nil {
		l.disconnectAt = s.DisconnectAt.UnixNano()
	}
}

// session is l as a Session; Stale is left to the caller.
func (l *live) session() Session {
	n := l.nas.Value()
	s := Session{
		ID:                l.id,
		NAS:               l.key.nas,
		AcctSessionID:     l.key.acctSessionID,
		StayID:            l.stayID,
		DeviceID:          l.deviceID,
		UserName:          l.userName,
		CallingStationID:  l.callingStationID,
		CalledStationID:   n.calledStationID,
		FramedIP:          l.framedIP,
		NASAddress:        n.address,
		NASIPAddress:      n.ipAddress,
		NASIPv6Address:    n.ipv6Address,
		NASIdentifier:     n.identifier,
		StartedAt:         fromDB(l.startedAt),
		UpdatedAt:         fromDB(l.updatedAt),
		SessionTime:       l.sessionTime,
		InputOctets:       l.inOctets,
		OutputOctets:      l.outOctets,
		InputPackets:      l.inPackets,
		OutputPackets:     l.outPackets,
		DisconnectOutcome: l.disconnectOutcome,
	}
	if l.disconnectAt != 0 {
		t := fromDB(l.disconnectAt)
		s.DisconnectAt = &t
	}
	return s
}

// stale reports whether l has had no record for more than staleAfter at now.
func (l *live) stale(now time.Time, staleAfter time.Duration) bool {
	return now.UnixNano()-l.updatedAt > int64(staleAfter)
}

// cache holds the open sessions, bounded, with the indexes Online,
// OnlineDevices and ByAddress need. Only the Store's writer changes it
// (after each commit, with what it committed, under mu); readers take mu
// shared.
type cache struct {
	mu       sync.RWMutex
	lru      *lru.Cache[sessionKey, *live]
	byStay   map[int64][]*live
	byDevice map[int64][]*live
	byAddr   map[netip.Addr][]*live
	evicted  int // open sessions pushed out because the cache was full
	log      *slog.Logger
}

func newCache(size int, log *slog.Logger) (*cache, error) {
	c := &cache{
		byStay:   make(map[int64][]*live),
		byDevice: make(map[int64][]*live),
		byAddr:   make(map[netip.Addr][]*live),
		log:      log,
	}
	var err error
	// The callback runs for evictions and for Remove, synchronously inside
	// putLocked and removeLocked, so mu is already held.
	if c.lru, err = lru.NewWithEvict(size, func(_ sessionKey, l *live) { c.unindex(l) }); err != nil {
		return nil, fmt.Errorf("sessions: cache: %w", err)
	}
	return c, nil
}

// putLocked stores s, which is open, replacing what was cached for it,
// and returns the cache's copy.
func (c *cache) putLocked(s *Session) *live {
	if old, ok := c.lru.Peek(sessionKey{s.NAS, s.AcctSessionID}); ok {
		if old.stayID == s.StayID && old.deviceID == s.DeviceID && old.framedIP == s.FramedIP {
			// Indexed under the same keys: update it in place (readers
			// hold mu shared) and keep its place in the indexes.
			old.set(s)
			c.lru.Get(old.key) // most recently updated
			return old
		}
		c.unindex(old)
	}
	l := newLive(s)
	if c.lru.Add(l.key, l) {
		if c.evicted == 0 {
			c.log.Warn("sessions: cache is full; open sessions least recently heard from leave Online until their next record (raise the session cache size)",
				"size", c.lru.Len())
		}
		c.evicted++
	}
	c.index(l)
	return l
}

// removeLocked drops a session that is no longer open.
func (c *cache) removeLocked(k sessionKey) { c.lru.Remove(k) }

func (c *cache) index(l *live) {
	if l.stayID != 0 {
		c.byStay[l.stayID] = append(c.byStay[l.stayID], l)
	}
	if l.deviceID != 0 {
		c.byDevice[l.deviceID] = append(c.byDevice[l.deviceID], l)
	}
	if l.framedIP.IsValid() {
		c.byAddr[l.framedIP] = append(c.byAddr[l.framedIP], l)
	}
}

func (c *cache) unindex(l *live) {
	if l.stayID != 0 {
		drop(c.byStay, l.stayID, l)
	}
	if l.deviceID != 0 {
		drop(c.byDevice, l.deviceID, l)
	}
	if l.framedIP.IsValid() {
		drop(c.byAddr, l.framedIP, l)
	}
}

// drop removes l from m[k], and m[k] when it is left empty.
func drop[K comparable](m map[K][]*live, k K, l *live) {
	ls := m[k]
	i := slices.Index(ls, l)
	if i < 0 {
		return
	}
	last := len(ls) - 1
	ls[i], ls[last] = ls[last], nil
	if last == 0 {
		delete(m, k)
		return
	}
	m[k] = ls[:last]
}

// Online returns the open sessions, from memory, of a stay (stayID != 0),
// of a device (deviceID != 0), of both, or all of them (both 0), ordered
// by start time then id. Stale sessions are included, marked Stale.
func (s *Store) Online(stayID, deviceID int64) []Session {
	now := s.now()
	c := s.cache
	c.mu.RLock()
	defer c.mu.RUnlock()
	var ls []*live
	switch {
	case stayID != 0:
		ls = c.byStay[stayID]
	case deviceID != 0:
		ls = c.byDevice[deviceID]
	default:
		ls = c.lru.Values()
	}
	out := make([]Session, 0, len(ls))
	for _, l := range ls {
		if deviceID != 0 && l.deviceID != deviceID {
			continue
		}
		sess := l.session()
		sess.Stale = l.stale(now, s.staleAfter)
		out = append(out, sess)
	}
	slices.SortFunc(out, func(a, b Session) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// OnlineDevices returns the devices of the stay that have an open session
// which is not stale at now, each with the earliest start among its
// sessions: what a cap on simultaneous devices counts (one device on two
// access points is one device). Sessions whose device is not known are
// not counted.
func (s *Store) OnlineDevices(stayID int64, now time.Time) map[int64]time.Time {
	out := make(map[int64]time.Time)
	if stayID == 0 {
		return out
	}
	c := s.cache
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, l := range c.byStay[stayID] {
		if l.deviceID == 0 || l.stale(now, s.staleAfter) {
			continue
		}
		started := fromDB(l.startedAt)
		if t, ok := out[l.deviceID]; !ok || started.Before(t) {
			out[l.deviceID] = started
		}
	}
	return out
}

// ByAddress returns the open session whose Framed-IP-Address is ip, the
// most recently updated when several claim it (an address the DHCP server
// handed on), from memory.
func (s *Store) ByAddress(ip netip.Addr) (Session, bool) {
	c := s.cache
	c.mu.RLock()
	defer c.mu.RUnlock()
	var best *live
	for _, l := range c.byAddr[ip] {
		if best == nil || l.updatedAt > best.updatedAt || (l.updatedAt == best.updatedAt && l.id > best.id) {
			best = l
		}
	}
	if best == nil {
		return Session{}, false
	}
	sess := best.session()
	sess.Stale = best.stale(s.now(), s.staleAfter)
	return sess, true
}
