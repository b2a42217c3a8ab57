package loadgen

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"

	"layeh.com/radius"
)

// Microsoft vendor attributes (RFC 2548).
const (
	vendorMicrosoft   = 311
	msMPPESendKey     = 16
	msMPPERecvKey     = 17
	mppeSaltLen       = 2
	mppeBlockLen      = md5.Size
	mppeKeyLenInPlain = 1
)

var errMPPEMalformed = errors.New("loadgen: malformed MS-MPPE key attribute")

// decryptMPPEKey recovers the key from the value of an MS-MPPE-Send-Key or
// MS-MPPE-Recv-Key attribute (RFC 2548 section 2.4.2): a 2-byte salt with its
// high bit set, then the key length octet, the key and padding, encrypted
// 16 bytes at a time with b(1) = MD5(secret + Request-Authenticator + salt),
// b(i) = MD5(secret + c(i-1)).
func decryptMPPEKey(value, secret []byte, reqAuth [16]byte) ([]byte, error) {
	if len(value) < mppeSaltLen+mppeBlockLen || (len(value)-mppeSaltLen)%mppeBlockLen != 0 {
		return nil, fmt.Errorf("%w: %d bytes", errMPPEMalformed, len(value))
	}
	salt, cipher := value[:mppeSaltLen], value[mppeSaltLen:]
	if salt[0]&0x80 == 0 {
		return nil, fmt.Errorf("%w: salt's high bit is clear", errMPPEMalformed)
	}
	plain := make([]byte, len(cipher))
	prev := append(append([]byte(nil), reqAuth[:]...), salt...)
	for i := 0; i < len(cipher); i += mppeBlockLen {
		h := md5.New()
		h.Write(secret)
		h.Write(prev)
		b := h.Sum(nil)
		for j := range mppeBlockLen {
			plain[i+j] = cipher[i+j] ^ b[j]
		}
		prev = cipher[i : i+mppeBlockLen]
	}
	n := int(plain[0])
	if n > len(plain)-mppeKeyLenInPlain {
		return nil, fmt.Errorf("%w: key length %d exceeds %d decrypted bytes", errMPPEMalformed, n, len(plain)-1)
	}
	return plain[1 : 1+n], nil
}

// mppeKeys returns the raw (still encrypted) values of the MS-MPPE-Recv-Key
// and MS-MPPE-Send-Key vendor attributes. ok is false unless each appears
// exactly once.
func mppeKeys(attrs radius.Attributes) (recv, send []byte, ok bool) {
	var nRecv, nSend int
	for _, a := range attrs {
		if a.Type != attrVendorSpecific {
			continue
		}
		v := []byte(a.Attribute)
		if len(v) < 4 || binary.BigEndian.Uint32(v) != vendorMicrosoft {
			continue
		}
		for v = v[4:]; len(v) >= 2; {
			t, l := v[0], int(v[1])
			if l < 2 || l > len(v) {
				break
			}
			switch t {
			case msMPPERecvKey:
				recv, nRecv = v[2:l], nRecv+1
			case msMPPESendKey:
				send, nSend = v[2:l], nSend+1
			}
			v = v[l:]
		}
	}
	return recv, send, nRecv == 1 && nSend == 1
}
