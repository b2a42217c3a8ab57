package secretbox

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"keycard/internal/store"
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

func TestSaltLivesInTheDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keycard.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	first, err := Salt(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Salt(ctx, db)
	if err != nil || !bytes.Equal(first, again) {
		t.Fatalf("salt changed between reads: %v", err)
	}
	// A backup carries it: a sealed value opens from the copy.
	box, _ := New([]byte("pass"), first)
	sealed, _ := box.Seal("nas:lobby", []byte("secret"))
	dest := filepath.Join(t.TempDir(), "backup.db")
	if err := store.Backup(ctx, db, dest); err != nil {
		t.Fatal(err)
	}
	restored, err := store.Open(ctx, dest)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	salt, err := Salt(ctx, restored)
	if err != nil {
		t.Fatal(err)
	}
	box2, _ := New([]byte("pass"), salt)
	if got, err := box2.Open("nas:lobby", sealed); err != nil || string(got) != "secret" {
		t.Errorf("a secret sealed before the backup does not open from it: %q %v", got, err)
	}
}
