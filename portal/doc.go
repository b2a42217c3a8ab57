// Package portal implements Keycard's guest portal: the web page where a
// guest on the hotel's open onboarding network proves a stay (with the
// voucher code, or room number and surname when the hotel allows it) and
// takes home a Wi-Fi profile for the secure network.
//
// It owns two listeners. The HTTPS one serves the enrolment page (one
// page, progressive, working without JavaScript), the single-use profile
// downloads, the RFC 8908 Captive Portal API at /api/captive, and mounts
// the SCEP endpoint (package portal/scep) at /scep. The plain-HTTP one
// answers everything, the operating systems' captive-portal probes
// included, with a redirect to the HTTPS URL, so that a phone joining the
// onboarding network opens the portal by itself.
//
// The portal asks package vouchers for every decision (is this code
// right, is this stay live, is the device cap reached) and package ca for
// PKCS#12 encoding; the profile formats come from portal/profiles. It
// holds no RADIUS state and writes nothing to disk: a key the server makes
// for a device lives in memory until its PKCS#12 is built, and the
// profile bytes live in memory until their one download, or a few
// minutes.
//
// Lifecycle: New checks the configuration; Listen binds both listeners
// (so a busy port fails at start); Serve runs them until Shutdown, which
// finishes requests in flight and forgets every pending download and
// sign-in.
//
// Security: every response carries a strict Content-Security-Policy
// (everything from the portal itself, no inline script), HSTS on HTTPS,
// X-Content-Type-Options, Referrer-Policy no-referrer and Cache-Control
// no-store on everything that is not a static asset; cross-origin form
// posts are refused (net/http.CrossOriginProtection); voucher codes are
// only ever posted, never put in a URL; a client address that keeps
// sending wrong codes is slowed and then blocked before it could lock the
// real guest's voucher; every enrolment is audited by vouchers with the
// client's address.
package portal
