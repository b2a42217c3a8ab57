package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"keycard/sessions"
	"keycard/vouchers"
)

// ProblemTypePrefix begins every problem type URI; the kind follows
// ("urn:keycard:problem:not-found"). The URIs are stable: a PMS may
// branch on them.
const ProblemTypePrefix = "urn:keycard:problem:"

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// problemKind is one kind of error the API answers: its type URI suffix,
// status and title. One value per kind, all of them in problemKinds.
type problemKind struct {
	name   string
	status int
	title  string
}

var (
	kindBadRequest   = problemKind{"bad-request", http.StatusBadRequest, "The request is malformed"}
	kindTokenInURL   = problemKind{"token-in-url", http.StatusBadRequest, "API tokens must not be sent in the URL"}
	kindUnauthorized = problemKind{"unauthorized", http.StatusUnauthorized, "A valid API token is required"}
	kindForbidden    = problemKind{"forbidden", http.StatusForbidden, "The API token lacks the scope this call needs"}
	kindNotFound     = problemKind{"not-found", http.StatusNotFound, "Not found"}
	kindMethod       = problemKind{"method-not-allowed", http.StatusMethodNotAllowed, "Method not allowed"}
	kindConflict     = problemKind{"conflict", http.StatusConflict, "The request conflicts with the current state"}
	kindInProgress   = problemKind{"idempotency-in-progress", http.StatusConflict, "A request with this Idempotency-Key is still being served"}
	kindTooLarge     = problemKind{"too-large", http.StatusRequestEntityTooLarge, "The request body is too large"}
	kindMediaType    = problemKind{"unsupported-media-type", http.StatusUnsupportedMediaType, "Send application/json"}
	kindInvalid      = problemKind{"invalid", http.StatusUnprocessableEntity, "The request is not valid"}
	kindKeyReused    = problemKind{"idempotency-key-reused", http.StatusUnprocessableEntity, "The Idempotency-Key was used for a different request"}
	kindInternal     = problemKind{"internal", http.StatusInternalServerError, "Internal error"}
	kindNASFailed    = problemKind{"nas-unreachable", http.StatusBadGateway, "The access point did not confirm the disconnect"}
)

// problemKinds lists every kind (openapi.yaml enumerates the same types).
var problemKinds = []problemKind{
	kindBadRequest, kindTokenInURL, kindUnauthorized, kindForbidden, kindNotFound, kindMethod,
	kindConflict, kindInProgress, kindTooLarge, kindMediaType, kindInvalid, kindKeyReused,
	kindInternal, kindNASFailed,
}

// apiError is an error answered as a problem. detail is shown to the
// caller: it must never hold a secret.
type apiError struct {
	kind   problemKind
	detail string
}

func (e *apiError) Error() string { return "api: " + e.kind.name + ": " + e.detail }

func fail(kind problemKind, format string, args ...any) error {
	return &apiError{kind: kind, detail: fmt.Sprintf(format, args...)}
}

func (k problemKind) problem(detail string) Problem {
	return Problem{Type: ProblemTypePrefix + k.name, Title: k.title, Status: k.status, Detail: detail}
}

// problemFor maps an error from a handler or the domain to a problem. An
// error it does not know is internal: its text is logged, not shown.
func problemFor(err error) (Problem, bool) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.kind.problem(ae.detail), true
	case errors.Is(err, vouchers.ErrUnknownStay), errors.Is(err, vouchers.ErrUnknownDevice), errors.Is(err, sessions.ErrUnknownSession):
		return kindNotFound.problem(userText(err)), true
	case errors.Is(err, vouchers.ErrStayEnded), errors.Is(err, vouchers.ErrDuplicateExternalID):
		return kindConflict.problem(userText(err)), true
	case errors.Is(err, vouchers.ErrInvalid):
		return kindInvalid.problem(userText(err)), true
	}
	return kindInternal.problem("the server could not complete the request; it is logged"), false
}

// userText is a domain error's message without its package prefixes.
func userText(err error) string {
	s := err.Error()
	for _, p := range []string{"vouchers: ", "sessions: ", "staff: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}

// writeProblem answers p as application/problem+json.
func writeProblem(w http.ResponseWriter, p Problem) {
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	w.Write(append(b, '\n'))
}
