package eaptls

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrBudgetExhausted: the memory shared by the reassembly buffers of all
// sessions ([Budget]) is used up, so a fragment that needs more is refused
// and its conversation fails. Under a flood of conversations memory stays
// bounded; the device whose fragment was refused simply tries again.
var ErrBudgetExhausted = errors.New("eaptls: reassembly memory budget exhausted")

// A Budget bounds the memory that the reassembly buffers of many sessions
// hold together. A peer's TLS message in several fragments (its
// certificate flight, a post-quantum ClientHello) is a few KiB, but each
// session may grow its buffer up to Config.MaxMessageSize: without a shared
// bound, a flood of conversations could make the server hold that many
// times the number of conversations. A Budget is safe for concurrent use;
// share one through [Config] (or [Reassembler].Budget) by pointer.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes (at least 1).
func NewBudget(limit int64) *Budget {
	return &Budget{limit: max(limit, 1)}
}

// Limit returns the budget's size in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// InUse returns the bytes currently reserved.
func (b *Budget) InUse() int64 { return b.used.Load() }

// reserve takes n bytes from the budget; false (and nothing taken) when
// that would exceed it.
func (b *Budget) reserve(n int64) bool {
	for {
		used := b.used.Load()
		if used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

func (b *Budget) release(n int64) { b.used.Add(-n) }

// A lease is what one Reassembler holds of a Budget. It is its own small
// object so that a Session dropped without Close can hand it back from a
// runtime cleanup, which must not refer to the Session.
type lease struct {
	budget *Budget
	n      atomic.Int64
}

// grow takes n more bytes.
func (l *lease) grow(n int64) error {
	if !l.budget.reserve(n) {
		return fmt.Errorf("%w (%d of %d bytes in use)", ErrBudgetExhausted, l.budget.InUse(), l.budget.limit)
	}
	l.n.Add(n)
	return nil
}

// release hands everything back.
func (l *lease) release() {
	if n := l.n.Swap(0); n != 0 {
		l.budget.release(n)
	}
}
