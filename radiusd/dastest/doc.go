// Package dastest provides a Dynamic Authorization Server (RFC 5176) for
// tests: a UDP responder on loopback that plays the access point's side of
// Disconnect-Request and CoA-Request.
//
// It checks each request the way hostapd's DAS does with
// radius_das_require_message_authenticator=1 — the Request Authenticator
// MD5(Code+Identifier+Length+16 zero octets+Attributes+Secret) over the
// packet as sent, then the Message-Authenticator HMAC-MD5 with the
// Authenticator field and its own value zeroed — with its own code, not
// radiusd's, so a mistake in radiusd cannot hide behind the same mistake
// here. Requests that pass are recorded and answered with what the test's
// answer function says, signed as hostapd signs them (Message-Authenticator
// over the answer with the Request Authenticator, then the Response
// Authenticator); requests that fail are counted and dropped.
//
// It does not import radiusd, so radiusd's own tests can use it.
package dastest
