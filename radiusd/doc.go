// Package radiusd implements Keycard's RADIUS authentication server: the
// hotel's access points (NAS clients) send Access-Request packets carrying
// EAP-TLS, and radiusd answers Access-Challenge, Access-Accept or
// Access-Reject.
//
// It owns:
//
//   - NAS clients (NASStore): name, source network, sealed shared secret,
//     DAS port and the Message-Authenticator requirement, with an in-memory
//     snapshot so that looking a NAS up never touches the database;
//   - the UDP listeners with a bounded pool of workers, and the silent,
//     counted, rate-limit-logged drop of anything that is not a well-formed,
//     authentic request from a known NAS;
//   - Message-Authenticator (RFC 3579, RFC 2869): required on every request
//     unless a NAS opts out, and put first in every response
//     (BlastRADIUS, CVE-2024-3596);
//   - the RFC 5080 reply cache, so a retransmission is answered with the
//     same bytes and never run twice;
//   - EAP dispatch to package eaptls, bounded per device and in total;
//   - the stay policy at the TLS handshake (tls.Config.VerifyConnection calls
//     the Authorizer on full and resumed handshakes alike);
//   - the Access-Accept attributes (MS-MPPE keys, Session-Timeout, Class,
//     VLAN, bandwidth) and the Access-Reject with its logged, counted reason;
//   - Prometheus metrics registered on the registry it is given.
//
// It leaves the hotel rules to package vouchers (through the Authorizer
// interface), the EAP-TLS state machine to package eaptls, certificates to
// package ca, and configuration files and the /metrics HTTP endpoint to the
// keycard command.
//
// Each request passes through small middlewares, in the manner of net/http
// handlers and CoreDNS plugins: NAS lookup, parsing, Message-Authenticator,
// reply cache, then dispatch by packet code.
//
// Lifecycle: New builds a Server from a Config and its Deps; Listen
// (optional, for callers that want Addrs first) opens every address in
// Config.AuthListen; ListenAndServe serves until its context ends or
// Shutdown is called, reloading the NAS snapshot when another process
// changed the table; Shutdown stops reading, lets in-flight requests
// finish (sending any delayed rejects at once) and closes the sockets.
//
// Every answer carries Message-Authenticator as its first attribute and
// the request's Proxy-State attributes, in order, at the end.
package radiusd
