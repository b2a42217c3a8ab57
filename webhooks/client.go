package webhooks

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// DefaultTimeout bounds one attempt: connecting, TLS, sending and the
// answer's headers.
const DefaultTimeout = 10 * time.Second

// maxRedirects bounds the redirects followed within one host.
const maxRedirects = 3

// NewClient is the HTTP client deliveries use by default: every phase has
// a timeout, TLS is 1.2 or later with the system roots, the environment's
// proxy settings apply, and a redirect is followed only to the same
// scheme and host with the method and body kept (307, 308): anything else
// is answered as the 3xx it is, which is not a delivery. A redirect to
// another host would send a signed guest record wherever the receiver (or
// whoever took over its name) points.
func NewClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = min(timeout, 5*time.Second)
	tr.ResponseHeaderTimeout = timeout
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 8
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: sameHostRedirect}
}

// sameHostRedirect is NewClient's redirect rule.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	first := via[0]
	if len(via) > maxRedirects || req.Method != first.Method ||
		req.URL.Scheme != first.URL.Scheme || req.URL.Host != first.URL.Host {
		return http.ErrUseLastResponse
	}
	return nil
}
