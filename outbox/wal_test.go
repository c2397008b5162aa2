package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/am-fanout/am-fanout/core"
)

// crash stops the store as a crash would: the committer drops its open
// transaction instead of a checkpoint, so the file keeps only what the
// checkpoints before wrote, and the rest is in the write-ahead log.
func crash(t *testing.T, s *Store) {
	t.Helper()
	s.abandon = true // read by the committer after close(s.stop)
	if err := s.Close(); err != nil {
		t.Fatalf("closing the store: %v", err)
	}
}

// filePending counts the pending records in the store file at path
// itself, without its log.
func filePending(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	_ = db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketPending).Stats().KeyN
		return nil
	})
	return n
}

func loadIDs(t *testing.T, s *Store) []uint64 {
	t.Helper()
	var ids []uint64
	if err := s.Load(func(c *Candidate) { ids = append(ids, c.Delivery.ID) }); err != nil {
		t.Fatal(err)
	}
	return ids
}

// Every write answered before a crash is in the store after it, from the
// log: acceptances, a delivery's end (its dedup mark), publisher state.
func TestWALReplaysAfterACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s := newStoreAt(t, path)
	kept := accept(t, s, "t1", alert("a", core.StatusFiring, 1), alert("b", core.StatusFiring, 1))
	done := accept(t, s, "t1", alert("c", core.StatusFiring, 1))[0]
	if err := s.Record(time.Now(), &Settlement{Delivery: done.Delivery, Fate: FateDone}); err != nil {
		t.Fatal(err)
	}
	if err := s.State("t1").Put(context.Background(), "thread", []byte("1234.5678"), time.Hour); err != nil {
		t.Fatal(err)
	}
	crash(t, s)
	if n := filePending(t, path); n != 0 {
		t.Fatalf("the file holds %d pending records before the replay, want 0 (no checkpoint ran)", n)
	}

	s = newStoreAt(t, path)
	ids := loadIDs(t, s)
	if len(ids) != 2 || ids[0] != kept[0].Delivery.ID || ids[1] != kept[1].Delivery.ID {
		t.Errorf("after the crash the store holds pending %v, want %d and %d", ids, kept[0].Delivery.ID, kept[1].Delivery.ID)
	}
	if got := accept(t, s, "t1", alert("a", core.StatusFiring, 1))[0].State; got != StateAlreadyPending {
		t.Errorf("a's firing again after the crash: %q, want %q", got, StateAlreadyPending)
	}
	if got := accept(t, s, "t1", alert("c", core.StatusFiring, 1))[0].State; got != StateAlreadyDelivered {
		t.Errorf("c's firing again after the crash: %q, want %q", got, StateAlreadyDelivered)
	}
	if v, ok, err := s.State("t1").Get(context.Background(), "thread"); err != nil || !ok || string(v) != "1234.5678" {
		t.Errorf("publisher state after the crash: %q, %v, %v; want the value put", v, ok, err)
	}
	// The replay reached the file: a second crash loses nothing either.
	crash(t, s)
	if n := filePending(t, path); n != 2 {
		t.Errorf("the file holds %d pending records after the replay, want 2", n)
	}
}

// A record the crash tore is dropped with everything after it; the
// whole records before it are replayed.
func TestWALTornRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s := newStoreAt(t, path)
	first := accept(t, s, "t1", alert("a", core.StatusFiring, 1))[0]
	accept(t, s, "t1", alert("b", core.StatusFiring, 1))
	end := s.walEnd
	crash(t, s)
	if err := os.Truncate(walPath(path), end-3); err != nil {
		t.Fatal(err)
	}
	s = newStoreAt(t, path)
	if ids := loadIDs(t, s); len(ids) != 1 || ids[0] != first.Delivery.ID {
		t.Errorf("after a torn record the store holds pending %v, want only %d", ids, first.Delivery.ID)
	}
	if st, err := os.Stat(walPath(path)); err != nil || st.Size() != 0 {
		t.Errorf("the log after opening: %v, %v; want it empty", st, err)
	}
}

