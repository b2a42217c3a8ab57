package eaptls

import (
	"crypto/x509"
	"fmt"
)

// Outcome says where a conversation stands after a Step.
type Outcome int

// Outcomes.
const (
	Continue Outcome = iota // send the returned EAP-Request (Access-Challenge)
	Success                 // send EAP-Success (Access-Accept with the keys)
	Failure                 // send EAP-Failure (Access-Reject)
)

func (o Outcome) String() string {
	switch o {
	case Continue:
		return "continue"
	case Success:
		return "success"
	case Failure:
		return "failure"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Result is the state of a conversation after a Step. MSK, EMSK,
// PeerCertificates, Version and Resumed are set with Success; Err with
// Failure, where PeerCertificates and Version are also set if the handshake
// got that far (for the log line). Rounds counts the EAP round trips so far,
// the Response/Identity included.
type Result struct {
	Outcome          Outcome
	MSK, EMSK        []byte // 64 bytes each; the caller owns them
	PeerCertificates []*x509.Certificate
	Version          uint16 // tls.VersionTLS12 or tls.VersionTLS13
	Resumed          bool
	Err              error
	Rounds           int
}
