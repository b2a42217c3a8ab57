// Package httpsec is the HTTP middleware Keycard's two web listeners share,
// the guest portal (package portal) and the staff desk (package
// portal/desk): the security headers and the strict Content-Security-Policy
// every response carries, the refusal of cross-origin form posts
// (net/http.CrossOriginProtection), and the client address a request came
// from, for the audit log and the rate limits.
//
// It holds no state and knows nothing of guests, staff or stays: each
// listener decides what to say when a request is refused.
package httpsec
