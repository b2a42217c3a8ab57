package eaptls

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// TLSFlags is the flags octet that starts every EAP-TLS payload
// (RFC 5216 section 3.1).
type TLSFlags uint8

// EAP-TLS flags.
const (
	FlagLength TLSFlags = 0x80 // L: a 4-byte TLS Message Length follows
	FlagMore   TLSFlags = 0x40 // M: more fragments follow
	FlagStart  TLSFlags = 0x20 // S: EAP-TLS Start (server to peer only)
)

// Has reports whether all flags in g are set in f.
func (f TLSFlags) Has(g TLSFlags) bool { return f&g == g }

func (f TLSFlags) String() string {
	var b strings.Builder
	for _, x := range []struct {
		f TLSFlags
		s string
	}{{FlagLength, "L"}, {FlagMore, "M"}, {FlagStart, "S"}} {
		if f.Has(x.f) {
			b.WriteString(x.s)
		}
	}
	if r := f &^ (FlagLength | FlagMore | FlagStart); r != 0 {
		fmt.Fprintf(&b, "|%#02x", uint8(r))
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// TLSPayload is the Type-Data of an EAP-TLS Request or Response: flags, the
// total TLS message length when FlagLength is set, and TLS data (a fragment
// of a TLS message, or nothing for an acknowledgement or a Start).
type TLSPayload struct {
	Flags  TLSFlags
	Length uint32 // total length of the TLS message; meaningful only with FlagLength
	Data   []byte
}

// IsAck reports whether p is an acknowledgement of a fragment: no L, M or S
// flag and no data.
func (p TLSPayload) IsAck() bool {
	return p.Flags&(FlagLength|FlagMore|FlagStart) == 0 && len(p.Data) == 0
}

// ParseTLSPayload parses the Type-Data of an EAP-TLS packet. The returned
// Data aliases data. Reserved flag bits are kept in Flags and otherwise
// ignored, as RFC 5216 asks of receivers.
func ParseTLSPayload(data []byte) (TLSPayload, error) {
	if len(data) < 1 {
		return TLSPayload{}, io.ErrUnexpectedEOF
	}
	p := TLSPayload{Flags: TLSFlags(data[0])}
	data = data[1:]
	if p.Flags.Has(FlagLength) {
		if len(data) < 4 {
			return TLSPayload{}, io.ErrUnexpectedEOF
		}
		p.Length = binary.BigEndian.Uint32(data)
		data = data[4:]
	}
	if len(data) > 0 {
		p.Data = data
	}
	return p, nil
}

// Append appends the wire format of p (flags, the length when FlagLength is
// set, data) to dst.
func (p TLSPayload) Append(dst []byte) []byte {
	dst = append(dst, byte(p.Flags))
	if p.Flags.Has(FlagLength) {
		dst = binary.BigEndian.AppendUint32(dst, p.Length)
	}
	return append(dst, p.Data...)
}

// tlsOverhead is what an EAP-TLS packet adds to its TLS data: the EAP header
// with Type, the flags octet and the 4-byte length of a first fragment.
const tlsOverhead = typeHeaderLen + 1 + 4
