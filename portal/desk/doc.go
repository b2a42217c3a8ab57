// Package desk is Keycard's front-desk web app: the pages the hotel's
// staff use to run stays without a shell, on a listener of its own
// (config desk.listen, HTTPS only, TLS 1.2+), apart from the guest portal.
//
// It owns the HTTP side of a staff login: the password page, the TOTP
// page, the first-login set-up of the authenticator app (a QR code of the
// otpauth URL, rendered here as SVG, with the secret for typing in), the
// recovery codes shown once, the forced password change, and the session
// cookie (__Host-, Secure, HttpOnly, SameSite=Strict). Accounts, password
// and code checks, lockout, the session itself (its id stored hashed, idle
// and absolute timeouts) belong to package staff; every stay, voucher and
// device change goes through package vouchers, audited as
// Actor{Name: "staff:<name>", Source: client address}; live sessions and
// usage come from package sessions.
//
// Pages: the stays (search by room or guest name, checking out today),
// a new stay and its printable voucher card (portal URL, code, and a QR
// code of the portal URL: nothing secret in it, the guest types the code),
// a stay's devices, live sessions and usage with extend, end, reissue and
// revoke (each behind a confirmation page), every member of staff's own
// account page (change the password, move the TOTP to a new authenticator
// app, new recovery codes: each asks for the current TOTP code, and a new
// secret or new codes are shown once, on the answer to the post that made
// them), and for admins the staff accounts and the audit log. Every page is html/template (every value
// escaped), served under a strict Content-Security-Policy with no inline
// script or style and no asset from another host (package httpsec), and
// usable with the keyboard alone. Cross-origin posts are refused.
//
// The REST API for the hotel's PMS (package portal/api) is mounted at
// /api/v1 when Deps.API is set; it authenticates with bearer tokens, not
// the desk's cookie.
//
// Lifecycle: New checks the configuration, Listen binds the port (so a
// port in use fails at start), Serve serves until Shutdown, which lets
// requests in flight finish.
package desk
