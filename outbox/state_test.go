package outbox

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

func openTestStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStateSurvivesReopenAndIsScopedPerTarget: what one target stores is
// found after a reopen, by that target only, until it is deleted.
func TestStateSurvivesReopenAndIsScopedPerTarget(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s := openTestStore(t, path)
	for target, v := range map[string]string{"slack-a": "thread-a", "slack-ab": "thread-ab"} {
		if err := s.State(target).Put(ctx, "k", []byte(v), time.Hour); err != nil {
			t.Fatalf("Put for %s: %v", target, err)
		}
	}
	if err := s.State("slack-ab").Put(ctx, "gone", []byte("x"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.State("slack-ab").Delete(ctx, "gone"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.State("slack-ab").Delete(ctx, "never-stored"); err != nil {
		t.Errorf("Delete of a missing key: %v, want no error", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, path)
	defer s.Close()
	for _, tc := range []struct {
		name, target, key string
		want              string
		wantOK            bool
	}{
		{"a target finds its value after a reopen", "slack-a", "k", "thread-a", true},
		{"a target whose name extends another's has its own value", "slack-ab", "k", "thread-ab", true},
		{"another target does not see it", "rootly", "k", "", false},
		{"a deleted key is missing", "slack-ab", "gone", "", false},
		{"a key never stored is missing", "slack-a", "other", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := s.State(tc.target).Get(ctx, tc.key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if ok != tc.wantOK || string(got) != tc.want {
				t.Errorf("Get(%s, %s) = %q, %v; want %q, %v", tc.target, tc.key, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestStateExpires: an entry is found within its ttl, missing after it,
// and the retention pass removes it from the file while keeping the rest.
func TestStateExpires(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := openTestStore(t, path)
		defer s.Close()
		st := s.State("slack")
		if err := st.Put(ctx, "short", []byte("1.1"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, "long", []byte("2.2"), 3*time.Hour); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour - time.Nanosecond)
		if _, ok, _ := st.Get(ctx, "short"); !ok {
			t.Error("an entry is missing before its ttl has passed")
		}
		time.Sleep(time.Nanosecond)
		if v, ok, _ := st.Get(ctx, "short"); ok {
			t.Errorf("Get once the ttl has passed = %q, want missing", v)
		}
		if err := s.Prune(time.Now()); err != nil {
			t.Fatalf("prune: %v", err)
		}
		var left []string
		_ = s.view(func(tx *boltTx) error {
			return tx.Bucket(bucketState).ForEach(func(k, _ []byte) error {
				left = append(left, string(k))
				return nil
			})
		})
		if len(left) != 1 || left[0] != "slack\x00long" {
			t.Errorf("state records left after the retention pass: %q, want only the unexpired one", left)
		}
	})
}

func TestStatePutRefusesNoTTLAndAClosedStore(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, filepath.Join(t.TempDir(), "outbox.db"))
	if err := s.State("t").Put(ctx, "k", []byte("v"), 0); err == nil {
		t.Error("Put with a ttl of 0: want an error, an entry must expire")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.State("t").Put(ctx, "k", []byte("v"), time.Hour); !errors.Is(err, ErrClosed) {
		t.Errorf("Put on a closed store = %v, want ErrClosed", err)
	}
}

// TestImportState: the unexpired entries are stored with their own
// expiry, replacing what the keys held; expired ones are skipped.
func TestImportState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := openTestStore(t, filepath.Join(t.TempDir(), "outbox.db"))
		defer s.Close()
		st := s.State("rootly")
		if err := st.Put(ctx, "replaced", []byte("old"), time.Hour); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		n, err := s.ImportState("rootly", []StateEntry{
			{Key: "kept", Value: []byte("id-1"), Expires: now.Add(2 * time.Hour)},
			{Key: "replaced", Value: []byte("new"), Expires: now.Add(time.Hour)},
			{Key: "expired", Value: []byte("id-3"), Expires: now},
		}, now)
		if err != nil || n != 2 {
			t.Fatalf("ImportState = %d, %v; want 2 entries imported", n, err)
		}
		for key, want := range map[string]string{"kept": "id-1", "replaced": "new", "expired": ""} {
			if got, _, _ := st.Get(ctx, key); string(got) != want {
				t.Errorf("after the import, Get(%s) = %q, want %q", key, got, want)
			}
		}
		time.Sleep(time.Hour)
		if _, ok, _ := st.Get(ctx, "replaced"); ok {
			t.Error("an imported entry outlived the expiry it was imported with")
		}
		if _, ok, _ := st.Get(ctx, "kept"); !ok {
			t.Error("an imported entry expired before its time")
		}
	})
}