// Records from before a checkpoint are in the file already and never
// replayed again: a delivery accepted and then delivered before it does
// not come back.
func TestWALSkipsRecordsBeforeTheCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s := newStoreAt(t, path)
	c := accept(t, s, "t1", alert("a", core.StatusFiring, 1))[0]
	if err := s.Record(time.Now(), &Settlement{Delivery: c.Delivery, Fate: FateDone}); err != nil {
		t.Fatal(err)
	}
	// A read outside the committer makes the changes reach the file.
	if _, err := s.Histories(HistoryQuery{}); err != nil {
		t.Fatal(err)
	}
	if s.dirty.Load() || s.walEnd != 0 {
		t.Fatalf("after a read the log still holds %d bytes", s.walEnd)
	}
	later := accept(t, s, "t1", alert("b", core.StatusFiring, 1))[0]
	crash(t, s)
	s = newStoreAt(t, path)
	if ids := loadIDs(t, s); len(ids) != 1 || ids[0] != later.Delivery.ID {
		t.Errorf("the store holds pending %v, want only %d (a's record was replayed again)", ids, later.Delivery.ID)
	}
}

// A record of the same length written over the log's first one leaves
// the older records after it whole: they follow an older transaction,
// and replaying them would take back what came after them.
func TestWALSkipsOlderRecordsAfterTheNewest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s := newStoreAt(t, path)
	put := func(key, value string) {
		t.Helper()
		if err := s.update(func(tx *boltTx) error { return tx.Bucket(bucketState).Put([]byte(key), []byte(value)) }); err != nil {
			t.Fatal(err)
		}
	}
	put("k", "1")
	put("j", "1")
	if err := s.view(func(*boltTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	put("j", "2") // over the first record, as long as it
	crash(t, s)
	s = newStoreAt(t, path)
	var got []byte
	_ = s.view(func(tx *boltTx) error {
		got = append(got, tx.Bucket(bucketState).Get([]byte("j"))...)
		return nil
	})
	if string(got) != "2" {
		t.Errorf("j after the crash is %q, want 2, its newest value", got)
	}
}

// A write that fails leaves none of its changes, in memory or after a
// crash, and the writes logged before it stay.
func TestWALRewindsAFailedWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s := newStoreAt(t, path)
	put := func(key string, fail error) error {
		return s.update(func(tx *boltTx) error {
			if err := tx.Bucket(bucketState).Put([]byte(key), []byte("v")); err != nil {
				return err
			}
			return fail
		})
	}
	bad := errors.New("bad write")
	if err := put("one", nil); err != nil {
		t.Fatal(err)
	}
	if err := put("two", bad); !errors.Is(err, bad) {
		t.Fatalf("the failing write: %v, want %v", err, bad)
	}
	if err := put("three", nil); err != nil {
		t.Fatal(err)
	}
	has := func(s *Store, key string) bool {
		var v []byte
		_ = s.peek(func(tx *boltTx) error {
			v = tx.Bucket(bucketState).Get([]byte(key))
			return nil
		})
		return v != nil
	}
	check := func(when string, s *Store) {
		t.Helper()
		if !has(s, "one") || has(s, "two") || !has(s, "three") {
			t.Errorf("%s: one %v, two %v, three %v; want the failed write's key alone missing",
				when, has(s, "one"), has(s, "two"), has(s, "three"))
		}
	}
	check("before the crash", s)
	crash(t, s)
	check("after the crash", newStoreAt(t, path))
}

// The changes of the commits reach the file checkpointEvery after the
// first of them, without a read asking for it.
func TestWALCheckpointsOnItsOwn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "outbox.db")
		s := newStoreAt(t, path)
		defer s.Close()
		accept(t, s, "t1", alert("a", core.StatusFiring, 1))
		if !s.dirty.Load() {
			t.Fatal("an acceptance logged nothing")
		}
		time.Sleep(checkpointEvery - time.Millisecond)
		synctest.Wait()
		if !s.dirty.Load() {
			t.Fatal("checkpointed before checkpointEvery")
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if s.dirty.Load() {
			t.Error("not checkpointed checkpointEvery after the change")
		}
	})
}

