package scep

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"

	"github.com/smallstep/pkcs7"
	smallscep "github.com/smallstep/scep"
	"github.com/smallstep/scep/x509util"

	"keycard/vouchers"
)

// Enroller enrols a device whose CSR carries a one-time challenge;
// *vouchers.Store is one.
type Enroller interface {
	EnrolWithChallenge(ctx context.Context, by vouchers.Actor, challenge string, csr *x509.CertificateRequest) (vouchers.Device, *x509.Certificate, error)
}

var _ Enroller = (*vouchers.Store)(nil)

// Options configure the handler. RA, CAChain and Enroller are required.
type Options struct {
	// RA is the registration authority's certificate and RSA key
	// (ca.Authority.RACertificate): devices encrypt their requests to it,
	// and it signs every CertRep.
	RA tls.Certificate
	// CAChain is [intermediate, root]: sent with the RA in GetCACert. The
	// RA must be issued by CAChain[0].
	CAChain []*x509.Certificate
	// Enroller decides and issues (vouchers.Store).
	Enroller Enroller
	// Logger gets one line per enrolment decision; default discards.
	Logger *slog.Logger
	// MaxMessageBytes caps a PKIOperation message, POSTed or in a GET's
	// query (decoded): default DefaultMaxMessageBytes. A device's request
	// (a CSR with an RSA key, a self-signed certificate, two CMS layers)
	// takes about 4 KiB.
	MaxMessageBytes int
}

// DefaultMaxMessageBytes is the default cap on a PKIOperation message.
const DefaultMaxMessageBytes = 64 << 10

// The operations (RFC 8894 section 4).
const (
	opGetCACaps    = "GetCACaps"
	opGetCACert    = "GetCACert"
	opPKIOperation = "PKIOperation"
)

// capabilities is the GetCACaps answer (RFC 8894 section 3.5.2).
// SCEPStandard promises AES, POSTPKIOperation and SHA-256, listed as well
// for clients that predate it. No Renewal: a certificate lasts the stay.
const capabilities = "POSTPKIOperation\r\nSHA-256\r\nAES\r\nSCEPStandard\r\n"

// Content types of the answers.
const (
	typeCaps       = "text/plain; charset=utf-8"
	typeCACert     = "application/x-x509-ca-ra-cert"
	typePKIMessage = "application/x-pki-message"
)

// raKey is what the RA's key does: decrypt requests, sign answers.
type raKey interface {
	crypto.Signer
	crypto.Decrypter
}

type handler struct {
	// cpu holds a token per PKIOperation doing its cryptography (an RSA
	// decryption, an RSA signature): at most one per CPU, so that a coach
	// of guests arriving at once is answered in turn rather than all
	// slowly. enrolling holds one token: Enroller calls run one at a
	// time, as SQLite's writers do anyway, queued here rather than
	// polling the database's busy handler (which sleeps up to 100 ms),
	// and without a CPU token, which the next request's cryptography uses
	// meanwhile.
	cpu       chan struct{}
	enrolling chan struct{}

	ra       *x509.Certificate
	key      raKey
	caCerts  []byte // the GetCACert answer
	enroller Enroller
	log      *slog.Logger
	max      int
}

