package eaptls

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"io"
)

// Code is the EAP packet code (RFC 3748 section 4).
type Code uint8

// EAP codes.
const (
	CodeRequest  Code = 1
	CodeResponse Code = 2
	CodeSuccess  Code = 3
	CodeFailure  Code = 4
)

func (c Code) String() string {
	switch c {
	case CodeRequest:
		return "Request"
	case CodeResponse:
		return "Response"
	case CodeSuccess:
		return "Success"
	case CodeFailure:
		return "Failure"
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Type is the EAP method type of a Request or Response (RFC 3748 section 5).
type Type uint8

// EAP types used by Keycard.
const (
	TypeIdentity     Type = 1
	TypeNotification Type = 2
	TypeNak          Type = 3
	TypeTLS          Type = 13
)

func (t Type) String() string {
	switch t {
	case TypeIdentity:
		return "Identity"
	case TypeNotification:
		return "Notification"
	case TypeNak:
		return "Nak"
	case TypeTLS:
		return "TLS"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// headerLen is Code, Identifier and Length; typeHeaderLen adds the Type octet
// that Requests and Responses carry.
const (
	headerLen     = 4
	typeHeaderLen = 5
	maxPacketLen  = 0xffff
)

// Packet is one EAP packet. Success and Failure packets have no Type and no
// Data; Requests and Responses always carry a Type.
type Packet struct {
	Code       Code
	Identifier uint8
	Type       Type
	Data       []byte
}

var (
	_ encoding.BinaryMarshaler   = (*Packet)(nil)
	_ encoding.BinaryUnmarshaler = (*Packet)(nil)
	_ encoding.BinaryAppender    = (*Packet)(nil)
)

// hasType reports whether packets with code c carry a Type octet.
func (c Code) hasType() bool { return c == CodeRequest || c == CodeResponse }

// MarshalBinary encodes p in wire format.
func (p *Packet) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(nil)
}

// AppendBinary appends the wire format of p to dst, so callers can reuse a
// buffer across packets.
func (p *Packet) AppendBinary(dst []byte) ([]byte, error) {
	n := headerLen
	switch {
	case p.Code.hasType():
		n = typeHeaderLen + len(p.Data)
	case p.Code == CodeSuccess || p.Code == CodeFailure:
		if len(p.Data) != 0 || p.Type != 0 {
			return dst, fmt.Errorf("eaptls: EAP-%s carries no type or data", p.Code)
		}
	default:
		return dst, fmt.Errorf("eaptls: unknown EAP code %d", uint8(p.Code))
	}
	if n > maxPacketLen {
		return dst, fmt.Errorf("eaptls: EAP packet of %d bytes exceeds %d", n, maxPacketLen)
	}
	dst = append(dst, byte(p.Code), p.Identifier, byte(n>>8), byte(n))
	if p.Code.hasType() {
		dst = append(dst, byte(p.Type))
		dst = append(dst, p.Data...)
	}
	return dst, nil
}

// UnmarshalBinary decodes one EAP packet from b. Octets beyond the packet's
// Length field are padding and ignored (RFC 3748 section 4.1). Data is a copy
// that reuses p.Data's storage when it is large enough.
func (p *Packet) UnmarshalBinary(b []byte) error {
	code, id, typ, data, err := parsePacket(b)
	if err != nil {
		return err
	}
	p.Code, p.Identifier, p.Type = code, id, typ
	p.Data = append(p.Data[:0], data...)
	if data == nil {
		p.Data = nil
	}
	return nil
}

// parsePacket validates b and returns its fields; data aliases b.
func parsePacket(b []byte) (code Code, id uint8, typ Type, data []byte, err error) {
	if len(b) < headerLen {
		return 0, 0, 0, nil, io.ErrUnexpectedEOF
	}
	code, id = Code(b[0]), b[1]
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n > len(b) {
		return 0, 0, 0, nil, fmt.Errorf("eaptls: EAP length %d exceeds the %d bytes received: %w", n, len(b), io.ErrUnexpectedEOF)
	}
	switch {
	case code.hasType():
		if n < typeHeaderLen {
			return 0, 0, 0, nil, fmt.Errorf("eaptls: EAP-%s length %d is too short for a type", code, n)
		}
		return code, id, Type(b[4]), b[typeHeaderLen:n:n], nil
	case code == CodeSuccess || code == CodeFailure:
		if n != headerLen {
			return 0, 0, 0, nil, fmt.Errorf("eaptls: EAP-%s length %d, want %d", code, n, headerLen)
		}
		return code, id, 0, nil, nil
	default:
		return 0, 0, 0, nil, fmt.Errorf("eaptls: unknown EAP code %d", uint8(code))
	}
}
