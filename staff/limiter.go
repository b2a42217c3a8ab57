package staff

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// addressLimits configure the addressLimiter.
type addressLimits struct {
	maxFailures int
	window      time.Duration
	block       time.Duration
	maxBlock    time.Duration
}

// maxTrackedAddresses bounds the limiter's memory; beyond it the entry
// whose last failure is oldest is forgotten (blocked ones last).
const maxTrackedAddresses = 10_000

// addressLimiter counts failed logins by client network (an IPv4 address,
// an IPv6 /64) in this process's memory and blocks a network that fails
// too often, for a time that doubles with each block. A success does not
// clear the count: someone holding one account must not be able to
// alternate their own login with guesses at another's. It never touches
// an account: a block stops the guessing address, while the account's
// holder, from another address, still logs in (until the account's own
// counter locks it).
type addressLimiter struct {
	cfg addressLimits
	mu  sync.Mutex
	by  map[string]*addressStrikes
}

type addressStrikes struct {
	failures     int
	windowStart  time.Time
	last         time.Time
	blockedUntil time.Time
	blocks       int // blocks so far; forgotten a day after the last one ends
}

func newAddressLimiter(cfg addressLimits) *addressLimiter {
	return &addressLimiter{cfg: cfg, by: make(map[string]*addressStrikes)}
}

// addressKey is what the limiter counts a client by: its network, from an
// address with or without a port; any other text as it is.
func addressKey(client string) string {
	c := strings.TrimSpace(client)
	a, err := netip.ParseAddr(c)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(c)
		if err2 != nil {
			return c
		}
		a = ap.Addr()
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	return netip.PrefixFrom(a, bits).Masked().String()
}

// blocked reports whether key is blocked at now, and until when.
func (l *addressLimiter) blocked(key string, now time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, ok := l.by[key]
	if !ok || !now.Before(st.blockedUntil) {
		return time.Time{}, false
	}
	return st.blockedUntil, true
}

// fail records one failed login from key; when it blocks the address it
// returns the block's end and its number (1 for the first).
func (l *addressLimiter) fail(key string, now time.Time) (until time.Time, nth int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, ok := l.by[key]
	if !ok {
		l.makeRoom(now)
		st = &addressStrikes{windowStart: now}
		l.by[key] = st
	}
	if now.Sub(st.windowStart) >= l.cfg.window {
		st.failures, st.windowStart = 0, now
	}
	if st.blocks > 0 && now.Sub(st.blockedUntil) >= 24*time.Hour {
		st.blocks = 0
	}
	st.failures++
	st.last = now
	if st.failures < l.cfg.maxFailures {
		return time.Time{}, 0
	}
	st.blocks++
	st.failures, st.windowStart = 0, now
	st.blockedUntil = now.Add(growing(l.cfg.block, st.blocks, l.cfg.maxBlock))
	return st.blockedUntil, st.blocks
}

// makeRoom forgets entries once the map is full: first those with nothing
// left to remember, then the one whose last failure is oldest.
func (l *addressLimiter) makeRoom(now time.Time) {
	if len(l.by) < maxTrackedAddresses {
		return
	}
	for k, st := range l.by {
		if !now.Before(st.blockedUntil) && now.Sub(st.last) >= l.cfg.window && st.blocks == 0 {
			delete(l.by, k)
		}
	}
	for len(l.by) >= maxTrackedAddresses {
		var oldest string
		var at time.Time
		for k, st := range l.by {
			if st.blockedUntil.After(now) {
				continue
			}
			if oldest == "" || st.last.Before(at) {
				oldest, at = k, st.last
			}
		}
		if oldest == "" {
			// Everything is blocked: forget the block ending first.
			for k, st := range l.by {
				if oldest == "" || st.blockedUntil.Before(at) {
					oldest, at = k, st.blockedUntil
				}
			}
		}
		delete(l.by, oldest)
	}
}

// growing is base doubled n-1 times, at most limit.
func growing(base time.Duration, n int, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
