package outbox

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
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

// TestOpenRefusesBadFiles: a file that is not a store, or a path that
// cannot be one, is an error naming the file; the file is left as it was.
func TestOpenRefusesBadFiles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(path string) error
	}{
		{"garbage", func(p string) error { return os.WriteFile(p, []byte(strings.Repeat("not a bbolt file ", 2000)), 0o600) }},
		{"truncated store", func(p string) error {
			s, err := Open(p, StoreOptions{})
			if err != nil {
				return err
			}
			if err := s.Close(); err != nil {
				return err
			}
			return os.Truncate(p, 100)
		}},
		{"a directory", func(p string) error { return os.Mkdir(p, 0o700) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			if err := tc.prepare(path); err != nil {
				t.Fatalf("preparing: %v", err)
			}
			before, _ := os.Stat(path)
			s, err := Open(path, StoreOptions{})
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file %s", err, path)
			}
			if after, _ := os.Stat(path); after.Size() != before.Size() {
				t.Errorf("the file changed size from %d to %d: it must not be reset", before.Size(), after.Size())
			}
		})
	}
}

// markDoneRecord records d's dedup key in the done bucket as delivered
// now, as a commit of a delivered notification does, and as one of an
// alert did before the slots held its mark.
func markDoneRecord(t *testing.T, s *Store, d *Delivery) {
	t.Helper()
	err := s.update(func(tx *boltTx) error {
		return tx.Bucket(bucketDone).Put(fileKey(d.key()), encodeTime(time.Now()))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// deliver records c's delivery as done now.
func deliver(t *testing.T, s interface {
	Record(time.Time, ...*Settlement) error
}, c *Candidate) {
	t.Helper()
	if err := s.Record(time.Now(), &Settlement{Delivery: c.Delivery, Fate: FateDone}); err != nil {
		t.Fatalf("Record: %v", err)
	}
}

// TestDedupLogIsDurable: a delivered state's resend is already delivered
// from the file, across a reopen, within the dedup window only; so are
// the done records of a file written before the slots held the marks.
func TestDedupLogIsDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := Open(path, StoreOptions{DedupWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, s, accept(t, s, "t1", alert("a", core.StatusFiring, 0))[0])
	// "b" as an older version left it: a done record, and a slot with
	// nothing pending and no mark.
	old := accept(t, s, "t1", alert("b", core.StatusFiring, 0))[0]
	if err := s.update(func(tx *boltTx) error {
		return s.clearPending(tx, old.Delivery, false, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.update(func(tx *boltTx) error { return s.pending(tx).Delete(encodeID(old.Delivery.ID)) }); err != nil {
		t.Fatal(err)
	}
	markDoneRecord(t, s, old.Delivery)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		window time.Duration
		fp     string
		want   string
	}{
		{time.Hour, "a", StateAlreadyDelivered},
		{time.Hour, "b", StateAlreadyDelivered},
		{time.Hour, "c", StateAccepted},
		{time.Nanosecond, "a", StateAccepted},
		{time.Nanosecond, "b", StateAccepted},
	} {
		s, err := Open(path, StoreOptions{DedupWindow: tc.window})
		if err != nil {
			t.Fatal(err)
		}
		// An accepted resend changes the slot: the cases that expect
		// one come after those that read the marks.
		if got := accept(t, s, "t1", alert(tc.fp, core.StatusFiring, 0))[0].State; got != tc.want {
			t.Errorf("after reopen with window %v, a resend of %q is %q, want %q", tc.window, tc.fp, got, tc.want)
		}
		s.Close()
	}
}

// TestDedupMarksOnlyWhatWasDelivered: a dead letter's resend is accepted
// again; a delivered state that a newer one superseded is stale, not
// already delivered; the mark is the target's alone.
func TestDedupMarksOnlyWhatWasDelivered(t *testing.T) {
	s := newStore(t, StoreOptions{DedupWindow: time.Hour})
	dead := accept(t, s, "t1", alert("a", core.StatusFiring, 0))[0]
	if err := s.Record(time.Now(), &Settlement{Delivery: dead.Delivery, Fate: FateDead}); err != nil {
		t.Fatal(err)
	}
	if got := accept(t, s, "t1", alert("a", core.StatusFiring, 0))[0].State; got != StateAccepted {
		t.Errorf("the resend of a dead letter's state is %q, want accepted", got)
	}

	deliver(t, s, accept(t, s, "t1", alert("b", core.StatusFiring, 0))[0])
	if got := accept(t, s, "t2", alert("b", core.StatusFiring, 0))[0].State; got != StateAccepted {
		t.Errorf("the state delivered to t1 is %q for t2, want accepted", got)
	}
	newer := accept(t, s, "t1", alert("b", core.StatusResolved, 0))[0]
	if newer.State != StateAccepted {
		t.Fatalf("the resolve is %q, want accepted", newer.State)
	}
	if got := accept(t, s, "t1", alert("b", core.StatusFiring, 0))[0].State; got != StateStale {
		t.Errorf("the delivered firing after its resolve was accepted is %q, want stale", got)
	}
	deliver(t, s, newer)
	if got := accept(t, s, "t1", alert("b", core.StatusResolved, 0))[0].State; got != StateAlreadyDelivered {
		t.Errorf("the delivered resolve's resend is %q, want already delivered", got)
	}
	var doneRecords int
	_ = s.view(func(tx *boltTx) error {
		doneRecords = tx.Bucket(bucketDone).Stats().KeyN
		return nil
	})
	if doneRecords != 0 {
		t.Errorf("the done bucket holds %d records after alert deliveries only, want none: the settled log holds them", doneRecords)
	}
}

// slotBytes is target's slot of alert fp as the slots' index holds it:
// the sequence of its record in the log, then its state; nil when it
// has none.
func slotBytes(t *testing.T, s *Store, target, fp string) []byte {
	t.Helper()
	seq, ok := committedSlot(t, s, fileKey(slotKey(target, fp)))
	if !ok {
		return nil
	}
	var v []byte
	_ = s.view(func(tx *boltTx) error {
		v = bytes.Clone(tx.Bucket(bucketSlots).Get(encodeID(seq)))
		return nil
	})
	return append(encodeID(seq), v...)
}

// settledCount counts the ends the settled log of s's file holds.
func settledCount(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	_ = s.view(func(tx *boltTx) error {
		return tx.Bucket(bucketSettled).ForEach(func(_, v []byte) error {
			for off := 0; off+8 <= len(v); off += 8 {
				if binary.BigEndian.Uint64(v[off:]) != 0 {
					n++
				}
			}
			return nil
		})
	})
	return n
}

// bucketLen counts the records of a bucket of s's file.
func bucketLen(t *testing.T, s *Store, name []byte) int {
	t.Helper()
	n := 0
	_ = s.view(func(tx *boltTx) error {
		n = tx.Bucket(name).Stats().KeyN
		return nil
	})
	return n
}

// TestDeliveryEndLeavesTheSlot: the end of an alert's delivery goes into
// the settled log and leaves the alert's slot as its acceptance wrote it;
// the next state of the alert reads it from the log (a resend within the
// dedup window is already delivered), as does the retention pass, which
// forgets the slot and the log's record once the retention after the end
// is over; slots whose marks an older version wrote read as before.
func TestDeliveryEndLeavesTheSlot(t *testing.T) {
	s := newStore(t, StoreOptions{DedupWindow: time.Hour, Retention: 2 * time.Hour})
	c := accept(t, s, "t1", alert("a", core.StatusFiring, 0))[0]
	before := slotBytes(t, s, "t1", "a")
	deliver(t, s, c)
	if after := slotBytes(t, s, "t1", "a"); !bytes.Equal(after, before) {
		t.Errorf("the end of the delivery rewrote the slot: %x, then %x", before, after)
	}
	if n := settledCount(t, s); n != 1 {
		t.Errorf("the settled log holds %d ends after one delivery, want 1", n)
	}
	if got := accept(t, s, "t1", alert("a", core.StatusFiring, 0))[0].State; got != StateAlreadyDelivered {
		t.Errorf("the delivered state's resend is %q, want already delivered", got)
	}

	// "b" as the version before the settled log left it: its slot marked
	// delivered, nothing pending.
	old := accept(t, s, "t1", alert("b", core.StatusFiring, 0))[0]
	if err := s.update(func(tx *boltTx) error {
		if err := s.pending(tx).Delete(encodeID(old.Delivery.ID)); err != nil {
			return err
		}
		return s.clearPending(tx, old.Delivery, true, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if got := accept(t, s, "t1", alert("b", core.StatusFiring, 0))[0].State; got != StateAlreadyDelivered {
		t.Errorf("the resend of a state an older version marked delivered is %q, want already delivered", got)
	}

	// "c" delivered at once, "e" an hour and a half after its acceptance.
	start := time.Now()
	deliver(t, s, accept(t, s, "t1", alert("c", core.StatusFiring, 0))[0])
	late := accept(t, s, "t1", alert("e", core.StatusFiring, 0))[0]
	if err := s.Record(start.Add(90*time.Minute), &Settlement{Delivery: late.Delivery, Fate: FateDone}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after      time.Duration
		c, e       bool
		settledLen int
	}{
		// Within the retention of both ends.
		{90 * time.Minute, true, true, 3},
		// Past the retention of c's end, within that of e's: their
		// block of ids stays with its newest end.
		{3 * time.Hour, false, true, 3},
		{4 * time.Hour, false, false, 0},
	} {
		if err := s.Prune(start.Add(tc.after)); err != nil {
			t.Fatal(err)
		}
		for _, slot := range []struct {
			fp   string
			want bool
		}{{"c", tc.c}, {"e", tc.e}} {
			if kept := slotBytes(t, s, "t1", slot.fp) != nil; kept != slot.want {
				t.Errorf("%v on, the retention pass kept the slot of %q: %v, want %v (retention 2h from the end of its delivery)", tc.after, slot.fp, kept, slot.want)
			}
		}
		if n := settledCount(t, s); n != tc.settledLen {
			t.Errorf("%v on, the settled log holds %d ends, want %d: they go with the retention", tc.after, n, tc.settledLen)
		}
	}
}

// TestSettledBeforeItsSlotIsAnother: a settled record older than the
// slot that names its id is the end of another delivery (ids a volatile
// store of an older version gave again after a restart), not of the
// slot's: the state's resend is accepted, not deduplicated.
func TestSettledBeforeItsSlotIsAnother(t *testing.T) {
	s := newStore(t, StoreOptions{Volatile: true, DedupWindow: time.Hour})
	lost := accept(t, s, "t1", alert("b", core.StatusFiring, 0))[0]
	if err := s.update(func(tx *boltTx) error {
		if err := s.pending(tx).Delete(encodeID(lost.Delivery.ID)); err != nil {
			return err
		}
		return writeSettled(tx, []settledEnd{{lost.Delivery.ID, time.Now().Add(-time.Minute)}})
	}); err != nil {
		t.Fatal(err)
	}
	if got := accept(t, s, "t1", alert("b", core.StatusFiring, 0))[0].State; got != StateAccepted {
		t.Errorf("the resend of a lost delivery whose id an older settled record has is %q, want accepted", got)
	}
}

// TestPruneBoundsDoneRecords: done records past the window go, and the
// newest MaxDone of the rest stay.
func TestPruneBoundsDoneRecords(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "outbox.db"), StoreOptions{DedupWindow: time.Hour, MaxDone: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	err = s.update(func(tx *boltTx) error {
		b := tx.Bucket(bucketDone)
		for i, age := range []time.Duration{120, 5, 4, 3, 2, 1} {
			if err := b.Put([]byte{byte('a' + i)}, encodeTime(now.Add(-age*time.Minute))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(now); err != nil {
		t.Fatalf("prune: %v", err)
	}
	var left []string
	_ = s.view(func(tx *boltTx) error {
		return tx.Bucket(bucketDone).ForEach(func(k, _ []byte) error {
			left = append(left, string(k))
			return nil
		})
	})
	if strings.Join(left, "") != "def" {
		t.Errorf("done records left %v, want the three newest [d e f]", left)
	}
}

// TestNewDeliveryEncodesAsDelivery: a record encoded at acceptance reads
// back as the Delivery it stands for.
func TestNewDeliveryEncodesAsDelivery(t *testing.T) {
	a := alert("fp", core.StatusFiring, 3)
	a.Alert.Labels["quote"] = `say "hi" <now>`
	alertJSON, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 1, 2, 3, 456789, time.UTC)
	for _, tp := range []string{"", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"} {
		raw := (&newDelivery{Target: `t"1`, Alert: alertJSON, AcceptedAt: at, NextAttempt: at, TraceParent: tp}).appendTo(nil)
		var d Delivery
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if d.Target != `t"1` || d.Alert.Alert.Labels["quote"] != a.Alert.Labels["quote"] || !d.AcceptedAt.Equal(at) || !d.NextAttempt.Equal(at) || d.TraceParent != tp {
			t.Errorf("decoded %+v from %s", d, raw)
		}
	}
}

// TestOutcomesWaitForACommit: an attempt's outcome (Record) does not start
// a commit of its own before it waited outcomeLinger: an acceptance that
// comes meanwhile takes it into its commit, and alone it is committed
// once the linger is over.
func TestOutcomesWaitForACommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := Open(filepath.Join(t.TempDir(), "outbox.db"), StoreOptions{})
		if err != nil {
			t.Fatalf("opening the store: %v", err)
		}
		defer s.Close()
		first := accept(t, s, "t", alert("a", core.StatusFiring, 0))[0]
		settle := func() <-chan error {
			done := make(chan error, 1)
			go func() { done <- s.Record(time.Now(), &Settlement{Delivery: first.Delivery, Fate: FateRetry}) }()
			return done
		}

		before := s.CommitStats()
		recorded := settle()
		time.Sleep(outcomeLinger / 2)
		synctest.Wait()
		if got := s.CommitStats().Commits - before.Commits; got != 0 {
			t.Fatalf("%d commits within half the linger of an outcome alone, want none yet", got)
		}
		accept(t, s, "t", alert("b", core.StatusFiring, 0))
		if err := <-recorded; err != nil {
			t.Fatalf("Record: %v", err)
		}
		after := s.CommitStats()
		if commits, writes := after.Commits-before.Commits, after.Writes-before.Writes; commits != 1 || writes != 2 {
			t.Errorf("an outcome and the acceptance that came within its linger took %d commits of %d writes, want one of two", commits, writes)
		}

		before = after
		start := time.Now()
		if err := <-settle(); err != nil {
			t.Fatalf("Record: %v", err)
		}
		if took := time.Since(start); took != outcomeLinger {
			t.Errorf("an outcome alone was committed after %s, want the linger, %s", took, outcomeLinger)
		}
		if got := s.CommitStats().Commits - before.Commits; got != 1 {
			t.Errorf("an outcome alone took %d commits, want one", got)
		}
	})
}

// acceptLater accepts alert fp for target t on a goroutine of its own.
func acceptLater(s *Store, fp string) <-chan error {
	done := make(chan error, 1)
	go func() {
		a := alert(fp, core.StatusFiring, 0)
		done <- s.Accept([]*Candidate{NewEncoder([]*core.EnrichedAlert{a}, time.Now(), "").Alert("t", 0)}, time.Now())
	}()
	return done
}

// crowd makes two acceptances share a commit, as concurrent webhooks'
// do: they queue while the committer is busy with a write of its own.
func crowd(t *testing.T, s *Store, fps ...string) {
	t.Helper()
	release := make(chan struct{})
	blocked := make(chan error, 1)
	go func() {
		blocked <- s.update(func(*boltTx) error {
			<-release
			return nil
		})
	}()
	synctest.Wait()
	var accepted []<-chan error
	for _, fp := range fps {
		accepted = append(accepted, acceptLater(s, fp))
	}
	synctest.Wait()
	before := s.CommitStats()
	close(release)
	for _, done := range append(accepted, blocked) {
		if err := <-done; err != nil {
			t.Fatalf("a write: %v", err)
		}
	}
	if got := s.CommitStats().Commits - before.Commits; got != 2 {
		t.Fatalf("the busy write and the acceptances queued behind it took %d commits, want 2", got)
	}
}

// TestAcceptancesWaitForOthersWhenCrowded: an acceptance commits at once
// while the acceptances come one at a time; after a commit that held
// several, it waits acceptLinger for others to share its commit, and one
// that comes meanwhile does; a store without fsync never waits.
func TestAcceptancesWaitForOthersWhenCrowded(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts StoreOptions
		wait time.Duration
	}{
		{"fsync", StoreOptions{}, acceptLinger},
		{"volatile", StoreOptions{Volatile: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, err := Open(filepath.Join(t.TempDir(), "outbox.db"), tc.opts)
				if err != nil {
					t.Fatalf("opening the store: %v", err)
				}
				defer s.Close()
				took := func(fp string) time.Duration {
					start := time.Now()
					accept(t, s, "t", alert(fp, core.StatusFiring, 0))
					return time.Since(start)
				}
				if d := took("lone"); d != 0 {
					t.Errorf("a lone acceptance waited %s, want none", d)
				}
				crowd(t, s, "c1", "c2")
				if d := took("after-crowd"); d != tc.wait {
					t.Errorf("an acceptance after a crowded commit was committed after %s, want %s", d, tc.wait)
				}
				if d := took("alone-again"); d != 0 {
					t.Errorf("an acceptance after a commit of one waited %s, want none", d)
				}
				if tc.wait == 0 {
					return
				}
				crowd(t, s, "c3", "c4")
				before := s.CommitStats()
				start := time.Now()
				first := acceptLater(s, "w1")
				time.Sleep(acceptLinger / 2)
				second := acceptLater(s, "w2")
				for _, done := range []<-chan error{first, second} {
					if err := <-done; err != nil {
						t.Fatalf("Accept: %v", err)
					}
				}
				if d := time.Since(start); d != acceptLinger {
					t.Errorf("two acceptances half the linger apart were committed after %s, want the linger from the first, %s", d, acceptLinger)
				}
				after := s.CommitStats()
				if commits, writes := after.Commits-before.Commits, after.Writes-before.Writes; commits != 1 || writes != 2 {
					t.Errorf("two acceptances within the linger took %d commits of %d writes, want one of two", commits, writes)
				}
			})
		})
	}
}

// TestDoneLogKnowsItsAlerts: the done bucket is searched for an alert's
// delivery only while it holds an alert's record (files written before
// the slots held the marks), whatever its fingerprint.
func TestDoneLogKnowsItsAlerts(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []string
		want bool
	}{
		{"empty", nil, false},
		{"notifications only", []string{"group\x00{}:{a=\"1\"}\x00digest\x00t1", "group\x00{}:{b=\"2\"}\x00digest\x00t2"}, false},
		{"an alert's", []string{"0123456789abcdef\x00firing\x001\x00t1", "group\x00{}\x00digest\x00t1"}, true},
		{"an alert's, not hex", []string{"group\x00{}\x00digest\x00t1", "zz\x00firing\x001\x00t1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, StoreOptions{})
			if err := s.update(func(tx *boltTx) error {
				for _, k := range tc.keys {
					if err := tx.Bucket(bucketDone).Put([]byte(k), encodeTime(time.Now())); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var got bool
			_ = s.view(func(tx *boltTx) error {
				got = doneIn(tx).alerts
				return nil
			})
			if got != tc.want {
				t.Errorf("done records %q: alerts %v, want %v", tc.keys, got, tc.want)
			}
		})
	}
}

// TestVolatileIDsOutliveRestarts: a volatile store numbers its deliveries
// after those of its runs before, so that the slot of a delivery a
// restart lost never names a delivery of the next run (whose resend
// would then be answered already pending and never sent), and a dead
// letter never replaces an older one.
func TestVolatileIDsOutliveRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	open := func() *Store {
		s, err := Open(path, StoreOptions{Volatile: true, DedupWindow: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	dead := accept(t, s, "t1", alert("d", core.StatusFiring, 0))[0]
	if err := s.Record(time.Now(), &Settlement{Delivery: dead.Delivery, Fate: FateDead}); err != nil {
		t.Fatal(err)
	}
	lost := accept(t, s, "t1", alert("b", core.StatusFiring, 0))[0]
	s.Close()
	if err := func() error {
		// As versions that did not keep the sequence left the file.
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			return err
		}
		defer db.Close()
		return db.Update(func(tx *bolt.Tx) error {
			if seq := tx.Bucket(bucketPending).Sequence(); seq != lost.Delivery.ID {
				t.Errorf("the file keeps the sequence %d, want the last id given, %d", seq, lost.Delivery.ID)
			}
			return tx.Bucket(bucketPending).SetSequence(0)
		})
	}(); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close()
	next := accept(t, s, "t1", alert("c", core.StatusFiring, 0), alert("e", core.StatusFiring, 0))
	if next[0].Delivery.ID <= lost.Delivery.ID {
		t.Errorf("after a restart the first delivery is numbered %d, not after the run before's %d and %d", next[0].Delivery.ID, dead.Delivery.ID, lost.Delivery.ID)
	}
	if got := accept(t, s, "t1", alert("b", core.StatusFiring, 0))[0].State; got != StateAccepted {
		t.Errorf("after a restart, the resend of a delivery the volatile store lost is %q, want accepted", got)
	}
	if err := s.Record(time.Now(), &Settlement{Delivery: next[1].Delivery, Fate: FateDead}); err != nil {
		t.Fatal(err)
	}
	if n := bucketLen(t, s, bucketDead); n != 2 {
		t.Errorf("%d dead letters after one in each run, want 2", n)
	}
}

// TestPruneBoundsSlots: beyond MaxDone the oldest slots whose deliveries
// ended go, and their settled records, while a slot with a delivery still
// pending stays whatever the bound.
func TestPruneBoundsSlots(t *testing.T) {
	s := newStore(t, StoreOptions{MaxDone: 3})
	for _, fp := range []string{"a", "b", "c", "d", "e"} {
		// Each acceptance is a commit of its own: their times differ.
		deliver(t, s, accept(t, s, "t1", alert(fp, core.StatusFiring, 0))[0])
	}
	accept(t, s, "t1", alert("p", core.StatusFiring, 0))
	if err := s.Prune(time.Now()); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, fp := range []string{"a", "b", "c", "d", "e", "p"} {
		if slotBytes(t, s, "t1", fp) != nil {
			left = append(left, fp)
		}
	}
	if got := strings.Join(left, ""); got != "cdep" {
		t.Errorf("slots left %v, want the three newest ended [c d e] and the pending p", left)
	}
	// The settled log is bounded by blocks of settledBlock ids: one
	// here, holding a to e.
	if n := bucketLen(t, s, bucketSettled); n != 1 {
		t.Errorf("%d blocks of the settled log left, want 1", n)
	}
}

// A new file takes the store's page size; a file made with the system's
// pages keeps them, and what it holds is read as before.
func TestPageSize(t *testing.T) {
	if got := newStore(t, StoreOptions{}).db.Info().PageSize; got != pageSize {
		t.Errorf("a new file has pages of %d bytes, want %d", got, pageSize)
	}
	path := systemPagedFile(t)
	s, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.db.Info().PageSize; got != 4096 {
		t.Errorf("a file made with 4096-byte pages opens with %d", got)
	}
	c := accept(t, s, "t1", alert("a", core.StatusFiring, 0))[0]
	if c.State != StateAccepted {
		t.Fatalf("accepted as %q", c.State)
	}
	deliver(t, s, c)
	if got := accept(t, s, "t1", alert("a", core.StatusFiring, 0))[0].State; got != StateAlreadyDelivered {
		t.Errorf("the resend of a delivered alert in a file of 4096-byte pages is %q, want %q", got, StateAlreadyDelivered)
	}
}

// systemPagedFile makes an empty bbolt file with 4 KiB pages, as the
// store made them before pageSize, and returns its path.
func systemPagedFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	old, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// A file that became mostly free pages is compacted at open: smaller,
// with the store's page size where it had the system's, and its pending
// deliveries are still there.
func TestCompactAtOpen(t *testing.T) {
	defer func(n int64) { compactMinBytes = n }(compactMinBytes)
	compactMinBytes = 1 << 20
	path := systemPagedFile(t)
	s, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := accept(t, s, "t1", alert("kept", core.StatusFiring, 0))[0]
	// A storm's records, written and pruned: the file keeps their pages.
	filler := bytes.Repeat([]byte("x"), 1000)
	for _, del := range []bool{false, true} {
		err := s.update(func(tx *boltTx) error {
			b := tx.Bucket(bucketDone)
			for i := range 8000 {
				key := fmt.Appendf(nil, "filler-%06d", i)
				if del {
					if err := b.Delete(key); err != nil {
						return err
					}
				} else if err := b.Put(key, filler); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// A read makes the writes reach the file, from the log.
		if err := s.view(func(*boltTx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size()*2 > before.Size() {
		t.Errorf("the file has %d bytes after compaction, %d before: want under half", after.Size(), before.Size())
	}
	if got := s.db.Info().PageSize; got != pageSize {
		t.Errorf("the compacted file has pages of %d bytes, want %d", got, pageSize)
	}
	var ids []uint64
	if err := s.Load(func(c *Candidate) { ids = append(ids, c.Delivery.ID) }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != c.Delivery.ID {
		t.Errorf("pending after compaction: %v, want the delivery %d", ids, c.Delivery.ID)
	}
}
