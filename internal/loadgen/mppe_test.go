package loadgen

import (
	"bytes"
	"errors"
	"testing"

	"layeh.com/radius"
)

// vectorMPPE is an MS-MPPE key attribute value (salt 0x8001) carrying the 32
// bytes 0x20..0x3f, computed independently (Python hashlib) with
// vectorSecret and vectorReqAuth.
var (
	vectorMPPE    = mustHex("80011284256f293e001ee80f9941999638dd6282a8d84c9f77c0ea5227ef36ed840cf1df2a6c451199e118495daa69f34419")
	vectorMPPEKey = func() []byte {
		k := make([]byte, 32)
		for i := range k {
			k[i] = byte(0x20 + i)
		}
		return k
	}()
)

func TestDecryptMPPEKey(t *testing.T) {
	badSalt := bytes.Clone(vectorMPPE)
	badSalt[0] &^= 0x80
	badLen := bytes.Clone(vectorMPPE)
	badLen[2] ^= 0xff // first plaintext byte (the key length) becomes > 47

	tests := []struct {
		name    string
		value   []byte
		secret  []byte
		want    []byte
		wantErr error
	}{
		{"vector", vectorMPPE, vectorSecret, vectorMPPEKey, nil},
		{"short", vectorMPPE[:17], vectorSecret, nil, errMPPEMalformed},
		{"not a block multiple", vectorMPPE[:30], vectorSecret, nil, errMPPEMalformed},
		{"salt high bit clear", badSalt, vectorSecret, nil, errMPPEMalformed},
		{"length past the end", badLen, vectorSecret, nil, errMPPEMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decryptMPPEKey(tt.value, tt.secret, vectorReqAuth)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("key %x, want %x", got, tt.want)
			}
		})
	}

	// The wrong secret decrypts to garbage, never to the key.
	if got, _ := decryptMPPEKey(vectorMPPE, []byte("testing124"), vectorReqAuth); bytes.Equal(got, vectorMPPEKey) {
		t.Error("wrong secret recovered the key")
	}
}

// RFC 2548 key encryption is RFC 2868 Tunnel-Password's scheme; layeh's
// encoder is a second, independent implementation to agree with.
func TestDecryptMPPEKeyAgreesWithTunnelPassword(t *testing.T) {
	enc, err := radius.NewTunnelPassword(vectorMPPEKey, []byte{0x85, 0x17}, vectorSecret, vectorReqAuth[:])
	if err != nil {
		t.Fatal(err)
	}
	got, err := decryptMPPEKey(enc, vectorSecret, vectorReqAuth)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, vectorMPPEKey) {
		t.Errorf("key %x, want %x", got, vectorMPPEKey)
	}
}

func TestMPPEKeys(t *testing.T) {
	vsa := func(subs ...[]byte) *radius.AVP {
		v := []byte{0, 0, 0x01, 0x37} // vendor 311
		for _, s := range subs {
			v = append(v, s...)
		}
		return &radius.AVP{Type: attrVendorSpecific, Attribute: v}
	}
	recv := []byte{msMPPERecvKey, 4, 0xaa, 0xbb}
	send := []byte{msMPPESendKey, 4, 0xcc, 0xdd}
	tests := []struct {
		name   string
		attrs  radius.Attributes
		wantOK bool
	}{
		{"separate", radius.Attributes{vsa(recv), vsa(send)}, true},
		{"packed in one VSA", radius.Attributes{vsa(send, recv)}, true},
		{"send missing", radius.Attributes{vsa(recv)}, false},
		{"recv twice", radius.Attributes{vsa(recv), vsa(recv), vsa(send)}, false},
		{"other vendor", radius.Attributes{{Type: attrVendorSpecific, Attribute: append([]byte{0, 0, 0, 9}, recv...)}, vsa(send)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, s, ok := mppeKeys(tt.attrs)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && (!bytes.Equal(r, recv[2:]) || !bytes.Equal(s, send[2:])) {
				t.Errorf("recv %x send %x", r, s)
			}
		})
	}
}
