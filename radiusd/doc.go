// Package radiusd implements Keycard's RADIUS server: the hotel's access
// points (NAS clients) send Access-Request packets carrying EAP-TLS, and
// radiusd answers Access-Challenge, Access-Accept or Access-Reject; they
// send Accounting-Request packets, and radiusd records them durably before
// it answers; and when a stay ends, radiusd tells them to drop the stay's
// devices (RFC 5176 Disconnect-Request).
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
//   - the stay policy at the end of the TLS handshake (eaptls.Config.Authorize
//     calls the Authorizer on full and resumed handshakes alike, once the
//     device has proven its key);
//   - the Access-Accept attributes (MS-MPPE keys, Session-Timeout, Class,
//     VLAN, bandwidth) and the Access-Reject with its logged, counted reason;
//   - the accounting listener (acct.go, RFC 2866): Request Authenticator
//     checked, Start / Interim-Update / Stop tied to the stay and device
//     by the Class of the Access-Accept (else the User-Name), Gigawords
//     joined, Accounting-On/Off closing a NAS's sessions, and the
//     Accounting-Response sent only once the Accounting store has
//     committed the record (package sessions keeps them; it speaks no
//     RADIUS);
//   - the Dynamic Authorization client (das.go, RFC 5176): Disconnect-
//     Request and CoA-Request with Message-Authenticator and
//     Event-Timestamp, answers verified, retries with backoff; per-NAS
//     profiles (das_profile.go) choose the session identifiers, the ports
//     and how a stay's policy is written into the Access-Accept, with the
//     RFC / hostapd behaviour as the default; package dastest is a DAS
//     responder for tests;
//   - the enforcer (enforce.go): at each check-out (a timer on the next
//     one), on every change the audit log reports (a stay ended or a
//     device revoked by another process) and on an Accounting-Start of a
//     device that should not be online, it disconnects the devices that
//     must go and records the outcome on each session; after an extension
//     it sends CoA with the new Session-Timeout to NAS clients that take
//     CoA;
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
// Config.AuthListen and Config.AcctListen; ListenAndServe serves until its context ends or
// Shutdown is called, reloading the NAS snapshot when another process
// changed the table; Shutdown stops reading, lets in-flight requests
// finish (sending any delayed rejects at once) and closes the sockets.
//
// Every answer carries Message-Authenticator as its first attribute and
// the request's Proxy-State attributes, in order, at the end.
package radiusd
