package radiusd

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// RFC 2865 section 7.1: a NAS at 192.168.1.16 sends user "nemo" with
// password "arctangent", shared secret "xyzzy5461".
const (
	rfc2865Secret  = "xyzzy5461"
	rfc2865Request = "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a801100506000000" + "03"
	rfc2865Accept  = "0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e06c0a80103"
	// rfc2865Signed is rfc2865Request with a Message-Authenticator
	// appended, computed by hand (Python hmac) over the packet with the
	// attribute zeroed.
	rfc2865Signed = "0100004a0f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003" +
		"501263b78a6b9d2f149989fbf57ea21d194c"
	// keycardAccept is the section 7.1 Access-Accept as Keycard sends it:
	// Message-Authenticator first, then the three attributes; both
	// authenticators computed by hand.
	keycardAccept = "02000038c13e8f5e21426df8a8fffcc5569ce9fc501204121386280130d5ef8ed8072ba8058d0606000000010f06000000000e06c0a80103"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRFC2865ResponseAuthenticator(t *testing.T) {
	req := mustHex(t, rfc2865Request)
	want := mustHex(t, rfc2865Accept)

	// The codec reads the example request as the RFC describes it.
	p, err := radius.Parse(req, []byte(rfc2865Secret))
	if err != nil {
		t.Fatal(err)
	}
	if got := rfc2865.UserName_GetString(p); got != "nemo" {
		t.Errorf("User-Name = %q, want nemo", got)
	}
	if got := rfc2865.UserPassword_GetString(p); got != "arctangent" {
		t.Errorf("User-Password = %q, want arctangent", got)
	}

	// Response Authenticator = MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
	b := bytes.Clone(want)
	copy(b[4:20], req[4:20])
	responseAuthenticator(b, []byte(rfc2865Secret))
	if !bytes.Equal(b, want) {
		t.Errorf("Access-Accept = %x\nwant             %x", b, want)
	}
}

func TestCheckMessageAuthenticator(t *testing.T) {
	signed := mustHex(t, rfc2865Signed)
	flipped := bytes.Clone(signed)
	flipped[25] ^= 1 // inside User-Name
	twice := append(bytes.Clone(signed), signed[len(signed)-18:]...)
	twice[3] += 18
	short := bytes.Clone(signed[:len(signed)-1])
	short[3]--
	short[len(signed)-17] = 17 // the Length octet of Message-Authenticator

	tests := []struct {
		name   string
		pkt    []byte
		secret string
		want   error
	}{
		{"valid", signed, rfc2865Secret, nil},
		{"wrong secret", signed, "xyzzy5462", errBadMsgAuth},
		{"altered packet", flipped, rfc2865Secret, errBadMsgAuth},
		{"absent", mustHex(t, rfc2865Request), rfc2865Secret, errNoMsgAuth},
		{"two of them", twice, rfc2865Secret, errManyMsgAuth},
		{"15 octets", short, rfc2865Secret, errMsgAuthLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkMessageAuthenticator(tt.pkt, newSecretKey([]byte(tt.secret)))
			if !errors.Is(err, tt.want) {
				t.Errorf("checkMessageAuthenticator = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEncodeResponseMessageAuthenticatorFirst(t *testing.T) {
	req, err := radius.Parse(mustHex(t, rfc2865Request), []byte(rfc2865Secret))
	if err != nil {
		t.Fatal(err)
	}
	resp := req.Response(radius.CodeAccessAccept)
	rfc2865.ServiceType_Add(resp, rfc2865.ServiceType_Value_LoginUser)
	rfc2865.LoginService_Add(resp, rfc2865.LoginService_Value_Telnet)
	resp.Add(rfc2865.LoginIPHost_Type, radius.Attribute{192, 168, 1, 3})
	// A stray Message-Authenticator from the handler must not survive.
	resp.Add(msgAuthType, make(radius.Attribute, 16))

	b, err := encodeResponse(resp, req, newSecretKey([]byte(rfc2865Secret)))
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, keycardAccept); !bytes.Equal(b, want) {
		t.Errorf("encoded = %x\nwant      %x", b, want)
	}
	if !radius.IsAuthenticResponse(b, mustHex(t, rfc2865Request), []byte(rfc2865Secret)) {
		t.Error("layeh does not find the response authentic")
	}
}

func TestEncodeResponseEchoesProxyState(t *testing.T) {
	req := radius.New(radius.CodeAccessRequest, []byte("a-long-shared-secret"))
	rfc2865.ProxyState_Add(req, []byte("first"))
	rfc2865.UserName_AddString(req, "x")
	rfc2865.ProxyState_Add(req, []byte("second"))
	resp := req.Response(radius.CodeAccessReject)
	rfc2865.ReplyMessage_AddString(resp, "no")
	b, err := encodeResponse(resp, req, newSecretKey(req.Secret))
	if err != nil {
		t.Fatal(err)
	}
	p, err := radius.Parse(b, req.Secret)
	if err != nil {
		t.Fatal(err)
	}
	var types []radius.Type
	for _, a := range p.Attributes {
		types = append(types, a.Type)
	}
	want := []radius.Type{msgAuthType, rfc2865.ReplyMessage_Type, rfc2865.ProxyState_Type, rfc2865.ProxyState_Type}
	if !slices.Equal(types, want) {
		t.Fatalf("attribute order = %v, want %v", types, want)
	}
	if got, _ := rfc2865.ProxyState_Gets(p); len(got) != 2 || string(got[0]) != "first" || string(got[1]) != "second" {
		t.Errorf("Proxy-State = %q, want [first second]", got)
	}
}

// TestSecretKeyReuse checks that a pooled HMAC, reset between packets and
// shared by goroutines, computes what a fresh hmac.New computes, and that
// secretKeys keeps one key per secret.
func TestSecretKeyReuse(t *testing.T) {
	keys := newSecretKeys()
	secrets := [][]byte{[]byte("first-shared-secret-0123"), []byte("second-shared-secret-456")}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				secret := secrets[(g+i)%2]
				pkt := make([]byte, headerLen+2+msgAuthLen+i)
				for j := range pkt {
					pkt[j] = byte(i + j)
				}
				const at = headerLen + 2
				got := keys.get(secret).messageAuthenticator(pkt, at, pkt[4:headerLen])
				mac := hmac.New(md5.New, secret)
				mac.Write(pkt[:at])
				mac.Write(make([]byte, msgAuthLen))
				mac.Write(pkt[at+msgAuthLen:])
				if want := mac.Sum(nil); !bytes.Equal(got[:], want) {
					t.Errorf("goroutine %d packet %d: %x, want %x", g, i, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if keys.get(secrets[0]) != keys.get(bytes.Clone(secrets[0])) || len(keys.keys) != 2 {
		t.Errorf("%d keys for 2 secrets", len(keys.keys))
	}
}

// BenchmarkMessageAuthenticator is the per-packet authenticator work of one
// EAP-TLS round trip with 1000-byte fragments: check the request's
// Message-Authenticator, then encode the Access-Challenge.
func BenchmarkMessageAuthenticator(b *testing.B) {
	secret := []byte("lobby-shared-secret-0123456789")
	req := radius.New(radius.CodeAccessRequest, secret)
	rfc2869.EAPMessage_Set(req, make([]byte, 1010))
	rfc2869.MessageAuthenticator_Set(req, make([]byte, msgAuthLen))
	raw, err := req.Encode()
	if err != nil {
		b.Fatal(err)
	}
	key := newSecretKey(secret)
	at, err := findMessageAuthenticator(raw)
	if err != nil {
		b.Fatal(err)
	}
	mac := key.messageAuthenticator(raw, at, raw[4:headerLen])
	copy(raw[at:], mac[:])
	if req, err = radius.Parse(raw, secret); err != nil {
		b.Fatal(err)
	}
	resp := req.Response(radius.CodeAccessChallenge)
	rfc2869.EAPMessage_Set(resp, make([]byte, 1010))
	keys := newSecretKeys()
	b.ReportAllocs()
	for b.Loop() {
		key := keys.get(secret)
		if err := checkMessageAuthenticator(raw, key); err != nil {
			b.Fatal(err)
		}
		if _, err := encodeResponse(resp, req, key); err != nil {
			b.Fatal(err)
		}
	}
}
