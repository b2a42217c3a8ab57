package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"
)

// ErrOpen means a sealed value could not be opened: the passphrase is not the
// one it was sealed with, or the value was changed.
var ErrOpen = errors.New("secretbox: cannot open sealed secret (wrong passphrase or damaged value)")

// SaltSize is the length of the salt file.
const SaltSize = 16

// A Box seals and opens secrets. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
	rand io.Reader
}

// New derives the key from passphrase and salt.
func New(passphrase, salt []byte) (*Box, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("secretbox: empty passphrase")
	}
	if len(salt) < SaltSize {
		return nil, fmt.Errorf("secretbox: salt must be at least %d bytes", SaltSize)
	}
	key := argon2.IDKey(passphrase, salt, 2, 64*1024, 2, 32)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead, rand: rand.Reader}, nil
}

// Seal encrypts secret bound to context and returns printable text.
func (b *Box) Seal(context string, secret []byte) (string, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := io.ReadFull(b.rand, nonce); err != nil {
		return "", fmt.Errorf("secretbox: %w", err)
	}
	out := b.aead.Seal(nonce, nonce, secret, []byte(context))
	return "v1:" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with the same context.
func (b *Box) Open(context, sealed string) ([]byte, error) {
	if len(sealed) < 3 || sealed[:3] != "v1:" {
		return nil, ErrOpen
	}
	raw, err := base64.RawStdEncoding.DecodeString(sealed[3:])
	if err != nil || len(raw) < b.aead.NonceSize() {
		return nil, ErrOpen
	}
	n := b.aead.NonceSize()
	out, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
