package radiusd

import (
	"bytes"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/vendors/microsoft"
)

func TestMPPEKeyAttribute(t *testing.T) {
	secret := []byte(rfc2865Secret)
	reqAuth := mustHex(t, rfc2865Request)[4:20]
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	// Hand-computed (Python hashlib) from RFC 2548 section 2.4.2:
	// P = Key-Length + Key + zero padding to 48 octets,
	// b(1) = MD5(secret + Request-Authenticator + Salt), c(i) = p(i) xor b(i),
	// b(i) = MD5(secret + c(i-1)); the value is Salt + C.
	const wantValue = "8001e74fd77a66159af1c00e2603ed8f8a2d775b72924f399d2c98d1909d856dfa8608c3baf92fc0c0313d7dd2b3bb1fe1e7"

	a, err := mppeKeyAttribute(msMPPERecvKey, key, [2]byte{0x80, 0x01}, secret, reqAuth)
	if err != nil {
		t.Fatal(err)
	}
	vendor, vsa, err := radius.VendorSpecific(a)
	if err != nil {
		t.Fatal(err)
	}
	if vendor != vendorMicrosoft || vsa[0] != msMPPERecvKey || int(vsa[1]) != len(vsa) {
		t.Fatalf("VSA header: vendor %d type %d length %d (of %d)", vendor, vsa[0], vsa[1], len(vsa))
	}
	if got := vsa[2:]; !bytes.Equal(got, mustHex(t, wantValue)) {
		t.Errorf("MS-MPPE-Recv-Key value = %x\nwant                      %x", got, mustHex(t, wantValue))
	}

	// Round trip through layeh's decoder, as a NAS would read it.
	req := &radius.Packet{Code: radius.CodeAccessRequest, Secret: secret}
	copy(req.Authenticator[:], reqAuth)
	resp := req.Response(radius.CodeAccessAccept)
	resp.Add(26, a)
	send, err := mppeKeyAttribute(msMPPESendKey, bytes.Repeat([]byte{0xAB}, 32), [2]byte{0x81, 0x02}, secret, reqAuth)
	if err != nil {
		t.Fatal(err)
	}
	resp.Add(26, send)
	if got, err := microsoft.MSMPPERecvKey_Lookup(resp, req); err != nil || !bytes.Equal(got, key) {
		t.Errorf("decrypted Recv-Key = %x, %v; want %x", got, err, key)
	}
	if got, err := microsoft.MSMPPESendKey_Lookup(resp, req); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{0xAB}, 32)) {
		t.Errorf("decrypted Send-Key = %x, %v", got, err)
	}
}

func TestMPPESaltsDistinctWithHighBit(t *testing.T) {
	// A reader that repeats itself forces a retry for distinct salts.
	r := bytes.NewReader([]byte{1, 2, 1, 2, 1, 2, 3, 4})
	var salts [2][2]byte
	if err := mppeSalts(r, &salts); err != nil {
		t.Fatal(err)
	}
	if salts[0] == salts[1] || salts[0][0]&0x80 == 0 || salts[1][0]&0x80 == 0 {
		t.Errorf("salts %x", salts)
	}
	if salts != [2][2]byte{{0x81, 2}, {0x83, 4}} {
		t.Errorf("salts %x, want 8102 8304", salts)
	}
}

func TestAddEAPMessageSplits(t *testing.T) {
	for _, n := range []int{4, 253, 254, 1000} {
		eap := make([]byte, n)
		eap[2], eap[3] = byte(n>>8), byte(n)
		p := &radius.Packet{}
		addEAPMessage(p, eap)
		for _, a := range p.Attributes {
			if len(a.Attribute) > 253 {
				t.Errorf("n=%d: attribute of %d bytes", n, len(a.Attribute))
			}
		}
		if want := (n + 252) / 253; len(p.Attributes) != want {
			t.Errorf("n=%d: %d attributes, want %d", n, len(p.Attributes), want)
		}
		got, err := joinEAPMessage(p)
		if err != nil || !bytes.Equal(got, eap) {
			t.Errorf("n=%d: join = %d bytes, %v", n, len(got), err)
		}
	}
}