// New returns the SCEP handler. It checks that the RA can do its job: an
// RSA key of 2048 bits or more matching its certificate, the key usages
// digitalSignature and keyEncipherment (devices pick the certificate to
// encrypt to by the latter), and an issuer that is CAChain[0].
func New(opts Options) (http.Handler, error) {
	if len(opts.RA.Certificate) == 0 {
		return nil, errors.New("scep: no RA certificate")
	}
	ra := opts.RA.Leaf
	if ra == nil {
		var err error
		if ra, err = x509.ParseCertificate(opts.RA.Certificate[0]); err != nil {
			return nil, fmt.Errorf("scep: RA certificate: %w", err)
		}
	}
	pub, ok := ra.PublicKey.(*rsa.PublicKey)
	switch {
	case !ok:
		return nil, fmt.Errorf("scep: the RA needs an RSA key (SCEP encrypts to it), not %T", ra.PublicKey)
	case pub.N.BitLen() < 2048:
		return nil, fmt.Errorf("scep: the RA's RSA key has %d bits; use 2048 or more", pub.N.BitLen())
	}
	key, ok := opts.RA.PrivateKey.(raKey)
	if !ok {
		return nil, fmt.Errorf("scep: the RA's private key (%T) cannot both sign and decrypt", opts.RA.PrivateKey)
	}
	if !pub.Equal(key.Public()) {
		return nil, errors.New("scep: the RA's private key does not match its certificate")
	}
	if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment; ra.KeyUsage&want != want {
		return nil, errors.New("scep: the RA certificate lacks the digitalSignature and keyEncipherment key usages")
	}
	if len(opts.CAChain) == 0 || opts.CAChain[0] == nil {
		return nil, errors.New("scep: no CA chain; pass [intermediate, root]")
	}
	if err := ra.CheckSignatureFrom(opts.CAChain[0]); err != nil {
		return nil, fmt.Errorf("scep: the RA is not issued by %q: %w", opts.CAChain[0].Subject.CommonName, err)
	}
	if opts.Enroller == nil {
		return nil, errors.New("scep: no Enroller")
	}
	h := &handler{ra: ra, key: key, enroller: opts.Enroller, log: opts.Logger, max: opts.MaxMessageBytes,
		cpu: make(chan struct{}, runtime.GOMAXPROCS(0)), enrolling: make(chan struct{}, 1)}
	switch {
	case h.max == 0:
		h.max = DefaultMaxMessageBytes
	case h.max < 0:
		return nil, fmt.Errorf("scep: MaxMessageBytes %d is negative", opts.MaxMessageBytes)
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	certs := []*x509.Certificate{ra}
	for _, c := range opts.CAChain {
		if c == nil {
			return nil, errors.New("scep: nil certificate in the CA chain")
		}
		certs = append(certs, c)
	}
	var err error
	if h.caCerts, err = smallscep.DegenerateCertificates(certs); err != nil {
		return nil, fmt.Errorf("scep: GetCACert answer: %w", err)
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := r.URL.Query().Get("operation")
	switch op {
	case opGetCACaps, opGetCACert:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "scep: "+op+" takes GET", http.StatusMethodNotAllowed)
			return
		}
		if op == opGetCACaps {
			h.write(w, typeCaps, []byte(capabilities))
		} else {
			h.write(w, typeCACert, h.caCerts)
		}
	case opPKIOperation:
		var msg []byte
		var status int
		switch r.Method {
		case http.MethodPost:
			msg, status = h.readBody(w, r)
		case http.MethodGet:
			msg, status = h.readQuery(r)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "scep: PKIOperation takes POST or GET", http.StatusMethodNotAllowed)
			return
		}
		if status != http.StatusOK {
			why := reasonNotPKIMessage
			if status == http.StatusRequestEntityTooLarge {
				why = reasonTooLarge
			}
			h.log.Warn("scep request refused", "reason", why, "status", status, "from", clientAddress(r))
			http.Error(w, "scep: "+http.StatusText(status), status)
			return
		}
		h.pkiOperation(w, r, msg)
	case "":
		http.Error(w, "scep: no operation; this is a SCEP server (RFC 8894)", http.StatusBadRequest)
	default:
		http.Error(w, "scep: unsupported operation", http.StatusBadRequest)
	}
}

func (h *handler) write(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// readBody reads a POSTed message of at most h.max bytes.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int) {
	if r.ContentLength > int64(h.max) {
		return nil, http.StatusRequestEntityTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.max)))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, http.StatusRequestEntityTooLarge
	case err != nil || len(body) == 0:
		return nil, http.StatusBadRequest
	}
	return body, http.StatusOK
}

