package scep

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
)

// CMS object identifiers (RFC 5652, RFC 3565, RFC 8018).
var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidAES128CBC     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES256CBC     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC    = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidDESCBC        = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 7}
	oidAES128GCM     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 6}
	oidAES256GCM     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}
)

// contentCipher is the symmetric cipher of a CertRep's envelope.
type contentCipher int

const (
	// aes128CBC is what the "AES" capability promises (RFC 8894 3.5.2),
	// and the answer to any request in another cipher.
	aes128CBC contentCipher = iota
	aes256CBC
	// des3CBC answers only a device that used 3DES itself.
	des3CBC
)

func (c contentCipher) String() string {
	switch c {
	case aes256CBC:
		return "AES-256-CBC"
	case des3CBC:
		return "DES-EDE3-CBC"
	default:
		return "AES-128-CBC"
	}
}

func (c contentCipher) oid() asn1.ObjectIdentifier {
	switch c {
	case aes256CBC:
		return oidAES256CBC
	case des3CBC:
		return oidDESEDE3CBC
	default:
		return oidAES128CBC
	}
}

func (c contentCipher) keyLen() int {
	switch c {
	case aes256CBC:
		return 32
	case des3CBC:
		return 24
	default:
		return 16
	}
}

func (c contentCipher) block(key []byte) (cipher.Block, error) {
	if c == des3CBC {
		return des.NewTripleDESCipher(key)
	}
	return aes.NewCipher(key)
}

// answerCipher picks the cipher for the answer to a request whose
// envelope used alg: the same when it is AES-128-CBC, AES-256-CBC or
// 3DES, which the device then surely reads; AES-128-CBC otherwise (single
// DES is not worth answering in kind, and GCM in an EnvelopedData is not
// what SCEP clients read).
func answerCipher(alg asn1.ObjectIdentifier) contentCipher {
	switch {
	case alg.Equal(oidAES256CBC):
		return aes256CBC
	case alg.Equal(oidDESEDE3CBC):
		return des3CBC
	default:
		return aes128CBC
	}
}

// envelopeAlgorithm reads the content-encryption algorithm of an
// EnvelopedData ContentInfo (the request's pkcsPKIEnvelope), in DER or in
// BER with indefinite lengths, which CMS encoders that stream (NSS and its
// descendants) write. It returns nil when b is not one.
func envelopeAlgorithm(b []byte) asn1.ObjectIdentifier {
	// ContentInfo { contentType, [0] EXPLICIT EnvelopedData { version,
	// [0] originatorInfo OPTIONAL, recipientInfos SET,
	// EncryptedContentInfo { contentType, contentEncryptionAlgorithm ...
	c := berCursor{b}
	ci, ok := c.enter(0x30)
	if !ok || !ci.oid().Equal(oidEnvelopedData) {
		return nil
	}
	explicit, ok := ci.enter(0xa0)
	if !ok {
		return nil
	}
	env, ok := explicit.enter(0x30)
	if !ok || !env.skip(0x02) {
		return nil
	}
	if env.peek() == 0xa0 && !env.skip(0xa0) {
		return nil
	}
	if !env.skip(0x31) {
		return nil
	}
	eci, ok := env.enter(0x30)
	if !ok || !eci.skip(0x06) {
		return nil
	}
	alg, ok := eci.enter(0x30)
	if !ok {
		return nil
	}
	return alg.oid()
}

// contentKeyLen is the content-encryption key length of the ciphers
// smallstep/pkcs7 decrypts, 0 for others.
func contentKeyLen(alg asn1.ObjectIdentifier) int {
	switch {
	case alg.Equal(oidAES128CBC), alg.Equal(oidAES128GCM):
		return 16
	case alg.Equal(oidAES256CBC), alg.Equal(oidAES256GCM):
		return 32
	case alg.Equal(oidDESEDE3CBC):
		return 24
	case alg.Equal(oidDESCBC):
		return 8
	default:
		return 0
	}
}

// berCursor walks BER elements: definite lengths (up to 4 length bytes)
// and indefinite ones, with low tag numbers only, which is all a CMS
// envelope's outer layers use.
type berCursor struct{ b []byte }

// maxBERDepth bounds the nesting of indefinite-length elements.
const maxBERDepth = 16

// readBER splits the first element of b into its tag, its contents (for an
// indefinite length, without the end-of-contents octets) and what follows.
func readBER(b []byte, depth int) (tag byte, content, rest []byte, ok bool) {
	if depth > maxBERDepth || len(b) < 2 || b[0]&0x1f == 0x1f {
		return 0, nil, nil, false
	}
	tag, l, b := b[0], b[1], b[2:]
	switch {
	case l < 0x80:
		if int(l) > len(b) {
			return 0, nil, nil, false
		}
		return tag, b[:l], b[l:], true
	case l == 0x80:
		if tag&0x20 == 0 { // only constructed elements may be indefinite
			return 0, nil, nil, false
		}
		for inner := b; ; {
			if len(inner) >= 2 && inner[0] == 0 && inner[1] == 0 {
				n := len(b) - len(inner)
				return tag, b[:n], inner[2:], true
			}
			var ok bool
			if _, _, inner, ok = readBER(inner, depth+1); !ok {
				return 0, nil, nil, false
			}
		}
	default:
		n := int(l & 0x7f)
		if n > 4 || n > len(b) {
			return 0, nil, nil, false
		}
		length := 0
		for _, c := range b[:n] {
			length = length<<8 | int(c)
		}
		b = b[n:]
		if length > len(b) {
			return 0, nil, nil, false
		}
		return tag, b[:length], b[length:], true
	}
}

