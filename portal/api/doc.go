// Package api implements Keycard's REST API for the hotel's
// property-management system (PMS), under /api/v1: stays (create at
// check-in with the PMS reservation id, look up by it, extend, end at
// check-out), their devices (list, revoke) and sessions (list, kick).
//
// New returns an http.Handler that serves the full paths (/api/v1/...):
// mount it on the desk's HTTPS listener at "/api/v1/" without
// http.StripPrefix. Every route is in one table (routes); openapi.yaml,
// embedded and served at /api/v1/openapi.yaml, describes exactly those
// routes, and the tests hold the handler to it.
//
// A call carries an API token (package staff) in the Authorization: Bearer
// header, never in the URL: a request with a token-like query parameter is
// refused (400) and logged without the token. Each route needs one scope:
// GET needs read, stay changes stays, device changes devices, a kick
// sessions. Errors are RFC 9457 application/problem+json with a stable
// type URI per kind (see problem.go); no answer carries a secret but the
// one-time voucher code of a stay just created.
//
// Every authenticated call is audited in the vouchers audit log as
// Actor{Name: "api:" + token name, Source: client address}: a change
// through the domain call that makes it (stay.create, stay.extend,
// stay.end, device.revoke; session.kick here), every other call (reads,
// refusals, failures, idempotent replays) as "api.call" with the route as
// subject and the method, path and status as detail. Calls without a
// valid token are logged, not audited, so that a stranger cannot grow the
// audit log.
//
// An Idempotency-Key header on a POST makes a retry safe: the first
// answer is stored (table api_idempotency, this package's migrations) by
// token name and key for 24 hours, and the same key with the same request
// gets it again; with a different request it is a 422 problem. A create's
// voucher code is not stored (codes are shown once and only their hash is
// kept): replaying a create reissues the stay's voucher and answers with
// the new code, the earlier one (which the PMS never got) stops working.
package api