// readQuery decodes a GET's base64 message of at most h.max bytes. It
// reads the raw query itself: macOS leaves '+' and '/' unescaped in it,
// which the usual query decoding would turn into spaces.
func (h *handler) readQuery(r *http.Request) ([]byte, int) {
	var raw string
	for q := r.URL.RawQuery; q != ""; {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if k, v, _ := strings.Cut(pair, "="); k == "message" {
			raw = v
			break
		}
	}
	encodedMax := base64.StdEncoding.EncodedLen(h.max)
	if len(raw) > 3*encodedMax { // each character at most %XX
		return nil, http.StatusRequestEntityTooLarge
	}
	s, err := url.PathUnescape(raw) // %2B is '+'; a bare '+' stays '+'
	if err != nil || s == "" {
		return nil, http.StatusBadRequest
	}
	if len(s) > encodedMax {
		return nil, http.StatusRequestEntityTooLarge
	}
	msg, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if msg, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
			return nil, http.StatusBadRequest
		}
	}
	return msg, http.StatusOK
}

// clientAddress is the device's address for the audit log and the logs.
func clientAddress(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// pkiOperation answers one PKIMessage.
func (h *handler) pkiOperation(w http.ResponseWriter, r *http.Request, raw []byte) {
	from := clientAddress(r)
	select {
	case h.cpu <- struct{}{}:
		defer func() { <-h.cpu }()
	case <-r.Context().Done():
		return // the device gave up waiting
	}
	var req *smallscep.PKIMessage
	var p7 *pkcs7.PKCS7
	err := safely(func() (err error) {
		if req, err = smallscep.ParsePKIMessage(raw); err != nil {
			return err
		}
		p7, err = pkcs7.Parse(raw) // for the signer and the envelope
		return err
	})
	if err != nil {
		// Without a verified transaction ID and nonce there is no CertRep
		// to send.
		h.log.Warn("scep request refused", "reason", reasonNotPKIMessage, "from", from, "error", err)
		http.Error(w, "scep: not a signed SCEP PKIMessage", http.StatusBadRequest)
		return
	}
	t := &transaction{req: req, from: from, signer: p7.GetOnlySigner()}
	rep, err := h.enrol(r.Context(), t, p7)
	if err != nil {
		h.log.Error("scep answer failed", "transaction", t.id(), "from", from, "error", err)
		http.Error(w, "scep: internal error", http.StatusInternalServerError)
		return
	}
	h.write(w, typePKIMessage, rep)
}

// transaction is one PKCSReq being answered.
type transaction struct {
	req    *smallscep.PKIMessage
	from   string
	signer *x509.Certificate // the device's signing certificate
}

// id is the transaction ID for the logs, clipped: the device chose it.
func (t *transaction) id() string {
	const max = 64
	if id := string(t.req.TransactionID); len(id) <= max {
		return id
	}
	return string(t.req.TransactionID)[:max] + "…"
}

// enrol checks the request, asks the Enroller, and returns the CertRep.
// Everything that could keep the answer from reaching the device is checked
// before the challenge is spent.
func (h *handler) enrol(ctx context.Context, t *transaction, p7 *pkcs7.PKCS7) ([]byte, error) {
	if t.req.MessageType != smallscep.PKCSReq {
		return h.refuse(t, reasonUnsupportedMessage, fmt.Errorf("message type %q", string(t.req.MessageType)))
	}
	if t.signer == nil {
		return h.refuse(t, reasonNoSigner, errors.New("the request has not exactly one signer with its certificate"))
	}
	if _, ok := t.signer.PublicKey.(*rsa.PublicKey); !ok {
		return h.refuse(t, reasonSignerNotRSA, fmt.Errorf("signer key %T", t.signer.PublicKey))
	}
	alg := envelopeAlgorithm(p7.Content)
	keyLen := contentKeyLen(alg)
	if keyLen == 0 {
		return h.refuse(t, reasonUndecryptable, fmt.Errorf("content encryption %v is not supported", alg))
	}
	var der []byte
	err := safely(func() error {
		env, err := pkcs7.Parse(p7.Content)
		if err == nil {
			der, err = env.Decrypt(h.ra, implicitRejection{h.key, keyLen})
		}
		return err
	})
	if err != nil {
		// One error for every way of failing: the RA is no oracle.
		return h.refuse(t, reasonUndecryptable, errors.New("the envelope does not decrypt with the RA key"))
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return h.refuse(t, reasonUnreadableCSR, err)
	}
	challenge, err := parseChallenge(der)
	if err != nil {
		return h.refuse(t, reasonUnreadableCSR, err)
	}
	if challenge == "" {
		return h.refuse(t, reasonNoChallenge, errors.New("the CSR has no challengePassword"))
	}
	d, cert, err := h.callEnroller(ctx, t.from, challenge, csr)
	if err == nil && cert == nil {
		err = errors.New("the Enroller returned no certificate")
	}
	if err != nil {
		return h.refuse(t, refusalFor(err), err)
	}
	c := answerCipher(alg)
	rep, err := h.success(t, cert, c)
	if err != nil {
		// The device is enrolled but never gets its certificate: staff
		// see it in the stay's devices and can revoke it.
		return nil, fmt.Errorf("device %d enrolled, CertRep failed: %w", d.ID, err)
	}
	h.log.Info("scep enrolment accepted", "stay", d.StayID, "device", d.ID, "serial", d.Serial,
		"platform", d.Platform, "transaction", t.id(), "cipher", c.String(), "from", t.from)
	return rep, nil
}

// callEnroller asks the Enroller, one call at a time, lending the caller's
// CPU token to others while it waits and works.
func (h *handler) callEnroller(ctx context.Context, from, challenge string, csr *x509.CertificateRequest) (vouchers.Device, *x509.Certificate, error) {
	<-h.cpu
	defer func() { h.cpu <- struct{}{} }()
	select {
	case h.enrolling <- struct{}{}:
		defer func() { <-h.enrolling }()
	case <-ctx.Done():
		return vouchers.Device{}, nil, ctx.Err()
	}
	return h.enroller.EnrolWithChallenge(ctx, vouchers.Actor{Name: "guest", Source: from}, challenge, csr)
}

// safely runs a parser of the device's message and turns a panic into an
// error. smallstep/pkcs7 is old code that has panicked on malformed input
// (short BER lengths before v0.2.3, and CBC content that is not whole
// blocks); net/http would recover the panic too, but with a stack trace
// in the log and no answer.
func safely(parse func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("scep: malformed message (parser panic: %v)", r)
		}
	}()
	return parse()
}