func (c *berCursor) peek() byte {
	if len(c.b) == 0 {
		return 0
	}
	return c.b[0]
}

// enter reads the next element, which must have tag, and returns a cursor
// on its contents.
func (c *berCursor) enter(tag byte) (berCursor, bool) {
	t, content, rest, ok := readBER(c.b, 0)
	if !ok || t != tag {
		return berCursor{}, false
	}
	c.b = rest
	return berCursor{content}, true
}

// skip reads past the next element, which must have tag.
func (c *berCursor) skip(tag byte) bool {
	_, ok := c.enter(tag)
	return ok
}

// oid reads the next element as an OBJECT IDENTIFIER (nil if it is not).
func (c *berCursor) oid() asn1.ObjectIdentifier {
	inner, ok := c.enter(0x06)
	if !ok || len(inner.b) == 0 || len(inner.b) > 127 {
		return nil
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(append([]byte{0x06, byte(len(inner.b))}, inner.b...), &oid); err != nil {
		return nil
	}
	return oid
}

// implicitRejection decrypts the content key of an envelope so that a bad
// RSA PKCS#1 v1.5 padding cannot be told from a good one (Bleichenbacher's
// attack): it yields a random key of the expected length instead of an
// error (rsa.DecryptPKCS1v15SessionKey), and the content then fails to
// decrypt like any other wrong key. Every decryption failure gives the
// device the same answer.
type implicitRejection struct {
	raKey
	keyLen int
}

func (d implicitRejection) Decrypt(r io.Reader, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	// SCEP clients wrap the content key with rsaEncryption (PKCS #1 v1.5);
	// this is its decryption without an oracle.
	//lint:ignore SA1019 see above
	if o, ok := opts.(*rsa.PKCS1v15DecryptOptions); ok && o.SessionKeyLen == 0 {
		//lint:ignore SA1019 see above
		opts = &rsa.PKCS1v15DecryptOptions{SessionKeyLen: d.keyLen}
	}
	return d.raKey.Decrypt(r, ciphertext, opts)
}

// The EnvelopedData of RFC 5652 with one key-transport recipient, as SCEP
// uses it (version 0, issuerAndSerialNumber).
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,optional,tag:0"`
}

type envelopedData struct {
	Version              int
	RecipientInfos       []keyTransRecipient `asn1:"set"`
	EncryptedContentInfo encryptedContentInfo
}

type keyTransRecipient struct {
	Version                int
	IssuerAndSerialNumber  issuerAndSerial
	KeyEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedKey           []byte
}

type issuerAndSerial struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

type encryptedContentInfo struct {
	ContentType                asn1.ObjectIdentifier
	ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedContent           asn1.RawValue `asn1:"optional"`
}

// envelope encrypts content for the holder of to's RSA key: a fresh
// content key and IV from rnd, content in c with PKCS#7 padding, and the
// key wrapped with RSA PKCS#1 v1.5 (the key transport every SCEP client
// reads). It returns a DER ContentInfo of type envelopedData.
func envelope(rnd io.Reader, content []byte, to *x509.Certificate, c contentCipher) ([]byte, error) {
	pub, ok := to.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("scep: cannot encrypt to a %T key; SCEP key transport needs RSA", to.PublicKey)
	}
	key := make([]byte, c.keyLen())
	if _, err := io.ReadFull(rnd, key); err != nil {
		return nil, fmt.Errorf("scep: content key: %w", err)
	}
	block, err := c.block(key)
	if err != nil {
		return nil, fmt.Errorf("scep: %s: %w", c, err)
	}
	iv := make([]byte, block.BlockSize())
	if _, err := io.ReadFull(rnd, iv); err != nil {
		return nil, fmt.Errorf("scep: IV: %w", err)
	}
	pad := block.BlockSize() - len(content)%block.BlockSize()
	plain := append(append(make([]byte, 0, len(content)+pad), content...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	sealed := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(sealed, plain)

	// RSAES-PKCS1-v1_5 (rsaEncryption) is the key transport SCEP clients
	// implement (RFC 8894 section 3.1 names it; OAEP support is not to be
	// counted on). Its danger is a decryption oracle, which the device is
	// not: it decrypts one answer from the server it just asked.
	//lint:ignore SA1019 SCEP's key transport; see above.
	wrapped, err := rsa.EncryptPKCS1v15(rnd, pub, key)
	if err != nil {
		return nil, fmt.Errorf("scep: wrapping the content key: %w", err)
	}
	ivParam, err := asn1.Marshal(iv)
	if err != nil {
		return nil, fmt.Errorf("scep: %w", err)
	}
	inner, err := asn1.Marshal(envelopedData{
		Version: 0,
		RecipientInfos: []keyTransRecipient{{
			Version:                0,
			IssuerAndSerialNumber:  issuerAndSerial{Issuer: asn1.RawValue{FullBytes: to.RawIssuer}, SerialNumber: to.SerialNumber},
			KeyEncryptionAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue},
			EncryptedKey:           wrapped,
		}},
		EncryptedContentInfo: encryptedContentInfo{
			ContentType:                oidData,
			ContentEncryptionAlgorithm: pkix.AlgorithmIdentifier{Algorithm: c.oid(), Parameters: asn1.RawValue{FullBytes: ivParam}},
			// [0] IMPLICIT OCTET STRING
			EncryptedContent: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: sealed},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("scep: %w", err)
	}
	out, err := asn1.Marshal(contentInfo{
		ContentType: oidEnvelopedData,
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner},
	})
	if err != nil {
		return nil, fmt.Errorf("scep: %w", err)
	}
	return out, nil
}
