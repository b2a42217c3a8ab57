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
package loadgen
