package outbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// usedStore makes a store file that holds a pending delivery and returns
// its path and size.
func usedStore(t *testing.T) (string, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	err = s.update(func(tx *boltTx) error {
		return tx.Bucket(bucketPending).Put([]byte("k"), []byte(`{"target":"t"}`))
	})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, st.Size()
}

// A damaged store is refused with an error naming the file and what is
// wrong, never reset and never a crash; the file is left as it was.
func TestDamagedStoreIsRefused(t *testing.T) {
	page := int64(os.Getpagesize())
	for _, tc := range []struct {
		name string
		size func(full int64) int64
		want string
	}{
		{"truncated to 0 bytes", func(int64) int64 { return 0 }, "empty (0 bytes)"},
		{"truncated inside the first page", func(int64) int64 { return 40 }, "too short"},
		{"truncated to one page", func(int64) int64 { return page }, "truncated"},
		{"truncated to two pages", func(int64) int64 { return 2 * page }, "truncated"},
		{"truncated to three pages", func(int64) int64 { return 3 * page }, "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, full := usedStore(t)
			size := tc.size(full)
			if err := os.Truncate(path, size); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, StoreOptions{})
			if err == nil {
				s.Close()
				t.Fatalf("Open of a store %s succeeded, want an error", tc.name)
			}
			for _, w := range []string{path, "damaged", tc.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if st, err := os.Stat(path); err != nil || st.Size() != size {
				t.Errorf("the refused file changed: %v, %v (want %d bytes)", st, err, size)
			}
		})
	}
}

func TestNotAStoreIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a store ", 4000)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, StoreOptions{})
	if err == nil || !strings.Contains(err.Error(), "not an outbox store") || !strings.Contains(err.Error(), path) {
		t.Errorf("Open of a foreign file: %v, want an error naming the file saying it is not a store", err)
	}
}

// A store locked by another process is not damaged: the error says who
// holds it and does not advise moving it away.
func TestLockedStoreSaysSo(t *testing.T) {
	path, _ := usedStore(t)
	holder, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	_, err = Open(path, StoreOptions{})
	if err == nil {
		t.Fatal("Open of a locked store succeeded")
	}
	if !strings.Contains(err.Error(), "locked by another process") || strings.Contains(err.Error(), "move it away") {
		t.Errorf("error %q: want it to say the store is locked, without advising to move it", err)
	}
}

// The check accepts a healthy store, which opens with what it held.
func TestHealthyStoreReopens(t *testing.T) {
	path, _ := usedStore(t)
	s, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatalf("Open of a healthy store: %v", err)
	}
	defer s.Close()
	var got []byte
	_ = s.view(func(tx *boltTx) error {
		got = tx.Bucket(bucketPending).Get([]byte("k"))
		return nil
	})
	if string(got) != `{"target":"t"}` {
		t.Errorf("the reopened store holds %q, want the pending record", got)
	}

}
