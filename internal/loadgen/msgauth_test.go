package loadgen

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"layeh.com/radius"
)

// Vectors computed independently (Python hmac/hashlib) with secret
// "testing123" and Request Authenticator 00 01 .. 0f.
var (
	vectorSecret  = []byte("testing123")
	vectorReqAuth = [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	// Access-Accept, Identifier 0x2a: Message-Authenticator, EAP-Message(EAP-Success).
	vectorAccept = mustHex("022a002c54b848c322427cb9ff03d7cea3e72d8f5012e90fc825cf7cff1723890779bf7261914f06032a0004")
	// Access-Request, Identifier 7: Message-Authenticator, User-Name "bob".
	vectorRequest = mustHex("0107002b000102030405060708090a0b0c0d0e0f501260126ef9c99b8963848dfc2034f517ac0105626f62")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestSignRequest(t *testing.T) {
	b := bytes.Clone(vectorRequest)
	clear(b[22:38])
	if err := signRequest(b, vectorSecret); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, vectorRequest) {
		t.Errorf("signed request\n got %x\nwant %x", b, vectorRequest)
	}
}

func TestCheckResponseMessageAuthenticator(t *testing.T) {
	// moved re-encodes the accept with Message-Authenticator last and
	// correctly signed, so only its position is wrong.
	moved := func() []byte {
		p, err := radius.Parse(vectorAccept, vectorSecret)
		if err != nil {
			t.Fatal(err)
		}
		p.Attributes = radius.Attributes{p.Attributes[1], {Type: attrMessageAuthenticator, Attribute: make([]byte, 16)}}
		p.Authenticator = vectorReqAuth
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		off, _, _ := findMessageAuthenticator(b)
		sum := messageAuthenticator(b, off, vectorReqAuth, vectorSecret)
		copy(b[off:], sum[:])
		return b
	}
	without := func() []byte {
		p, _ := radius.Parse(vectorAccept, vectorSecret)
		p.Del(attrMessageAuthenticator)
		b, _ := p.MarshalBinary()
		return b
	}
	tampered := bytes.Clone(vectorAccept)
	tampered[len(tampered)-1] ^= 1

	tests := []struct {
		name   string
		packet []byte
		secret []byte
		want   error
	}{
		{"valid and first", vectorAccept, vectorSecret, nil},
		{"wrong secret", vectorAccept, []byte("testing124"), errMsgAuthInvalid},
		{"tampered attribute", tampered, vectorSecret, errMsgAuthInvalid},
		{"not first", moved(), vectorSecret, errMsgAuthNotFirst},
		{"missing", without(), vectorSecret, errMsgAuthMissing},
		{"truncated", vectorAccept[:30], vectorSecret, errMsgAuthMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkResponseMessageAuthenticator(tt.packet, vectorReqAuth, tt.secret)
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}

	// The vector's Response Authenticator is right too.
	req := make([]byte, 20)
	copy(req[4:], vectorReqAuth[:])
	if !radius.IsAuthenticResponse(vectorAccept, req, vectorSecret) {
		t.Error("vector's Response Authenticator does not verify")
	}
}

func FuzzFindMessageAuthenticator(f *testing.F) {
	f.Add(vectorAccept)
	f.Add(vectorRequest)
	f.Fuzz(func(t *testing.T, b []byte) {
		off, _, err := findMessageAuthenticator(b)
		if err == nil && off >= 0 && off+msgAuthLen > len(b) {
			t.Fatalf("offset %d past %d bytes", off, len(b))
		}
		if err == nil && off >= 0 {
			_ = checkResponseMessageAuthenticator(b, vectorReqAuth, vectorSecret)
		}
	})
}