// parseChallenge reads the CSR's challengePassword without ever putting it
// in an error message.
func parseChallenge(csrDER []byte) (string, error) {
	challenge, err := x509util.ParseChallengePassword(csrDER)
	if err != nil {
		return "", errors.New("the CSR's challengePassword attribute does not parse")
	}
	return challenge, nil
}

// refuse logs why and returns a FAILURE CertRep for the device.
func (h *handler) refuse(t *transaction, why reason, err error) ([]byte, error) {
	level := slog.LevelInfo
	if why == reasonInternal {
		level = slog.LevelError
	}
	h.log.Log(context.Background(), level, "scep enrolment refused", "reason", why, "fail_info", why.failInfo().String(),
		"transaction", t.id(), "from", t.from, "error", err)
	return h.failure(t, why)
}

// refusalFor maps the Enroller's error to a reason.
func refusalFor(err error) reason {
	switch {
	case errors.Is(err, vouchers.ErrUnknownChallenge):
		return reasonUnknownChallenge
	case errors.Is(err, vouchers.ErrChallengeUsed):
		return reasonChallengeUsed
	case errors.Is(err, vouchers.ErrChallengeExpired):
		return reasonChallengeExpired
	case errors.Is(err, vouchers.ErrStayEnded):
		return reasonStayEnded
	case errors.Is(err, vouchers.ErrDeviceCap):
		return reasonDeviceCap
	case errors.Is(err, vouchers.ErrInvalid):
		return reasonInvalidCSR
	default:
		return reasonInternal
	}
}
