package handshake

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// Exporter labels and contexts (RFC 5216 section 2.3, RFC 9190 section 2.3).
const (
	labelTLS12 = "client EAP encryption"
	labelTLS13 = "EXPORTER_EAP_TLS_Key_Material"
	typeTLS    = 0x0D // EAP Type-Code of EAP-TLS, the TLS 1.3 exporter context
	keyLen     = 128  // MSK (64) followed by EMSK (64)
)

// ErrNoExtendedMasterSecret: a TLS 1.2 peer did not negotiate Extended
// Master Secret, without which Go will not export keying material.
var ErrNoExtendedMasterSecret = errors.New("peer did not negotiate TLS Extended Master Secret (RFC 7627), which TLS 1.2 EAP key export needs")

// Keys exports the 128 bytes of EAP-TLS key material (MSK then EMSK) from a
// completed handshake.
func Keys(st tls.ConnectionState) ([]byte, error) {
	var (
		k   []byte
		err error
	)
	if st.Version == tls.VersionTLS13 {
		k, err = st.ExportKeyingMaterial(labelTLS13, []byte{typeTLS}, keyLen)
	} else {
		k, err = st.ExportKeyingMaterial(labelTLS12, nil, keyLen)
		if err != nil {
			// Go's only reason to refuse after a completed TLS 1.2
			// handshake (renegotiation is never enabled here).
			return nil, fmt.Errorf("%w: %v", ErrNoExtendedMasterSecret, err)
		}
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}
