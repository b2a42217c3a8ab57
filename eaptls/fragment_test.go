package eaptls

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func fragments(msg []byte, size int) []TLSPayload {
	var f Fragmenter
	f.Reset(msg)
	var ps []TLSPayload
	for f.Pending() {
		ps = append(ps, f.Next(size))
	}
	return ps
}

func TestFragmenter(t *testing.T) {
	msg := bytes.Repeat([]byte{0xab}, 2500)
	ps := fragments(msg, 1000)
	if len(ps) != 3 {
		t.Fatalf("%d fragments, want 3", len(ps))
	}
	want := []TLSFlags{FlagLength | FlagMore, FlagMore, 0}
	for i, p := range ps {
		if p.Flags != want[i] {
			t.Errorf("fragment %d flags %v, want %v", i, p.Flags, want[i])
		}
	}
	if ps[0].Length != 2500 || len(ps[0].Data) != 1000 || len(ps[2].Data) != 500 {
		t.Errorf("lengths: announced %d, first %d, last %d", ps[0].Length, len(ps[0].Data), len(ps[2].Data))
	}

	one := fragments([]byte{1, 2, 3}, 1000)
	if len(one) != 1 || one[0].Flags != 0 {
		t.Errorf("unfragmented message: %+v", one)
	}
	f := Fragmenter{AlwaysLength: true}
	f.Reset([]byte{1, 2, 3})
	if p := f.Next(1000); p.Flags != FlagLength || p.Length != 3 {
		t.Errorf("AlwaysLength: %+v", p)
	}
	if !f.Next(10).IsAck() {
		t.Error("exhausted Fragmenter does not return an ack")
	}
}

func TestReassembler(t *testing.T) {
	msg := make([]byte, 3000)
	for i := range msg {
		msg[i] = byte(i)
	}
	for _, size := range []int{1, 7, 1000, 2999, 3000, 5000} {
		var r Reassembler
		var got []byte
		for i, p := range fragments(msg, size) {
			m, done, err := r.Add(p)
			if err != nil {
				t.Fatalf("size %d fragment %d: %v", size, i, err)
			}
			if done {
				got = m
			}
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("size %d: reassembled %d bytes", size, len(got))
		}
		if r.InProgress() {
			t.Errorf("size %d: still in progress", size)
		}
	}
}

func TestReassemblerErrors(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		ps      []TLSPayload
		message string
		tooBig  bool
	}{
		{"announced over cap", 100, []TLSPayload{{Flags: FlagLength | FlagMore, Length: 101, Data: []byte{1}}}, "announced", true},
		{"unannounced over cap", 4, []TLSPayload{{Flags: FlagMore, Data: []byte{1, 2, 3}}, {Data: []byte{4, 5}}}, "more than 4", true},
		{"single over cap", 2, []TLSPayload{{Data: []byte{1, 2, 3}}}, "cap 2", true},
		{"fragment beyond announced", 0, []TLSPayload{{Flags: FlagLength | FlagMore, Length: 3, Data: []byte{1, 2}}, {Data: []byte{3, 4}}}, "exceeds announced length", false},
		{"short of announced", 0, []TLSPayload{{Flags: FlagLength | FlagMore, Length: 5, Data: []byte{1, 2}}, {Data: []byte{3}}}, "announced 5", false},
		{"single short of announced", 0, []TLSPayload{{Flags: FlagLength, Length: 5, Data: []byte{1, 2}}}, "announced 5", false},
		{"length changes", 0, []TLSPayload{{Flags: FlagLength | FlagMore, Length: 5, Data: []byte{1}}, {Flags: FlagLength | FlagMore, Length: 6, Data: []byte{2}}}, "announces length 6", false},
		{"empty fragment", 0, []TLSPayload{{Flags: FlagMore}}, "empty fragment", false},
		{"ack", 0, []TLSPayload{{}}, "empty TLS message", false},
		{"start", 0, []TLSPayload{{Flags: FlagStart}}, "Start", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Reassembler{MaxMessageSize: tt.max}
			var err error
			for _, p := range tt.ps {
				if _, _, err = r.Add(p); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("err %v, want one mentioning %q", err, tt.message)
			}
			if errors.Is(err, ErrMessageTooLarge) != tt.tooBig {
				t.Errorf("errors.Is(ErrMessageTooLarge) = %v", !tt.tooBig)
			}
			if r.InProgress() {
				t.Error("still in progress after an error")
			}
		})
	}
}

func TestReassemblerRepeatedLength(t *testing.T) {
	// Some peers repeat L and the length on every fragment.
	var r Reassembler
	r.Add(TLSPayload{Flags: FlagLength | FlagMore, Length: 2, Data: []byte{1}})
	m, done, err := r.Add(TLSPayload{Flags: FlagLength, Length: 2, Data: []byte{2}})
	if err != nil || !done || !bytes.Equal(m, []byte{1, 2}) {
		t.Fatalf("%x %v %v", m, done, err)
	}
}

// FuzzReassembly feeds arbitrary fragment sequences: each fuzz input is a
// series of EAP-TLS payloads, each prefixed by a one-byte length.
func FuzzReassembly(f *testing.F) {
	enc := func(ps ...TLSPayload) []byte {
		var b []byte
		for _, p := range ps {
			w := p.Append(nil)
			b = append(b, byte(len(w)))
			b = append(b, w...)
		}
		return b
	}
	f.Add(enc(fragments(bytes.Repeat([]byte{7}, 50), 20)...))
	f.Add(enc(TLSPayload{Data: []byte{1, 2, 3}}))
	f.Add(enc(TLSPayload{Flags: FlagLength | FlagMore, Length: 4, Data: []byte{1}}, TLSPayload{Data: []byte{2, 3, 4, 5}}))
	f.Add(enc(TLSPayload{Flags: FlagLength | FlagMore, Length: 1 << 30, Data: []byte{1}}))
	f.Add(enc(TLSPayload{Flags: FlagMore, Data: []byte{1}}, TLSPayload{Flags: FlagMore, Data: []byte{1}}, TLSPayload{}))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := Reassembler{MaxMessageSize: 200}
		var total int
		for len(in) > 0 {
			n := int(in[0])
			in = in[1:]
			if n > len(in) {
				n = len(in)
			}
			p, err := ParseTLSPayload(in[:n])
			in = in[n:]
			if err != nil {
				continue
			}
			total += len(p.Data)
			msg, done, err := r.Add(p)
			if err != nil {
				total = 0
				continue
			}
			if done {
				if len(msg) > 200 || len(msg) > total {
					t.Fatalf("message of %d bytes from %d bytes of fragments, cap 200", len(msg), total)
				}
				if p.Flags.Has(FlagMore) {
					t.Fatal("done on a fragment with more to follow")
				}
				total = 0
			}
			if cap(r.buf) > 16<<10 {
				t.Fatalf("buffer grew to %d", cap(r.buf))
			}
		}
	})
}
