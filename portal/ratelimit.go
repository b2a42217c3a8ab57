package portal

import (
	"errors"
	"net/netip"
	"sync"
	"time"
)

// RateLimit slows, then blocks, a client address that sends wrong codes
// (or wrong room and surname). vouchers locks a voucher after its
// MaxFailedTries wrong codes whoever sends them; BlockAfter is kept below
// that, so one guessing address is stopped here before it can lock the
// real guest's voucher, while the guest, from another address, still
// gets in.
type RateLimit struct {
	// SlowAfter wrong tries make the address wait Delay before its next
	// try, doubling with each further wrong try. Default 3.
	SlowAfter int
	// BlockAfter wrong tries block the address for Window. Default 5;
	// at least SlowAfter.
	BlockAfter int
	// Delay is the first wait. Default 10 seconds.
	Delay time.Duration
	// Window is how long wrong tries are remembered (counted from the
	// last one) and how long a block lasts. Default 15 minutes.
	Window time.Duration
	// MaxAddresses bounds the memory: beyond it the address whose last
	// wrong try is oldest is forgotten. Default 10,000.
	MaxAddresses int
}

func (r RateLimit) withDefaults() (RateLimit, error) {
	if r.SlowAfter == 0 {
		r.SlowAfter = 3
	}
	if r.BlockAfter == 0 {
		r.BlockAfter = max(5, r.SlowAfter)
	}
	if r.Delay == 0 {
		r.Delay = 10 * time.Second
	}
	if r.Window == 0 {
		r.Window = 15 * time.Minute
	}
	if r.MaxAddresses == 0 {
		r.MaxAddresses = 10_000
	}
	if r.SlowAfter < 1 || r.BlockAfter < r.SlowAfter || r.Delay < 0 || r.Window <= 0 || r.MaxAddresses < 1 {
		return r, errors.New("portal: RateLimit needs 1 <= SlowAfter <= BlockAfter, a positive Window and MaxAddresses")
	}
	return r, nil
}

// limiter is the in-memory state of RateLimit, by client network: an IPv4
// address, or an IPv6 /64 (one device may hop between the addresses of
// its /64). A right code does not clear the count: a guest who holds one
// code must not be able to alternate it with guesses at another's.
type limiter struct {
	cfg RateLimit
	now func() time.Time

	mu   sync.Mutex
	byIP map[netip.Prefix]*strikes
}

type strikes struct {
	wrong int
	last  time.Time
}

func newLimiter(cfg RateLimit, now func() time.Time) *limiter {
	return &limiter{cfg: cfg, now: now, byIP: make(map[netip.Prefix]*strikes)}
}

// clientNet is what the limiter (and a sign-in) keys a client by.
func clientNet(a netip.Addr) netip.Prefix {
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// verdict is what the limiter says about one more try.
type verdict struct {
	blocked bool
	wait    time.Duration // > 0: try again after this
}

func (v verdict) ok() bool { return !v.blocked && v.wait <= 0 }

// allow says whether a may try now; a refused try is not counted.
func (l *limiter) allow(a netip.Addr) verdict {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.current(clientNet(a), now)
	if s == nil {
		return verdict{}
	}
	return l.judge(s, now)
}

// wrong counts a wrong try from a and returns the verdict on the next one.
func (l *limiter) wrong(a netip.Addr) verdict {
	now := l.now()
	key := clientNet(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.current(key, now)
	if s == nil {
		if len(l.byIP) >= l.cfg.MaxAddresses {
			l.evictLocked(now)
		}
		s = &strikes{}
		l.byIP[key] = s
	}
	s.wrong++
	s.last = now
	return l.judge(s, now)
}

// current returns a's strikes, forgetting them once Window has passed.
func (l *limiter) current(key netip.Prefix, now time.Time) *strikes {
	s, ok := l.byIP[key]
	if !ok {
		return nil
	}
	if now.Sub(s.last) >= l.cfg.Window {
		delete(l.byIP, key)
		return nil
	}
	return s
}

func (l *limiter) judge(s *strikes, now time.Time) verdict {
	switch {
	case s.wrong >= l.cfg.BlockAfter:
		return verdict{blocked: true, wait: s.last.Add(l.cfg.Window).Sub(now)}
	case s.wrong >= l.cfg.SlowAfter:
		delay := l.cfg.Delay << min(s.wrong-l.cfg.SlowAfter, 16)
		return verdict{wait: s.last.Add(delay).Sub(now)}
	}
	return verdict{}
}

// evictLocked makes room: the expired entries go, and if none had, the
// one whose last wrong try is oldest.
func (l *limiter) evictLocked(now time.Time) {
	var oldest netip.Prefix
	var oldestAt time.Time
	for k, s := range l.byIP {
		if now.Sub(s.last) >= l.cfg.Window {
			delete(l.byIP, k)
			continue
		}
		if oldestAt.IsZero() || s.last.Before(oldestAt) {
			oldest, oldestAt = k, s.last
		}
	}
	if len(l.byIP) >= l.cfg.MaxAddresses {
		delete(l.byIP, oldest)
	}
}

func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byIP)
}
