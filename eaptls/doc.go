// Package eaptls implements the EAP packet codec and the EAP-TLS server
// (RFC 5216 for TLS 1.2, RFC 9190 for TLS 1.3) that Keycard runs inside
// RADIUS.
//
// It owns the EAP wire format ([Packet]), the EAP-TLS payload with its
// L/M/S flags ([TLSPayload]), fragmentation and reassembly ([Fragmenter],
// [Reassembler], usable in both directions), driving crypto/tls over an
// in-memory connection, and key derivation (MSK and EMSK). It leaves RADIUS
// (attributes, retransmissions, the reply cache), the database and the
// policy decision to its callers: the peer certificate is checked by the
// caller's tls.Config (ClientCAs, VerifyConnection), which runs on full and
// resumed handshakes alike.
//
// # Lifecycle of a Session
//
// A [Session] is one EAP conversation, created with [NewSession] when a
// RADIUS Access-Request carries an EAP-Response/Identity, or an EAP-Start
// (an empty EAP-Message, RFC 3579 section 2.1: the NAS asks the server to
// start). Each [Session.Step] takes the peer's EAP packet and returns the
// packet to send back:
//
//  0. EAP-Start (an empty packet): an EAP-Request/Identity is sent, and
//     the Response/Identity must answer its Identifier.
//  1. Response/Identity: the identity is recorded and an EAP-TLS Start is
//     sent. The session holds no TLS state yet, so a half-open
//     conversation costs a few hundred bytes and no goroutine.
//  2. Response/TLS fragments are acknowledged with empty EAP-TLS requests
//     until a complete TLS message has arrived. The first complete message
//     (the ClientHello) starts a goroutine running tls.Server.Handshake
//     over an in-memory conn.
//  3. Each complete message is handed to TLS; everything TLS writes until
//     it reads again (the end of its flight) is sent back in fragments of
//     at most min(FragmentSize, Framed-MTU − 10) bytes, each acknowledged
//     by the peer.
//  4. When the handshake is done the keys are exported (MSK, EMSK), TLS
//     1.3 adds its one-byte commitment message, and the final flight is
//     sent; the peer's acknowledgement yields EAP-Success and a [Result]
//     with Outcome [Success].
//  5. Any error (a malformed packet, a Nak, a cap exceeded, the shared
//     reassembly [Budget] exhausted, a TLS alert, a certificate refused by
//     VerifyConnection) yields EAP-Failure and a
//     Result with Outcome [Failure] and Err set. When TLS produced an alert,
//     the alert is sent first and the Failure follows its acknowledgement.
//
// A Response whose Identifier is not that of the outstanding Request is a
// duplicate: the outstanding Request is returned again. [Session.Close]
// stops the TLS goroutine and frees the session; call it when the
// conversation ends or is abandoned.
package eaptls
