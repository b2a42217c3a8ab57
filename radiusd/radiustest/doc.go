// Package radiustest provides fakes and helpers for tests of radiusd and
// of what is built on it: a NAS-side client that signs its requests with
// Message-Authenticator, a fake Authorizer and Auditor, a static NAS list,
// and a throwaway PKI.
package radiustest
