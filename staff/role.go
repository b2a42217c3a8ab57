package staff

import (
	"slices"
	"strings"
)

// Role is what a member of staff may do.
type Role string

// The roles.
const (
	// RoleFrontDesk runs stays: create, extend, end; devices, live
	// sessions and vouchers.
	RoleFrontDesk Role = "front_desk"
	// RoleAdmin does all the front desk does and also manages NAS clients,
	// staff accounts, API tokens, policies and reads the audit log.
	RoleAdmin Role = "admin"
)

// Roles lists the roles, least privileged first.
func Roles() []Role { return []Role{RoleFrontDesk, RoleAdmin} }

// ParseRole reads a role name ("front_desk" or "admin"; "front-desk" is
// accepted too).
func ParseRole(s string) (Role, error) {
	r := Role(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_"))
	if !slices.Contains(Roles(), r) {
		return "", invalidf("unknown role %q; use front_desk or admin", s)
	}
	return r, nil
}

// Permission is one thing a page or API call needs.
type Permission string

// The permissions. Each front-desk page and admin page needs one.
const (
	PermStays    Permission = "stays"    // search, create, extend, end stays
	PermDevices  Permission = "devices"  // see and revoke a stay's devices
	PermSessions Permission = "sessions" // see live sessions, disconnect one
	PermVouchers Permission = "vouchers" // print and reissue voucher codes
	PermNAS      Permission = "nas"      // NAS clients (access points)
	PermStaff    Permission = "staff"    // staff accounts: add, disable, reset
	PermTokens   Permission = "tokens"   // the PMS's API tokens
	PermPolicies Permission = "policies" // network policies
	PermAudit    Permission = "audit"    // read the audit log
)

var frontDesk = []Permission{PermStays, PermDevices, PermSessions, PermVouchers}

var adminOnly = []Permission{PermNAS, PermStaff, PermTokens, PermPolicies, PermAudit}

// Allowed reports whether role may do what p names. An unknown role or
// permission is never allowed.
func Allowed(role Role, p Permission) bool {
	switch role {
	case RoleFrontDesk:
		return slices.Contains(frontDesk, p)
	case RoleAdmin:
		return slices.Contains(frontDesk, p) || slices.Contains(adminOnly, p)
	}
	return false
}

// Permissions lists what role may do.
func Permissions(role Role) []Permission {
	var out []Permission
	for _, p := range append(slices.Clone(frontDesk), adminOnly...) {
		if Allowed(role, p) {
			out = append(out, p)
		}
	}
	return out
}

// Scope is what an API token may do. Scopes do not imply one another: a PMS
// that looks stays up and creates them needs read and stays.
type Scope string

// The API token scopes.
const (
	ScopeRead     Scope = "read"     // GET stays, devices, sessions
	ScopeStays    Scope = "stays"    // create, extend, end stays
	ScopeDevices  Scope = "devices"  // revoke devices
	ScopeSessions Scope = "sessions" // disconnect sessions
)

// Scopes lists every scope.
func Scopes() []Scope { return []Scope{ScopeRead, ScopeStays, ScopeDevices, ScopeSessions} }

// ParseScope reads a scope name.
func ParseScope(s string) (Scope, error) {
	sc := Scope(strings.ToLower(strings.TrimSpace(s)))
	if !slices.Contains(Scopes(), sc) {
		return "", invalidf("unknown scope %q; use %s", s, scopeList(Scopes()))
	}
	return sc, nil
}

func scopeList(ss []Scope) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
