package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func migrations(n int) fstest.MapFS {
	fs := fstest.MapFS{}
	steps := []string{
		"CREATE TABLE rooms (number TEXT PRIMARY KEY);",
		"ALTER TABLE rooms ADD COLUMN floor INTEGER NOT NULL DEFAULT 0;",
		"CREATE TABLE guests (id INTEGER PRIMARY KEY, room TEXT NOT NULL REFERENCES rooms(number));",
	}
	for i := 0; i < n; i++ {
		fs[fmt.Sprintf("%04d_step.sql", i+1)] = &fstest.MapFile{Data: []byte(steps[i])}
	}
	return fs
}

func open(t *testing.T) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keycard.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestMigrateCheckAndVersions(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	if err := Check(ctx, db, "hotel", migrations(2)); !errors.Is(err, ErrBehind) {
		t.Fatalf("Check on an empty database = %v, want ErrBehind", err)
	}
	if err := Migrate(ctx, db, "hotel", migrations(2)); err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, db, "hotel", migrations(2)); err != nil {
		t.Fatalf("Check after Migrate: %v", err)
	}
	// Running it again changes nothing; a later binary adds its step.
	if err := Migrate(ctx, db, "hotel", migrations(2)); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, db, "hotel", migrations(3)); err != nil {
		t.Fatal(err)
	}
	if v, _ := Version(ctx, db, "hotel"); v != 3 {
		t.Errorf("version = %d, want 3", v)
	}
	// An older binary must not run against a newer schema.
	if err := Migrate(ctx, db, "hotel", migrations(2)); !errors.Is(err, ErrAhead) {
		t.Errorf("Migrate with fewer steps = %v, want ErrAhead", err)
	}
	// Owners are independent.
	if v, _ := Version(ctx, db, "radius"); v != 0 {
		t.Errorf("another owner's version = %d, want 0", v)
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	bad := migrations(1)
	bad["0002_broken.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE ok_table (x INTEGER); CREATE TABLE rooms (oops);")}
	if err := Migrate(ctx, db, "hotel", bad); err == nil || !strings.Contains(err.Error(), "0002_broken.sql") {
		t.Fatalf("Migrate with a broken step = %v, want an error naming it", err)
	}
	if v, _ := Version(ctx, db, "hotel"); v != 1 {
		t.Errorf("version after a failed step = %d, want 1", v)
	}
	var n int
	db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'ok_table'`).Scan(&n)
	if n != 0 {
		t.Errorf("a failed step left part of its work behind")
	}
}

func TestMigrationNames(t *testing.T) {
	for name, fs := range map[string]fstest.MapFS{
		"no number": {"step.sql": {Data: []byte("SELECT 1;")}},
		"gap":       {"0001_a.sql": {Data: []byte("SELECT 1;")}, "0003_c.sql": {Data: []byte("SELECT 1;")}},
	} {
		if _, err := Migrations(fs); err == nil {
			t.Errorf("%s: Migrations accepted it", name)
		}
	}
}

func TestBackupIsAWholeDatabase(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	if err := Migrate(ctx, db, "hotel", migrations(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO rooms (number, floor) VALUES ('204', 2)`); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "backup.db")
	if err := Backup(ctx, db, dest); err != nil {
		t.Fatal(err)
	}
	if err := Backup(ctx, db, dest); err == nil {
		t.Errorf("Backup overwrote an existing file")
	}
	copyDB, err := Open(ctx, dest)
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	var floor int
	if err := copyDB.QueryRowContext(ctx, `SELECT floor FROM rooms WHERE number = '204'`).Scan(&floor); err != nil || floor != 2 {
		t.Fatalf("backup lacks the row: floor %d, %v", floor, err)
	}
	if err := Check(ctx, copyDB, "hotel", migrations(3)); err != nil {
		t.Errorf("backup's schema: %v", err)
	}
	if err := IntegrityCheck(ctx, copyDB); err != nil {
		t.Error(err)
	}
}

func TestForeignKeysAreOn(t *testing.T) {
	ctx := context.Background()
	db, _ := open(t)
	if err := Migrate(ctx, db, "hotel", migrations(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO guests (room) VALUES ('999')`); err == nil {
		t.Error("a guest in a missing room was accepted: foreign keys are off")
	}
}

// A data folder named like "room#2?" must hold the database itself.
func TestOpenPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "room#2?x=y")
	path := filepath.Join(dir, "keycard.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the database is not where the config says: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v, want 0600", st.Mode().Perm())
	}
	dest := filepath.Join(dir, "backup#1.db")
	if err := Backup(context.Background(), db, dest); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dest); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("backup: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
}

// Two processes opening a new database at once migrate it once.
func TestConcurrentMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keycard.db")
	ctx := context.Background()
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			db, err := Open(ctx, path)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			errs <- Migrate(ctx, db, "hotel", migrations(3))
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
}
