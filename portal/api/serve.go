package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"

	"keycard/staff"
	"keycard/vouchers"
)

// call is one request on its way through a route.
type call struct {
	r     *http.Request
	route route
	token staff.Token
	by    vouchers.Actor
	body  []byte // a POST's body, read whole
}

// reply is a handler's answer: a status and a JSON body.
type reply struct {
	status   int
	body     []byte
	ctype    string // default application/json
	location string
	// stored, when set, is what the idempotency table keeps instead of
	// body (a create's answer without its voucher code).
	stored []byte
}

func jsonReply(status int, v any) (*reply, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("api: encode answer: %w", err)
	}
	return &reply{status: status, body: append(b, '\n')}, nil
}

// tokenParams are query parameters that carry tokens in other APIs.
var tokenParams = []string{"token", "access_token", "api_key", "apikey", "api-key", "bearer", "auth", "authorization", "key"}

// refuseTokenInURL answers 400 when the query looks like it carries a
// token, and logs it without the token. Tokens in URLs end up in proxy
// logs, browser history and Referer headers.
func refuseTokenInURL(log *slog.Logger, w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	param := ""
	for name, vals := range q {
		lower := strings.ToLower(name)
		for _, p := range tokenParams {
			if lower == p {
				param = name
			}
		}
		for _, v := range vals {
			if strings.Contains(v, staff.TokenPrefix) {
				param = name
			}
		}
		if strings.Contains(name, staff.TokenPrefix) {
			param = "(a parameter name)"
		}
	}
	if param == "" && !strings.Contains(r.URL.RawQuery, staff.TokenPrefix) {
		return false
	}
	if param == "" {
		param = "(the query)"
	}
	log.Warn("api: refused a token in the URL", "method", r.Method, "path", r.URL.Path, "param", param, "client", clientAddr(r))
	writeProblem(w, kindTokenInURL.problem(fmt.Sprintf("query parameter %q looks like a credential; send the token only in the Authorization: Bearer header, and revoke this one: it may be in logs now", param)))
	return true
}

// clientAddr is the caller's address as the listener saw it (no proxy
// header is trusted).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// bearer returns the token text of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// serve runs one route: token in URL, authentication, scope, body,
// idempotency, the handler, the audit row, the answer.
func (h *handler) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuseTokenInURL(h.log, w, r) {
			return
		}
		c := &call{r: r, route: rt}
		if rt.Scope == "" {
			rep, replayed, err := h.run(c)
			h.finish(w, c, rep, replayed, err)
			return
		}
		text, ok := bearer(r)
		if !ok {
			h.log.Info("api: call without a token", "method", r.Method, "path", r.URL.Path, "client", clientAddr(r))
			w.Header().Set("WWW-Authenticate", `Bearer realm="keycard"`)
			writeProblem(w, kindUnauthorized.problem("send an API token in the Authorization: Bearer header"))
			return
		}
		tok, err := h.tokens.TokenByBearer(r.Context(), text)
		if errors.Is(err, staff.ErrTokenInvalid) {
			h.log.Info("api: call with an invalid token", "method", r.Method, "path", r.URL.Path, "client", clientAddr(r))
			w.Header().Set("WWW-Authenticate", `Bearer realm="keycard", error="invalid_token"`)
			writeProblem(w, kindUnauthorized.problem("the API token is not valid (unknown, malformed or revoked)"))
			return
		}
		if err != nil {
			h.log.Error("api: read token", "err", err)
			writeProblem(w, kindInternal.problem("the server could not check the token; it is logged"))
			return
		}
		c.token = tok
		c.by = vouchers.Actor{Name: "api:" + tok.Name, Source: clientAddr(r)}
		if !tok.Has(rt.Scope) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="keycard", error="insufficient_scope", scope=%q`, rt.Scope))
			h.finish(w, c, nil, false, fail(kindForbidden, "this call needs the %q scope; the token %q has %s", rt.Scope, tok.Name, scopeNames(tok.Scopes)))
			return
		}
		rep, replayed, err := h.run(c)
		h.finish(w, c, rep, replayed, err)
	})
}

func scopeNames(ss []staff.Scope) string {
	if len(ss) == 0 {
		return "none"
	}
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// run reads the body and runs the handler, through the idempotency table
// when the request has a key. replayed says the answer is a stored one.
func (h *handler) run(c *call) (rep *reply, replayed bool, err error) {
	if c.r.Method == http.MethodPost {
		if c.body, err = readBody(c.r); err != nil {
			return nil, false, err
		}
	}
	key := c.r.Header.Get("Idempotency-Key")
	if c.r.Method != http.MethodPost || key == "" {
		rep, err = c.route.handle(h, c)
		return rep, false, err
	}
	return h.idempotent(c, key)
}

// readBody reads a POST body: JSON, at most maxBody bytes; an empty body
// is allowed (the handler decides whether it needs one).
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, fail(kindTooLarge, "the body is larger than %d bytes", maxBody)
	}
	if err != nil {
		return nil, fail(kindBadRequest, "could not read the body")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, fail(kindMediaType, "the body is %q; send application/json", ct)
		}
	}
	return b, nil
}

// decode reads the call's JSON body into v strictly (unknown fields are
// an error, so a misspelt field is not silently dropped). An empty body
// leaves v as it is.
func (c *call) decode(v any) error {
	if len(c.body) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail(kindBadRequest, "the body is not the JSON this call takes: %s", jsonProblem(err))
	}
	if dec.More() {
		return fail(kindBadRequest, "the body has more than one JSON value")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q must be %s", typeErr.Field, typeErr.Type)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("syntax error at byte %d", syntaxErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "malformed JSON"
}

// finish audits the call and writes the answer.
func (h *handler) finish(w http.ResponseWriter, c *call, rep *reply, replayed bool, err error) {
	r := c.r
	var p Problem
	status := 0
	if err != nil {
		var known bool
		p, known = problemFor(err)
		if !known {
			h.log.Error("api: call failed", "method", r.Method, "path", r.URL.Path, "token", c.token.Name, "err", err)
		}
		status = p.Status
	} else {
		status = rep.status
	}
	// A successful change is audited by the change itself; everything else
	// by one api.call row, before the answer, so that no answer goes out
	// unaudited.
	if c.by.Name != "" && (err != nil || replayed || c.route.audit == auditCall) {
		detail := fmt.Sprintf("%s %s -> %d", r.Method, r.URL.Path, status)
		if replayed {
			detail += " (idempotent replay)"
		}
		if aerr := h.hotel.Audit(r.Context(), c.by, "api.call", "api:"+c.route.Method+" "+c.route.Path, detail); aerr != nil {
			h.log.Error("api: audit a call", "err", aerr)
			p, status, err = kindInternal.problem("the call could not be audited; nothing was answered"), http.StatusInternalServerError, aerr
		}
	}
	h.log.Info("api: call", "method", r.Method, "route", c.route.Path, "path", r.URL.Path, "status", status,
		"token", c.token.Name, "client", clientAddr(r), "replayed", replayed)
	if err != nil {
		writeProblem(w, p)
		return
	}
	ct := rep.ctype
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	if rep.location != "" {
		w.Header().Set("Location", rep.location)
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(rep.status)
	w.Write(rep.body)
}
