package eaptls

import "crypto/tls"

// Defaults for the zero values of Config.
const (
	DefaultFragmentSize = 1000
	DefaultMaxRounds    = 50
	minFragmentSize     = 64 // floor when a small Framed-MTU shrinks fragments
)

// Config is shared by the sessions of one server; it must not be modified
// while sessions use it.
type Config struct {
	// TLS is the server's TLS configuration: certificate, ClientAuth,
	// ClientCAs, versions, curves, session tickets.
	TLS *tls.Config
	// Authorize, when set, is the caller's policy. It runs once the TLS
	// handshake has succeeded, so the peer has proven it holds its
	// certificate's key (CertificateVerify, or the PSK binder and Finished
	// on resumption), and before the server's final flight goes out. An
	// error fails the session with an EAP-Failure in place of that flight,
	// while the peer's handshake is still incomplete (TLS 1.2: no server
	// Finished yet; TLS 1.3: no commitment message), so the peer takes the
	// failure. (On TLS 1.2 resumption the server's Finished went first; the
	// failure still stands, the peer may just notice later.) Unlike
	// tls.Config.VerifyConnection, which crypto/tls calls before
	// CertificateVerify, it never runs for a peer that lacks the key.
	Authorize func(tls.ConnectionState) error
	// FragmentSize is the most TLS bytes sent in one EAP-TLS request; a
	// smaller Framed-MTU lowers it. 0 means DefaultFragmentSize.
	FragmentSize int
	// MaxMessageSize caps a reassembled TLS message from the peer. 0 means
	// DefaultMaxMessageSize.
	MaxMessageSize int
	// MaxRounds caps the EAP round trips of one conversation, the
	// Response/Identity included. 0 means DefaultMaxRounds.
	MaxRounds int
	// Budget, when set, bounds the memory that the reassembly buffers of
	// all sessions sharing it hold together (MaxMessageSize bounds one
	// session). A fragment that would exceed it fails its session with
	// ErrBudgetExhausted, so a flood of conversations cannot make memory
	// grow without bound. nil means no shared bound.
	Budget *Budget
}

// fragmentSize is the TLS data per packet for a given Framed-MTU (0 =
// unknown): min(FragmentSize, framedMTU − overhead), no smaller than 64
// bytes unless FragmentSize itself is.
func (c *Config) fragmentSize(framedMTU int) int {
	size := c.FragmentSize
	if size <= 0 {
		size = DefaultFragmentSize
	}
	size = min(size, maxPacketLen-tlsOverhead)
	if framedMTU > 0 {
		if m := max(framedMTU-tlsOverhead, minFragmentSize); m < size {
			size = m
		}
	}
	return size
}

func (c *Config) maxMessageSize() int {
	if c.MaxMessageSize > 0 {
		return c.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

func (c *Config) maxRounds() int {
	if c.MaxRounds > 0 {
		return c.MaxRounds
	}
	return DefaultMaxRounds
}
