package desk

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"keycard/staff"
)

//go:embed web/*.html web/desk.css
var webFiles embed.FS

// The pages, each web/<name>.html filling the layout's "main".
var pageNames = []string{"login", "code", "enrol", "recovery", "password", "account", "message", "confirm",
	"stays", "newstay", "voucher", "stay", "staff", "audit"}

func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(template.FuncMap{
		"bytes": humanBytes,
		"dur":   humanDuration,
	}).ParseFS(webFiles, "web/layout.html")
	if err != nil {
		return nil, fmt.Errorf("desk: template: %w", err)
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(webFiles, "web/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("desk: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// staticFiles serves the stylesheet: nothing secret, cached for an hour.
func staticFiles() http.Handler {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/static/desk.css" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// view is what the layout shows around a page's own data D.
type view struct {
	Title  string
	Hotel  string
	Me     *staff.Account // nil before login
	Nav    string         // the menu entry to mark
	Notice string
	Error  string
	D      any
}

// Admin reports whether the menu shows the admin pages.
func (v *view) Admin() bool { return v.Me != nil && v.Me.Can(staff.PermStaff) }

// Audit reports whether the menu shows the audit log.
func (v *view) Audit() bool { return v.Me != nil && v.Me.Can(staff.PermAudit) }

type messageView struct {
	Text string
	Next string
}

func (d *Desk) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	v.Hotel = d.cfg.HotelName
	var buf bytes.Buffer
	if err := d.pages[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		d.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

func (d *Desk) message(w http.ResponseWriter, r *http.Request, status int, me *staff.Account, title, text string) {
	next := "/"
	if me == nil {
		next = "/login"
	}
	d.render(w, r, status, "message", &view{Title: title, Me: me, D: messageView{Text: text, Next: next}})
}

// fail logs an unexpected error and shows a page that says so without
// its detail.
func (d *Desk) fail(w http.ResponseWriter, r *http.Request, me *staff.Account, what string, err error) {
	who := ""
	if me != nil {
		who = me.Name
	}
	d.log.Error(what, "staff", who, "path", r.URL.Path, "err", err)
	d.message(w, r, http.StatusInternalServerError, me, "Something went wrong", "Keycard could not do that. Try again; if it keeps failing, tell the network admin (the server log says why).")
}

// userMessage is an error fit to show the person at the desk: the
// package's message without its "staff: " or "vouchers: " prefix.
func userMessage(err error) string {
	s := err.Error()
	for _, p := range []string{"staff: ", "vouchers: "} {
		for strings.Contains(s, p) {
			s = strings.Replace(s, p, "", 1)
		}
	}
	if s == "" {
		return s
	}
	rs := []rune(s)
	rs[0] = unicode.ToUpper(rs[0])
	return string(rs)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// spaced writes a base32 secret in groups of four for typing.
func spaced(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// clock is a time in the hotel's zone, the date left out when it is today.
func (d *Desk) clock(t time.Time) string {
	t = t.In(d.cfg.Location)
	now := d.now().In(d.cfg.Location)
	if y, m, dd := now.Date(); y == t.Year() && m == t.Month() && dd == t.Day() {
		return "today " + t.Format("15:04")
	}
	return t.Format("Mon 2 Jan 2006 15:04")
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}
