package outbox

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

func TestFileKeyPutsTheTargetLast(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{slotKey("slack", "0a1b"), "0a1b\x00slack"},
		{groupSlot("slack", `{}:{alertname="X"}`), "group\x00{}:{alertname=\"X\"}\x00slack"},
		{"no-separator", "no-separator"},
	} {
		if got := string(fileKey(tc.in)); got != tc.want {
			t.Errorf("fileKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// The deliveries of one alert to its targets sort side by side.
	a := alert("fp1", core.StatusFiring, 1)
	k1, k2 := fileKey(core.DeliveryKey("a-target", a)), fileKey(core.DeliveryKey("z-target", a))
	between := fileKey(core.DeliveryKey("m-target", alert("fp0", core.StatusFiring, 1)))
	if string(between) > string(k1) && string(between) < string(k2) {
		t.Errorf("another alert's key %q sorts between one alert's keys %q and %q", between, k1, k2)
	}
}

// TestOpenRewritesTargetFirstKeys: a file whose done and ordering records
// were written target first (before the key order was marked) is
// rewritten once when opened, and keeps deduplicating and ordering.
func TestOpenRewritesTargetFirstKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delivered := alert("fp-delivered", core.StatusFiring, 10)
	firing := alert("fp-firing", core.StatusFiring, 10)
	now := time.Now()
	// Written as a file of the earlier order holds them.
	err = s.update(func(tx *boltTx) error {
		d := &Delivery{Target: "t1", Alert: *delivered}
		if err := tx.Bucket(bucketDone).Put([]byte(d.key()), encodeTime(now)); err != nil {
			return err
		}
		st := slotState{Order: orderOf(firing), At: now}
		latest, err := tx.CreateBucket(bucketLatest)
		if err != nil {
			return err
		}
		if err := latest.Put([]byte(slotKey("t1", "fp-firing")), st.encode()); err != nil {
			return err
		}
		return tx.DeleteBucket(bucketMeta)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = newStoreAt(t, path)
	if got := accept(t, s, "t1", delivered)[0].State; got != StateAlreadyDelivered {
		t.Errorf("a resend of a state delivered before the rewrite: %q, want %q", got, StateAlreadyDelivered)
	}
	if got := accept(t, s, "t1", alert("fp-firing", core.StatusFiring, 5))[0].State; got != StateStale {
		t.Errorf("an older firing than one accepted before the rewrite: %q, want %q", got, StateStale)
	}
	err = s.view(func(tx *boltTx) error {
		if got := string(tx.Bucket(bucketMeta).Get(metaKeys)); got != string(keysByAlert) {
			t.Errorf("key order after opening: %q, want %q", got, keysByAlert)
		}
		if tx.Bucket(bucketLatest) != nil {
			t.Error("the latest bucket is left after its slots moved into the slots' log")
		}
		return tx.Bucket(bucketSlots).ForEach(func(_, v []byte) error {
			if key := string(v[slotStateLen:]); key == slotKey("t1", "fp-firing") {
				t.Errorf("a target-first key is left: %q", key)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesAnUnknownKeyOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.update(func(tx *boltTx) error { return tx.Bucket(bucketMeta).Put(metaKeys, []byte("future")) })
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(path, StoreOptions{}); err == nil {
		s.Close()
		t.Fatal("a file with an unknown key order opened")
	}
}

// newStoreAt opens the store at path, closed at the test's end.
func newStoreAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
