package eaptls

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestPacketRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		wire []byte
	}{
		{"identity", Packet{Code: CodeResponse, Identifier: 7, Type: TypeIdentity, Data: []byte("guest")},
			[]byte{2, 7, 0, 10, 1, 'g', 'u', 'e', 's', 't'}},
		{"tls start", Packet{Code: CodeRequest, Identifier: 8, Type: TypeTLS, Data: []byte{0x20}},
			[]byte{1, 8, 0, 6, 13, 0x20}},
		{"empty type data", Packet{Code: CodeRequest, Identifier: 1, Type: TypeIdentity},
			[]byte{1, 1, 0, 5, 1}},
		{"success", Packet{Code: CodeSuccess, Identifier: 9}, []byte{3, 9, 0, 4}},
		{"failure", Packet{Code: CodeFailure, Identifier: 255}, []byte{4, 255, 0, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, tt.wire) {
				t.Fatalf("MarshalBinary = %x, want %x", b, tt.wire)
			}
			var got Packet
			if err := got.UnmarshalBinary(tt.wire); err != nil {
				t.Fatal(err)
			}
			if got.Code != tt.p.Code || got.Identifier != tt.p.Identifier || got.Type != tt.p.Type || !bytes.Equal(got.Data, tt.p.Data) {
				t.Fatalf("UnmarshalBinary = %+v, want %+v", got, tt.p)
			}
		})
	}
}

func TestPacketUnmarshalErrors(t *testing.T) {
	tests := []struct {
		name    string
		wire    []byte
		short   bool   // io.ErrUnexpectedEOF
		message string // substring of the error
	}{
		{"empty", nil, true, ""},
		{"three bytes", []byte{1, 1, 0}, true, ""},
		{"length beyond input", []byte{2, 1, 0, 9, 1, 'a'}, true, "exceeds"},
		{"request without type", []byte{1, 1, 0, 4}, false, "too short for a type"},
		{"length below header", []byte{2, 1, 0, 2, 1}, false, "too short"},
		{"success with data", []byte{3, 1, 0, 5, 1}, false, "want 4"},
		{"unknown code", []byte{9, 1, 0, 4}, false, "unknown EAP code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			err := p.UnmarshalBinary(tt.wire)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, io.ErrUnexpectedEOF) != tt.short {
				t.Errorf("err %v: ErrUnexpectedEOF %v, want %v", err, !tt.short, tt.short)
			}
			if !tt.short && !strings.HasPrefix(err.Error(), "eaptls: ") {
				t.Errorf("err %q lacks the package prefix", err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("err %q does not mention %q", err, tt.message)
			}
		})
	}
}

func TestPacketPaddingIgnored(t *testing.T) {
	var p Packet
	if err := p.UnmarshalBinary([]byte{2, 3, 0, 6, 1, 'x', 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if string(p.Data) != "x" {
		t.Fatalf("Data %q, want x", p.Data)
	}
}

func TestPacketMarshalErrors(t *testing.T) {
	for _, p := range []Packet{
		{Code: CodeSuccess, Type: TypeTLS},
		{Code: CodeFailure, Data: []byte{1}},
		{Code: 0},
		{Code: CodeRequest, Type: TypeTLS, Data: make([]byte, 0xffff)},
	} {
		if _, err := p.MarshalBinary(); err == nil {
			t.Errorf("%+v: no error", p.Code)
		}
	}
}

func TestTLSPayload(t *testing.T) {
	tests := []struct {
		name string
		p    TLSPayload
		wire []byte
	}{
		{"ack", TLSPayload{}, []byte{0}},
		{"start", TLSPayload{Flags: FlagStart}, []byte{0x20}},
		{"first fragment", TLSPayload{Flags: FlagLength | FlagMore, Length: 0x01020304, Data: []byte{0x16}},
			[]byte{0xc0, 1, 2, 3, 4, 0x16}},
		{"last fragment", TLSPayload{Data: []byte{1, 2}}, []byte{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Append(nil); !bytes.Equal(got, tt.wire) {
				t.Fatalf("Append = %x, want %x", got, tt.wire)
			}
			got, err := ParseTLSPayload(tt.wire)
			if err != nil {
				t.Fatal(err)
			}
			if got.Flags != tt.p.Flags || got.Length != tt.p.Length || !bytes.Equal(got.Data, tt.p.Data) {
				t.Fatalf("ParseTLSPayload = %+v, want %+v", got, tt.p)
			}
		})
	}
	for _, short := range [][]byte{nil, {0x80, 0, 0, 0}} {
		if _, err := ParseTLSPayload(short); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ParseTLSPayload(%x) = %v, want ErrUnexpectedEOF", short, err)
		}
	}
	if s := (FlagLength | FlagMore | 0x01).String(); s != "LM|0x01" {
		t.Errorf("String = %q", s)
	}
}

func FuzzPacket(f *testing.F) {
	for _, seed := range [][]byte{
		{2, 7, 0, 10, 1, 'g', 'u', 'e', 's', 't'},
		{1, 8, 0, 6, 13, 0x20},
		{2, 9, 0, 11, 13, 0xc0, 0, 0, 0, 1, 0x16},
		{3, 9, 0, 4},
		{4, 9, 0, 4, 0xff},
		{2, 1, 0, 6, 3, 25},
		{1, 1, 0, 4},
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		if err := p.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("re-marshal of a parsed packet: %v", err)
		}
		n := int(b[2])<<8 | int(b[3])
		if !bytes.Equal(out, b[:n]) {
			t.Fatalf("round trip %x != %x", out, b[:n])
		}
		if p.Code == CodeRequest || p.Code == CodeResponse {
			if tp, err := ParseTLSPayload(p.Data); err == nil {
				if got := tp.Append(nil); !bytes.Equal(got, p.Data) {
					t.Fatalf("payload round trip %x != %x", got, p.Data)
				}
			}
		}
	})
}
