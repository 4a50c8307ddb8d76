package sim

import (
	"errors"
	"io"
	"os"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func writeFile(t *testing.T, fs vfs.FS, name, s string) vfs.File {
	t.Helper()
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if _, err := f.Write([]byte(s)); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	return f
}

func readFile(t *testing.T, fs vfs.FS, name string) (string, bool) {
	t.Helper()
	f, err := fs.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b), true
}

func syncDir(t *testing.T, fs vfs.FS, name string) {
	t.Helper()
	d, err := fs.OpenDir(name)
	if err != nil {
		t.Fatalf("open dir %s: %v", name, err)
	}
	if err := d.Sync(); err != nil {
		t.Fatalf("sync dir %s: %v", name, err)
	}
}

func wantFile(t *testing.T, fs vfs.FS, name, want string) {
	t.Helper()
	got, ok := readFile(t, fs, name)
	if !ok || got != want {
		t.Fatalf("%s: want %q, got %q (exists %t)", name, want, got, ok)
	}
}

// A crash keeps each file's synced bytes and each directory's synced
// entries, nothing else.
func TestMemFSCrashKeepsWhatWasSynced(t *testing.T) {
	fs := newMemFS()
	if err := fs.MkdirAll("db", 0o755); err != nil {
		t.Fatal(err)
	}
	syncDir(t, fs, "")
	f := writeFile(t, fs, "db/a", "hello")
	if _, ok := readFile(t, fs.crash(), "db/a"); ok {
		t.Fatal("a file whose directory was never synced survived a crash")
	}
	syncDir(t, fs, "db")
	wantFile(t, fs.crash(), "db/a", "") // its name was synced, its bytes not
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(" world"))
	wantFile(t, fs.crash(), "db/a", "hello")
	wantFile(t, fs, "db/a", "hello world")

	// A rename lasts once the directory is synced.
	if err := fs.Rename("db/a", "db/b"); err != nil {
		t.Fatal(err)
	}
	c := fs.crash()
	wantFile(t, c, "db/a", "hello")
	if _, ok := readFile(t, c, "db/b"); ok {
		t.Fatal("a rename survived a crash before its directory was synced")
	}
	syncDir(t, fs, "db")
	wantFile(t, fs.crash(), "db/b", "hello")
}

// Sync shares the file's array with its synced bytes and crash shares it
// with the clone: no write on either side may show through to the other.
func TestMemFSCrashCloneIsIsolated(t *testing.T) {
	fs := newMemFS()
	fs.MkdirAll("db", 0o755)
	syncDir(t, fs, "")
	f := writeFile(t, fs, "db/a", "0123456789")
	f.Sync()
	syncDir(t, fs, "db")

	// An overwrite of synced bytes, then a crash: the synced bytes stand.
	f.(io.WriterAt).WriteAt([]byte("ab"), 2)
	c := fs.crash()
	wantFile(t, c, "db/a", "0123456789")

	// The crashed filesystem keeps writing (pebble closing); the clone
	// does not see it, nor does the old one see the clone's writes.
	f.(io.WriterAt).WriteAt([]byte("XY"), 0)
	f.Write([]byte("tail"))
	g, err := c.OpenReadWrite("db/a", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	g.(io.WriterAt).WriteAt([]byte("Z"), 9)
	g.(io.WriterAt).WriteAt([]byte("more"), 10)
	wantFile(t, c, "db/a", "012345678Zmore")
	wantFile(t, fs, "db/a", "XYab456789tail")

	// A crash of the clone keeps what the clone synced.
	g.Sync()
	g.(io.WriterAt).WriteAt([]byte("!"), 0)
	wantFile(t, c.crash(), "db/a", "012345678Zmore")
}

// Pebble on memFS: what a Sync made durable survives a crash, what was
// only written does not.
func TestMemFSPebbleCrash(t *testing.T) {
	fs := newMemFS()
	db, err := pebble.Open("db", storeOptions(fs))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2000; i++ {
		k := []byte{byte(i >> 8), byte(i)}
		if err := db.Set(k, make([]byte, 300), pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.LogData(nil, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("unsynced"), []byte("x"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	crashed := fs.crash()
	db.Close()

	db, err = pebble.Open("db", storeOptions(crashed))
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer db.Close()
	for i := 0; i < 2000; i++ {
		k := []byte{byte(i >> 8), byte(i)}
		if _, closer, err := db.Get(k); err != nil {
			t.Fatalf("synced key %x lost: %v", k, err)
		} else {
			closer.Close()
		}
	}
	if _, _, err := db.Get([]byte("unsynced")); !errors.Is(err, pebble.ErrNotFound) {
		t.Fatalf("an unsynced key survived the crash: %v", err)
	}
}
