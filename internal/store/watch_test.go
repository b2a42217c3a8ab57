package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// Watch sees commits made through another handle (another process, as the
// CLI is to serve) and stays quiet when nothing was committed.
func TestWatchSeesOtherConnectionsCommit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "k.db")
	serveDB, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer serveDB.Close()
	cliDB, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer cliDB.Close()
	if _, err := cliDB.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}

	calls := make(chan struct{}, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, serveDB, 10*time.Millisecond, func(context.Context) { calls <- struct{}{} })
	}()
	select { // the first call, at the start
	case <-calls:
	case <-time.After(2 * time.Second):
		t.Fatal("Watch did not call at its start")
	}
	select {
	case <-calls:
		t.Fatal("Watch called although nothing was committed")
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := cliDB.ExecContext(ctx, `INSERT INTO t (v) VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-calls:
	case <-time.After(2 * time.Second):
		t.Fatal("Watch missed a commit from another handle")
	}
	cancel()
	<-done
}
