package eaptls

import (
	"errors"
	"fmt"
)

// DefaultMaxMessageSize caps a reassembled TLS message when no other cap is
// configured.
const DefaultMaxMessageSize = 64 << 10

// Errors a caller may want to tell apart (for a reject reason or a metric).
var (
	// ErrMessageTooLarge: the peer announced or sent a TLS message larger
	// than the configured cap.
	ErrMessageTooLarge = errors.New("eaptls: TLS message exceeds the size cap")
	// ErrTooManyRounds: the conversation took more EAP rounds than allowed.
	ErrTooManyRounds = errors.New("eaptls: too many EAP rounds")
)

// Fragmenter cuts one outgoing TLS message (a whole flight of records) into
// EAP-TLS payloads. It is used by the server and by peers alike; the zero
// value is empty and ready for Reset.
type Fragmenter struct {
	// AlwaysLength sets FlagLength and the total length on the first
	// payload even when the message fits in one (RFC 5216 allows both; by
	// default the length goes only on a fragmented message's first payload).
	AlwaysLength bool

	msg []byte
	off int
}

// Reset starts cutting msg. The Fragmenter keeps msg (without copying) until
// the last fragment has been taken.
func (f *Fragmenter) Reset(msg []byte) {
	f.msg, f.off = msg, 0
}

// Pending reports whether fragments remain to be sent.
func (f *Fragmenter) Pending() bool { return f.off < len(f.msg) }

// Next returns the next payload carrying at most size bytes of TLS data:
// the first of several carries FlagLength and the total length, every one
// but the last carries FlagMore. Data aliases the message given to Reset.
// A size below 1 is treated as 1. Next on an exhausted Fragmenter returns
// an empty payload (an acknowledgement).
func (f *Fragmenter) Next(size int) TLSPayload {
	size = max(size, 1)
	var p TLSPayload
	rest := f.msg[f.off:]
	if len(rest) == 0 {
		return p
	}
	if f.off == 0 && (len(rest) > size || f.AlwaysLength) {
		p.Flags |= FlagLength
		p.Length = uint32(len(f.msg))
	}
	if len(rest) > size {
		p.Flags |= FlagMore
		rest = rest[:size]
	}
	p.Data = rest
	f.off += len(rest)
	if !f.Pending() {
		f.msg, f.off = nil, 0
	}
	return p
}

// Reassembler joins the fragments of one incoming TLS message. It enforces
// the length announced with FlagLength (a fragment beyond it, or a message
// ending short of it, is an error) and MaxMessageSize. The zero value is
// ready to use with DefaultMaxMessageSize; it allocates only when a
// message actually arrives in several fragments, and then grows its buffer
// with the data received (not with the length announced, which costs a
// peer nothing to claim).
type Reassembler struct {
	MaxMessageSize int // 0 means DefaultMaxMessageSize
	// Budget, when set, is the memory shared with other Reassemblers: the
	// buffer is taken from it, a fragment that needs more than it has left
	// fails with ErrBudgetExhausted, and Release gives the memory back.
	// Set it before the first Add.
	Budget *Budget

	buf       []byte
	announced int64 // -1 when the first fragment had no length
	active    bool
	lease     *lease // what buf holds of Budget
}

// minReassemblyBuffer is the first allocation of a fragmented message.
const minReassemblyBuffer = 1024

// InProgress reports whether some fragments of a message have arrived and
// more are awaited.
func (r *Reassembler) InProgress() bool { return r.active }

// Reset abandons a message in progress, keeping the buffer for reuse.
func (r *Reassembler) Reset() {
	r.buf, r.announced, r.active = r.buf[:0], 0, false
}

// Release abandons a message in progress, frees the buffer and gives its
// memory back to the Budget.
func (r *Reassembler) Release() {
	r.buf, r.announced, r.active = nil, 0, false
	if r.lease != nil {
		r.lease.release()
	}
}

// grow makes room in the buffer for need bytes, at most bound (the
// announced length or the cap), doubling as data arrives, and takes the
// memory from the Budget first.
func (r *Reassembler) grow(need, bound int) error {
	if need <= cap(r.buf) {
		return nil
	}
	size := min(max(need, 2*cap(r.buf), minReassemblyBuffer), bound)
	if r.Budget != nil {
		if r.lease == nil {
			r.lease = &lease{budget: r.Budget}
		}
		if err := r.lease.grow(int64(size - cap(r.buf))); err != nil {
			return err
		}
	}
	buf := make([]byte, len(r.buf), size)
	copy(buf, r.buf)
	r.buf = buf
	return nil
}

func (r *Reassembler) max() int {
	if r.MaxMessageSize > 0 {
		return r.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

// Add takes the next payload. When it completes a message, Add returns it
// with done set; msg stays valid until the next call to Add, Reset or
// Release, and may alias p.Data. An acknowledgement (an empty payload with no
// flags) is not a fragment: callers handle it before Add, which rejects it.
// After an error the Reassembler is reset.
func (r *Reassembler) Add(p TLSPayload) (msg []byte, done bool, err error) {
	msg, done, err = r.add(p)
	if err != nil {
		r.Reset()
	}
	return msg, done, err
}

func (r *Reassembler) add(p TLSPayload) ([]byte, bool, error) {
	limit := r.max()
	if p.Flags.Has(FlagStart) {
		return nil, false, errors.New("eaptls: unexpected EAP-TLS Start flag")
	}
	if !r.active {
		r.buf = r.buf[:0]
		r.announced = -1
		if p.Flags.Has(FlagLength) {
			if int64(p.Length) > int64(limit) {
				return nil, false, fmt.Errorf("%w: %d bytes announced, cap %d", ErrMessageTooLarge, p.Length, limit)
			}
			r.announced = int64(p.Length)
		}
		if !p.Flags.Has(FlagMore) {
			// A message in one payload: no copy needed.
			if len(p.Data) == 0 {
				return nil, false, errors.New("eaptls: empty TLS message")
			}
			if len(p.Data) > limit {
				return nil, false, fmt.Errorf("%w: %d bytes, cap %d", ErrMessageTooLarge, len(p.Data), limit)
			}
			if r.announced >= 0 && int64(len(p.Data)) != r.announced {
				return nil, false, fmt.Errorf("eaptls: TLS message of %d bytes, announced %d", len(p.Data), r.announced)
			}
			return p.Data, true, nil
		}
		r.active = true
	} else if p.Flags.Has(FlagLength) && r.announced >= 0 && int64(p.Length) != r.announced {
		return nil, false, fmt.Errorf("eaptls: fragment announces length %d, first fragment announced %d", p.Length, r.announced)
	}
	if p.Flags.Has(FlagMore) && len(p.Data) == 0 {
		return nil, false, errors.New("eaptls: empty fragment with more to follow")
	}
	n := int64(len(r.buf)) + int64(len(p.Data))
	if r.announced >= 0 && n > r.announced {
		return nil, false, fmt.Errorf("eaptls: fragment exceeds announced length %d", r.announced)
	}
	if n > int64(limit) {
		return nil, false, fmt.Errorf("%w: more than %d bytes", ErrMessageTooLarge, limit)
	}
	bound := limit
	if r.announced >= 0 {
		bound = int(r.announced)
	}
	if err := r.grow(int(n), bound); err != nil {
		return nil, false, err
	}
	r.buf = append(r.buf, p.Data...)
	if p.Flags.Has(FlagMore) {
		return nil, false, nil
	}
	r.active = false
	if r.announced >= 0 && n != r.announced {
		return nil, false, fmt.Errorf("eaptls: TLS message of %d bytes, announced %d", n, r.announced)
	}
	return r.buf, true, nil
}
