package webhooks

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"audit-7","type":"stay.created","occurred_at":"2026-06-01T12:00:00Z","data":{}}`)
	header := Sign(testSecret, body, t0)
	other := []byte("another secret, also 32 bytes long")
	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"as sent", testSecret, header, body, t0, nil},
		{"a few minutes later", testSecret, header, body, t0.Add(4 * time.Minute), nil},
		{"receiver's clock a little behind", testSecret, header, body, t0.Add(-4 * time.Minute), nil},
		{"tampered body", testSecret, header, append([]byte(nil), strings.Replace(string(body), "stay.created", "stay.ended", 1)...), t0, ErrBadSignature},
		{"one byte more", testSecret, header, append(append([]byte(nil), body...), ' '), t0, ErrBadSignature},
		{"wrong secret", other, header, body, t0, ErrBadSignature},
		{"replayed an hour later", testSecret, header, body, t0.Add(time.Hour), ErrStaleSignature},
		{"from the future", testSecret, header, body, t0.Add(-time.Hour), ErrStaleSignature},
		{"timestamp moved forward", testSecret, strings.Replace(header, fmt.Sprint(t0.Unix()), fmt.Sprint(t0.Unix()+3600), 1), body, t0.Add(time.Hour), ErrBadSignature},
		{"no header", testSecret, "", body, t0, ErrBadSignature},
		{"no signature", testSecret, fmt.Sprintf("t=%d", t0.Unix()), body, t0, ErrBadSignature},
		{"no timestamp", testSecret, header[strings.Index(header, "v1="):], body, t0, ErrBadSignature},
		{"garbage", testSecret, "t=1,v1=zz", body, t0, ErrBadSignature},
		{"two timestamps", testSecret, header + ",t=5", body, t0, ErrBadSignature},
		{"an unknown scheme next to v1 is ignored", testSecret, header + ",v9=abc", body, t0, nil},
		{"any matching v1 is enough", testSecret, fmt.Sprintf("t=%d,v1=%s,%s", t0.Unix(), strings.Repeat("00", 32), header[strings.Index(header, "v1="):]), body, t0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, tt.body, tt.now, 5*time.Minute)
			if tt.want == nil && err != nil {
				t.Fatalf("Verify = %v, want nil", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyDefaultTolerance(t *testing.T) {
	body := []byte(`{}`)
	h := Sign(testSecret, body, t0)
	if err := Verify(testSecret, h, body, t0.Add(DefaultTolerance-time.Second), 0); err != nil {
		t.Errorf("within the default tolerance: %v", err)
	}
	if err := Verify(testSecret, h, body, t0.Add(DefaultTolerance+time.Second), 0); !errors.Is(err, ErrStaleSignature) {
		t.Errorf("past the default tolerance: %v, want ErrStaleSignature", err)
	}
}

func TestSignFormat(t *testing.T) {
	// What a receiver in another language recomputes: HMAC-SHA256 over
	// "<t>." + body, lower-case hex. From
	//   printf '1.The quick brown fox jumps over the lazy dog' | openssl dgst -sha256 -hmac key
	got := Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog"), time.Unix(1, 0))
	want := "t=1,v1=3ff4d3cc115b639a16dc5b217aa5c89be41d1e4b54efc356d63d0cd2a65b30f1"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

// ExampleVerify is a receiver: it reads the raw body, verifies it, and
// only then decodes it; it dedupes by the event id.
func ExampleVerify() {
	secret := []byte("0123456789abcdef0123456789abcdef") // the endpoint's secret_file
	seen := map[string]bool{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		if err := Verify(secret, r.Header.Get(SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(EventIDHeader)
		if seen[id] {
			w.WriteHeader(http.StatusOK) // delivered before: at least once
			return
		}
		seen[id] = true
		fmt.Println("accepted", id, r.Header.Get(EventTypeHeader))
		w.WriteHeader(http.StatusNoContent)
	})

	body := []byte(`{"id":"audit-42","type":"stay.ended"}`)
	for _, sig := range []string{Sign(secret, body, time.Now()), Sign(secret, body, time.Now().Add(-time.Hour))} {
		req := httptest.NewRequest(http.MethodPost, "/keycard", strings.NewReader(string(body)))
		req.Header.Set(SignatureHeader, sig)
		req.Header.Set(EventIDHeader, "audit-42")
		req.Header.Set(EventTypeHeader, "stay.ended")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// accepted audit-42 stay.ended
	// 204
	// 401
}

// FuzzVerify: any header is refused or accepted without panicking, and
// what Sign makes always verifies.
func FuzzVerify(f *testing.F) {
	f.Add("t=1780315200,v1="+strings.Repeat("ab", 32), []byte(`{}`), int64(1780315200))
	f.Add("t=,v1=", []byte(nil), int64(0))
	f.Add(",,,=", []byte("x"), int64(-1))
	f.Fuzz(func(t *testing.T, header string, body []byte, sec int64) {
		now := time.Unix(sec, 0)
		_ = Verify(testSecret, header, body, now, time.Minute)
		if err := Verify(testSecret, Sign(testSecret, body, now), body, now, time.Minute); err != nil {
			t.Fatalf("Sign's own header refused: %v", err)
		}
	})
}
