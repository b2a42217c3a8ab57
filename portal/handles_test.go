package portal

import (
	"crypto/rand"
	"testing"
	"time"
)

func TestHandlesAreBoundedSingleUseAndWiped(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	h := newHandles[download](2, clock.Now, rand.Reader)
	h.drop = wipe
	data := []byte("secret PKCS#12")
	first, _ := h.put(download{data: data}, time.Minute)
	second, _ := h.put(download{data: []byte("b")}, 2*time.Minute)
	if len(first) < 40 || first == second {
		t.Fatalf("handles %q %q: want long, distinct random handles", first, second)
	}
	// Full: the one closest to its expiry makes room, and is wiped.
	third, _ := h.put(download{data: []byte("c")}, 3*time.Minute)
	if h.len() != 2 {
		t.Fatalf("%d held, bound 2", h.len())
	}
	if _, ok := h.take(first); ok {
		t.Error("the evicted download is still there")
	}
	if string(data) != "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Errorf("the evicted bytes were not wiped: %q", data)
	}
	if d, ok := h.take(second); !ok || string(d.data) != "b" {
		t.Error("second download lost")
	}
	if _, ok := h.take(second); ok {
		t.Error("a download was handed out twice")
	}
	clock.Advance(3 * time.Minute)
	if _, ok := h.take(third); ok {
		t.Error("an expired download was handed out")
	}
	h.put(download{data: []byte("d")}, time.Minute)
	h.clear()
	if h.len() != 0 {
		t.Error("clear kept downloads")
	}
}

func FuzzDetectAndLanguage(f *testing.F) {
	for _, s := range []string{iPhoneUA, androidWV, appleCNAUA, "de-DE,de;q=0.9", "*;q=0", ";;,,q=", "x-klingon"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, ua, acceptLanguage string) {
		r := serveRequest(ua, acceptLanguage)
		c := detect(r)
		if _, ok := parsePlatform(string(c.platform)); !ok {
			t.Fatalf("detect(%q) = platform %q", ua, c.platform)
		}
		if l := pickLang(r); l < 0 || l >= numLangs {
			t.Fatalf("pickLang(%q) = %d", acceptLanguage, l)
		}
	})
}
