package portal

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"
)

// Bounds of what the portal holds in memory for guests between requests.
const (
	maxSignIns   = 20_000
	maxDownloads = 20_000
	// maxSignInUses caps the enrolments one sign-in makes; the stay's
	// device cap is the real limit, this one stops a runaway script.
	maxSignInUses = 20
	handleBytes   = 32 // 256 random bits per handle
)

// A signIn is a guest who proved a stay a few minutes ago: the page they
// got carries its handle in a hidden form field (a POST body, never a
// URL), so that they can fetch another profile, or replace a device at
// the cap, without typing the code again.
type signIn struct {
	stay int64
	via  string       // vouchers.SignInVoucher or vouchers.SignInRoom
	from netip.Prefix // the client network it was made for
	uses int
}

// A download is a profile made for one guest, waiting for its one GET.
//
// Why a handle in the path: an Apple profile must be fetched by a GET
// (Safari hands the response to the profile installer) and so must an
// Android Passpoint profile (Chrome only installs application/x-wifi-config
// from a GET after a tap, without redirects); a POST answered with the
// file would not work on either. The handle is 256 random bits, made
// after the guest proved the stay, held only in this process's memory,
// single-use and gone after DownloadLifetime: the voucher code never
// appears in a URL, and a handle that leaks from a proxy log after its
// download opens nothing.
type download struct {
	name        string // file name offered to the browser
	contentType string
	attachment  bool // Content-Disposition: attachment (not for Passpoint)
	data        []byte
}

// handles holds values of T under random, unguessable keys for a while.
// It is bounded: when full it forgets the expired ones and then the one
// closest to expiry.
type handles[T any] struct {
	mu   sync.Mutex
	m    map[string]*held[T]
	max  int
	now  func() time.Time
	rand io.Reader
	drop func(*T) // called on a value forgotten or taken for good
}

type held[T any] struct {
	v       T
	expires time.Time
}

func newHandles[T any](max int, now func() time.Time, rand io.Reader) *handles[T] {
	return &handles[T]{m: make(map[string]*held[T]), max: max, now: now, rand: rand}
}

// put stores v for life and returns its handle.
func (h *handles[T]) put(v T, life time.Duration) (string, error) {
	b := make([]byte, handleBytes)
	if _, err := io.ReadFull(h.rand, b); err != nil {
		return "", fmt.Errorf("portal: randomness for a handle: %w", err)
	}
	key := base64.RawURLEncoding.EncodeToString(b)
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.m) >= h.max {
		h.sweepLocked(now)
	}
	if len(h.m) >= h.max {
		var soonest string
		for k, e := range h.m {
			if soonest == "" || e.expires.Before(h.m[soonest].expires) {
				soonest = k
			}
		}
		h.forgetLocked(soonest)
	}
	h.m[key] = &held[T]{v: v, expires: now.Add(life)}
	return key, nil
}

// take removes and returns the value of key, if it has not expired.
func (h *handles[T]) take(key string) (T, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.m[key]
	if !ok {
		var zero T
		return zero, false
	}
	delete(h.m, key)
	if !h.now().Before(e.expires) {
		if h.drop != nil {
			h.drop(&e.v)
		}
		var zero T
		return zero, false
	}
	return e.v, true
}

// update calls fn on the live value of key under the lock; fn returns
// false to forget it. update reports whether key was live.
func (h *handles[T]) update(key string, fn func(*T) bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.m[key]
	if !ok {
		return false
	}
	if !h.now().Before(e.expires) {
		h.forgetLocked(key)
		return false
	}
	if !fn(&e.v) {
		h.forgetLocked(key)
	}
	return true
}

// clear forgets everything.
func (h *handles[T]) clear() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.m {
		h.forgetLocked(k)
	}
}

func (h *handles[T]) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}

func (h *handles[T]) sweepLocked(now time.Time) {
	for k, e := range h.m {
		if !now.Before(e.expires) {
			h.forgetLocked(k)
		}
	}
}

func (h *handles[T]) forgetLocked(key string) {
	if e, ok := h.m[key]; ok {
		if h.drop != nil {
			h.drop(&e.v)
		}
		delete(h.m, key)
	}
}

// wipe overwrites a download's bytes (its PKCS#12 and, in an eap-config,
// the password) once nobody will read them.
func wipe(d *download) {
	clear(d.data)
	d.data = nil
}
