package secretbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, SaltSize)
	box, err := New([]byte("passphrase one"), salt)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal("nas:lobby", []byte("s3cret-s3cret-s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "s3cret") {
		t.Fatalf("sealed value shows the secret: %s", sealed)
	}
	got, err := box.Open("nas:lobby", sealed)
	if err != nil || string(got) != "s3cret-s3cret-s3cret" {
		t.Fatalf("Open = %q, %v", got, err)
	}

	other, _ := New([]byte("passphrase two"), salt)
	if _, err := other.Open("nas:lobby", sealed); !errors.Is(err, ErrOpen) {
		t.Errorf("another passphrase opened it: %v", err)
	}
	if _, err := box.Open("nas:pool", sealed); !errors.Is(err, ErrOpen) {
		t.Errorf("a value moved to another row opened: %v", err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if _, err := box.Open("nas:lobby", tampered); !errors.Is(err, ErrOpen) {
		t.Errorf("a changed value opened: %v", err)
	}
}

func TestSaltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.salt")
	first, err := LoadOrCreateSalt(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateSalt(path)
	if err != nil || !bytes.Equal(first, again) {
		t.Fatalf("salt changed between loads: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("salt file mode %v, want 0600", st.Mode().Perm())
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := LoadOrCreateSalt(path); err == nil {
		t.Error("a damaged salt file was accepted")
	}
}