// A write that reads many pages into memory to change them, with little
// to log, has them written to the file at once, however young the
// changes: checkpointNodes bounds what the open transaction holds.
func TestWALCheckpointsManyNodes(t *testing.T) {
	// Put back after the store's Close, which newStore's cleanup does
	// first (the committer reads it).
	t.Cleanup(func(d time.Duration) func() { return func() { checkpointEvery = d } }(checkpointEvery))
	checkpointEvery = time.Hour
	s := newStore(t, StoreOptions{})
	const n = 60000 // about 330 leaves of 16 KiB
	key := func(i int) []byte { return fmt.Appendf(nil, "%064d", i) }
	each := func(step int, fn func(b *bucket, k []byte) error) {
		t.Helper()
		err := s.update(func(tx *boltTx) error {
			b := tx.Bucket(bucketDone)
			for i := 0; i < n; i += step {
				if err := fn(b, key(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	each(1, func(b *bucket, k []byte) error { return b.Put(k, encodeTime(epoch)) })
	if err := s.view(func(*boltTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// One delete on every leaf: a small record, hundreds of nodes.
	each(n/500, func(b *bucket, k []byte) error { return b.Delete(k) })
	// Through the committer, after whatever the write left it to do.
	_ = s.peek(func(*boltTx) error { return nil })
	if s.dirty.Load() {
		t.Errorf("a write that changed about 500 pages is still only in the log (%d bytes)", s.walEnd)
	}
}

// When the log cannot be written, the writes waiting hear so, none of
// their changes stays, and the writes answered before them survive.
func TestWALFailedWriteIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s := newStoreAt(t, path)
	kept := accept(t, s, "t1", alert("a", core.StatusFiring, 1))[0]
	// The committer waits for writes: the next one finds the log closed.
	if err := s.wal.Close(); err != nil {
		t.Fatal(err)
	}
	err := s.update(func(tx *boltTx) error { return tx.Bucket(bucketState).Put([]byte("k"), []byte("v")) })
	if err == nil || !strings.Contains(err.Error(), "write-ahead log") {
		t.Fatalf("a write with the log closed: %v, want an error naming the log", err)
	}
	enc := NewEncoder([]*core.EnrichedAlert{alert("b", core.StatusFiring, 1)}, time.Now(), "")
	if err := s.Accept([]*Candidate{enc.Alert("t1", 0)}, time.Now()); err == nil {
		t.Error("an acceptance after the log failed was answered as durable")
	}
	s.abandon = true
	_ = s.Close() // its error is the log's, closed above
	s = newStoreAt(t, path)
	if ids := loadIDs(t, s); len(ids) != 1 || ids[0] != kept.Delivery.ID {
		t.Errorf("after the failed writes the store holds pending %v, want only %d", ids, kept.Delivery.ID)
	}
	var v []byte
	_ = s.view(func(tx *boltTx) error {
		v = tx.Bucket(bucketState).Get([]byte("k"))
		return nil
	})
	if v != nil {
		t.Errorf("the failed write's key holds %q, want nothing", v)
	}
}

// A record larger than walChunk goes to the log in chunks and comes back
// whole after a crash; torn anywhere, none of it does.
func TestWALLargeRecord(t *testing.T) {
	for _, torn := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "outbox.db")
		s := newStoreAt(t, path)
		const n = 3000 // about 3 MiB
		value := bytes.Repeat([]byte("v"), 1024)
		err := s.update(func(tx *boltTx) error {
			for i := range n {
				if err := tx.Bucket(bucketState).Put(fmt.Appendf(nil, "k%05d", i), value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if s.walEnd < 2*walChunk {
			t.Fatalf("the record is %d bytes, want more than two chunks", s.walEnd)
		}
		end := s.walEnd
		crash(t, s)
		if torn {
			// Torn in its middle: a chunk never written.
			f, err := os.OpenFile(walPath(path), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteAt(make([]byte, 4096), end/2)
			if err = errors.Join(err, f.Close()); err != nil {
				t.Fatal(err)
			}
		}
		s = newStoreAt(t, path)
		got := 0
		_ = s.view(func(tx *boltTx) error {
			got = tx.Bucket(bucketState).Stats().KeyN
			return nil
		})
		if want := map[bool]int{false: n, true: 0}[torn]; got != want {
			t.Errorf("torn %v: %d keys after the crash, want %d", torn, got, want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
