// Package loadgen implements Keycard's EAP-TLS load generator: it plays both
// the access point (a RADIUS NAS) and the guest device (an EAP-TLS
// supplicant) against a RADIUS server over UDP, so Keycard and FreeRADIUS can
// be measured under the same load with the same certificates.
//
// Each worker owns one UDP socket, one Calling-Station-Id and, with
// Options.Resume, one TLS session cache, and runs authentications one after
// another:
//
//	Access-Request(EAP-Response/Identity)
//	  -> Access-Challenge(EAP-Request/TLS Start)
//	Access-Request(EAP-Response/TLS ClientHello) ... rounds ...
//	  -> Access-Accept(EAP-Success, MS-MPPE-Recv-Key, MS-MPPE-Send-Key)
//
// Every Access-Request carries Message-Authenticator (first) and the State
// of the previous challenge; lost packets are retransmitted unchanged a
// bounded number of times. Every answer is checked the way a careful access
// point would: the Response Authenticator, a Message-Authenticator that is
// present, first in the packet (BlastRADIUS, CVE-2024-3596) and valid, and on
// Access-Accept the RFC 2548 MS-MPPE keys, which must equal the MSK the
// supplicant derived itself (Recv = MSK[0:32], Send = MSK[32:64]). Anything
// else is a failure, counted by Cause.
//
// Run is bounded: it stops after Options.Count authentications or
// Options.Duration, whichever comes first, and by default talks only to a
// loopback address. The supplicant is eaptls/eaptlstest.Peer; this package
// holds no EAP codec of its own.
//
// Accounting is the RFC 2866 counterpart: AcctOptions.Sockets simulated
// access points on the accounting port, each running sessions one after
// another (Accounting-Request Start, Interim-Update, Stop, with a unique
// Acct-Session-Id and cumulative counters that pass 4 GiB with
// Acct-*-Gigawords in every fourth session). Each record waits for its
// Accounting-Response, whose Identifier and Response Authenticator
// (MD5(Code+Identifier+Length+Request Authenticator+Attributes+Secret)) are
// checked, and its Message-Authenticator when it has one (computed, as
// FreeRADIUS does, with the Authenticator field zeroed); a record is
// retransmitted byte for byte on timeout, and an ICMP port unreachable
// counts as no answer, as at a NAS whose server is restarting.
// AcctOptions.OnAck sees every acknowledged record, so a test can check
// that the server kept what it acknowledged (a kill -9 test, bench/run.sh's
// lost column); AcctReport counts the rest by Cause.
package loadgen
