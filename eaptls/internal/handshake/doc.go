// Package handshake drives a crypto/tls handshake one EAP-TLS flight at a
// time, for the eaptls server and the eaptlstest peer.
//
// crypto/tls wants a net.Conn and a goroutine blocked in Handshake; EAP wants
// "here is the peer's message, what do you send back". A Pipe bridges the
// two: it runs the handshake in a goroutine over an in-memory conn whose
// Read hands back control when nothing is left to read. Because crypto/tls
// flushes its whole flight before it reads the peer's next one, a Read with
// an empty input buffer marks the end of the flight: everything written
// since the previous such Read is that flight.
//
// The goroutine and the caller take turns through unbuffered channels, so
// at any moment exactly one of them touches the buffers.
package handshake
