package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestRoutesMatchDocument: every route in the table is documented, every
// documented operation is a route, and each declares its scope.
func TestRoutesMatchDocument(t *testing.T) {
	doc, _ := loadDoc(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented = append(documented, method+" "+path)
			i := slices.IndexFunc(routes, func(rt route) bool { return rt.Method == method && rt.Path == path })
			if i < 0 {
				t.Errorf("openapi.yaml documents %s %s, which the handler does not serve", method, path)
				continue
			}
			public := op.Security != nil && len(*op.Security) == 0
			if public != (routes[i].Scope == "") {
				t.Errorf("%s %s: public in openapi.yaml = %v, in the route table = %v", method, path, public, routes[i].Scope == "")
			}
			if routes[i].Scope != "" && !strings.Contains(op.Summary, "(scope "+string(routes[i].Scope)+")") {
				t.Errorf("%s %s: summary %q does not name scope %s", method, path, op.Summary, routes[i].Scope)
			}
			for _, code := range []string{"400", "500"} {
				if op.Responses.Value(code) == nil && routes[i].Scope != "" {
					t.Errorf("%s %s: no %s response documented", method, path, code)
				}
			}
			if routes[i].Scope != "" && (op.Responses.Value("401") == nil || op.Responses.Value("403") == nil) {
				t.Errorf("%s %s: 401 and 403 must be documented", method, path)
			}
		}
	}
	for _, r := range Routes() {
		if !slices.Contains(documented, r) {
			t.Errorf("the handler serves %s, which openapi.yaml does not document", r)
		}
	}
	// Every problem type is in the document's enum, and no other.
	var kinds []string
	for _, k := range problemKinds {
		kinds = append(kinds, ProblemTypePrefix+k.name)
	}
	var enum []string
	for _, v := range doc.Components.Schemas["Problem"].Value.Properties["type"].Value.Enum {
		enum = append(enum, fmt.Sprint(v))
	}
	slices.Sort(kinds)
	slices.Sort(enum)
	if !slices.Equal(kinds, enum) {
		t.Errorf("problem types:\n code %v\n doc  %v", kinds, enum)
	}
}

// TestNoUndocumentedRoute: paths and methods outside the table answer 404
// or 405 problems, whatever the token.
func TestNoUndocumentedRoute(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		method, path string
		status       int
		kind         string
	}{
		{"GET", "/api/v1/", 404, "not-found"},
		{"GET", "/api/v1/stays/1/vouchers", 404, "not-found"},
		{"GET", "/api/v1/nas", 404, "not-found"},
		{"GET", "/api/v1/staff", 404, "not-found"},
		{"GET", "/api/v1/audit", 404, "not-found"},
		{"GET", "/api/v2/stays", 404, "not-found"},
		{"DELETE", "/api/v1/stays/1", 405, "method-not-allowed"},
		{"PUT", "/api/v1/stays", 405, "method-not-allowed"},
		{"GET", "/api/v1/stays/1/end", 405, "method-not-allowed"},
		{"GET", "/api/v1/sessions/1/kick", 405, "method-not-allowed"},
	} {
		for _, tok := range []string{"", "pms"} {
			ex := f.do(t, req{method: c.method, path: c.path, token: tok})
			ex.problem(t, c.status, c.kind)
			if c.status == http.StatusMethodNotAllowed && ex.header.Get("Allow") == "" {
				t.Fatalf("%s %s: 405 without Allow", c.method, c.path)
			}
		}
	}
}
