package portal

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
)

//go:embed web/page.html web/style.css web/portal.js
var webFiles embed.FS

func parsePage() (*template.Template, error) {
	t, err := template.ParseFS(webFiles, "web/page.html")
	if err != nil {
		return nil, fmt.Errorf("portal: template: %w", err)
	}
	return t.Lookup("page.html"), nil
}

// staticFiles serves the stylesheet and the script under /static/. They
// hold nothing secret and change only with the binary: browsers may keep
// them for an hour.
func staticFiles() http.Handler {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/static/style.css", "/static/portal.js":
			w.Header().Set("Cache-Control", "public, max-age=3600")
			files.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// page is what the template shows. State picks the part: "form" (sign
// in), "mini" (open the real browser first), "result" (downloads),
// "cap" (replace a device) or "message".
type page struct {
	lang  lang
	State string
	Lang  string

	Hotel, SSID, URL              string
	HelpURL, HelpEmail, HelpPhone string

	Error        string
	MessageTitle string

	// The form.
	RoomLogin     bool
	Primary       choice
	Others        []choice
	Label         string
	Room, Surname string

	// The mini-browser step: which operating system's words.
	MiniAndroid bool

	// After sign-in.
	Session string
	Result  *result
	Cap     *capView
}

// deviceName is the guest's kind of device in their language ("iPhone",
// "Android-Gerät"), "device" when the browser does not say.
func (p *page) deviceName(c client) string {
	if c.device == "" {
		return p.T("device_default")
	}
	return p.T(c.device)
}

// T translates a catalog message for the template.
func (p *page) T(key string, args ...any) string { return p.lang.t(key, args...) }

// choice is one platform button.
type choice struct{ Value, Text string }

type result struct {
	Guest      string
	For, Until string
	Steps      []step
	Files      []fileLink
	Minutes    int
	Password   string
}

type step struct{ Text, Code string }

type fileLink struct{ Href, Text string }

type capView struct {
	Max      int
	Platform Platform
	Devices  []deviceView
}

type deviceView struct {
	ID                     string
	Label, Platform, Since string
}

// newPage starts a page for r in the guest's language.
func (p *Portal) newPage(r *http.Request, state string) *page {
	l := pickLang(r)
	n := p.cfg.Network
	return &page{
		lang: l, State: state, Lang: l.tag(),
		Hotel: n.HotelName, SSID: n.SSID, URL: p.URL(),
		HelpURL: n.HelpdeskURL, HelpEmail: n.HelpdeskEmail, HelpPhone: n.HelpdeskPhone,
		RoomLogin: p.cfg.RoomLogin,
	}
}

// choices are the platform buttons: c's platform first, the others after.
func (pg *page) choices(c client, except Platform) (primary choice, others []choice) {
	primary = choice{Value: string(c.platform), Text: pg.T("connect", pg.deviceName(c))}
	if c.platform == PlatformOther && c.device == "" {
		primary.Text = pg.T("set_up", pg.T("platform_other"))
	}
	for _, pl := range platforms {
		if pl == c.platform || pl == except {
			continue
		}
		others = append(others, choice{Value: string(pl), Text: pg.T("set_up", pg.T("platform_"+string(pl)))})
	}
	return primary, others
}

// render writes the page with the given status. Every page may carry a
// secret (a password, a sign-in handle) or reveal a stay: none is stored
// by the browser or a proxy.
func (p *Portal) render(w http.ResponseWriter, status int, pg *page) {
	var buf bytes.Buffer
	if err := p.page.Execute(&buf, pg); err != nil {
		p.log.Error("render page", "state", pg.State, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Content-Language", pg.Lang)
	h.Set("Vary", "Accept-Language, User-Agent")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// message renders a page with just a title, a message and a way back.
func (p *Portal) message(w http.ResponseWriter, r *http.Request, status int, titleKey, msgKey string) {
	pg := p.newPage(r, "message")
	pg.MessageTitle = pg.T(titleKey)
	pg.Error = pg.T(msgKey)
	p.render(w, status, pg)
}
