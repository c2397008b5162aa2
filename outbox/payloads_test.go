package outbox

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/am-fanout/am-fanout/core"
)

// fanOut accepts the deliveries of alerts to every target, as one
// notification's, and returns each alert's candidates.
func fanOut(t *testing.T, s *Store, targets []string, alerts ...*core.EnrichedAlert) [][]*Candidate {
	t.Helper()
	enc := NewEncoder(alerts, time.Now(), "")
	var all []*Candidate
	byAlert := make([][]*Candidate, len(alerts))
	for i := range alerts {
		for _, target := range targets {
			c := enc.Alert(target, i)
			byAlert[i] = append(byAlert[i], c)
			all = append(all, c)
		}
	}
	if err := s.Accept(all, time.Now()); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	return byAlert
}

// fileRecordsOf reads, in the committer, the pending records and the
// payloads the file holds.
func fileRecordsOf(t *testing.T, s *Store) (shared, inline, payloads int) {
	t.Helper()
	err := s.peek(func(tx *txn) error {
		if err := tx.Bucket(bucketPending).ForEach(func(_, v []byte) error {
			if _, ok := sharedRef(v); ok {
				shared++
			} else {
				inline++
			}
			return nil
		}); err != nil {
			return err
		}
		// Stats would read the pages, not the open transaction's nodes.
		return tx.Bucket(bucketPayloads).ForEach(func(_, _ []byte) error {
			payloads++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return shared, inline, payloads
}

func end(t *testing.T, s *Store, fate Fate, cands ...*Candidate) {
	t.Helper()
	for _, c := range cands {
		if err := s.Record(time.Now(), &Settlement{Delivery: c.Delivery, Fate: fate}); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
}

// An alert fanned out to several targets is written once: each of its
// pending records names it, each reads back whole, and the last of them
// to leave (delivered, dead, superseded or updated in place by a retry)
// takes it along.
func TestSharedAlertIsWrittenOnce(t *testing.T) {
	s := newStore(t, StoreOptions{})
	targets := []string{"t1", "t2", "t3"}
	a, b := alert("a", core.StatusFiring, 1), alert("b", core.StatusFiring, 1)
	a.Alert.Annotations = map[string]string{"summary": `disk "full" <soon>`}
	byAlert := fanOut(t, s, targets, a, b)
	if shared, inline, payloads := fileRecordsOf(t, s); shared != 6 || inline != 0 || payloads != 2 {
		t.Fatalf("after the acceptance the file holds %d shared and %d inline records and %d alerts; want 6, 0 and 2", shared, inline, payloads)
	}
	for i, cands := range byAlert {
		for _, c := range cands {
			d, err := s.Read(c.Delivery.ID)
			if err != nil || d == nil {
				t.Fatalf("Read(%d): %v, %v", c.Delivery.ID, d, err)
			}
			if d.Target != c.Delivery.Target || !reflect.DeepEqual(d.Alert.Alert, []*core.EnrichedAlert{a, b}[i].Alert) {
				t.Errorf("Read(%d) = target %q, alert %+v; want %q, %+v", c.Delivery.ID, d.Target, d.Alert.Alert, c.Delivery.Target, []*core.EnrichedAlert{a, b}[i].Alert)
			}
		}
	}

	// a: delivered to t1, retried at t2 (written back whole), dead at
	// t3; its alert goes with the last of the three.
	end(t, s, FateDone, byAlert[0][0])
	byAlert[0][1].Delivery.Attempts, byAlert[0][1].Delivery.LastError = 1, "503"
	end(t, s, FateRetry, byAlert[0][1])
	if shared, inline, payloads := fileRecordsOf(t, s); shared != 4 || inline != 1 || payloads != 2 {
		t.Fatalf("after a delivery and a retry: %d shared, %d inline, %d alerts; want 4, 1, 2", shared, inline, payloads)
	}
	end(t, s, FateDead, byAlert[0][2])
	if shared, inline, payloads := fileRecordsOf(t, s); shared != 3 || inline != 1 || payloads != 1 {
		t.Fatalf("after a's last shared record left: %d shared, %d inline, %d alerts; want 3, 1, 1", shared, inline, payloads)
	}
	if d, err := s.Read(byAlert[0][1].Delivery.ID); err != nil || d == nil || d.Attempts != 1 || d.Alert.Alert.Annotations["summary"] != a.Alert.Annotations["summary"] {
		t.Errorf("the retried delivery reads back as %+v, %v; want its alert and its attempt", d, err)
	}
	dead, _, err := s.DeadLetters(Selection{}, Page{})
	if err != nil || len(dead) != 1 || dead[0].Fingerprint != "a" || dead[0].AlertName != "Testa" {
		t.Fatalf("dead letters %+v, %v; want a's to t3, whole", dead, err)
	}

	// b: a newer state supersedes its deliveries; its first alert goes
	// once the last of them is superseded, the new one stays.
	b2 := alert("b", core.StatusResolved, 1)
	b2.Alert.EndsAt = b2.Alert.StartsAt.Add(time.Minute)
	fanOut(t, s, targets[:2], b2)
	if shared, _, payloads := fileRecordsOf(t, s); shared != 3 || payloads != 2 {
		t.Fatalf("after b's resolve to two targets: %d shared, %d alerts; want 3 (b at t3, the resolve twice), 2", shared, payloads)
	}
	fanOut(t, s, targets[2:], b2)
	if shared, inline, payloads := fileRecordsOf(t, s); shared != 2 || inline != 2 || payloads != 1 {
		t.Fatalf("after b's resolve to the third alone: %d shared, %d inline, %d alerts; want 2, 2 (a's retry, the resolve to one target), 1", shared, inline, payloads)
	}
}

// Opening the store counts the records that name each alert again, from
// the file: the alert goes with the last record after a restart and
// after a crash as before, and one no record names is deleted.
func TestSharedAlertAfterARestart(t *testing.T) {
	for _, how := range []string{"close", "crash"} {
		t.Run(how, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			s := newStoreAt(t, path)
			byAlert := fanOut(t, s, []string{"t1", "t2", "t3"}, alert("a", core.StatusFiring, 1))
			end(t, s, FateDone, byAlert[0][0])
			if how == "crash" {
				crash(t, s)
			} else if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = newStoreAt(t, path)
			var loaded []*Candidate
			if err := s.Load(func(c *Candidate) { loaded = append(loaded, c) }); err != nil {
				t.Fatal(err)
			}
			if len(loaded) != 2 {
				t.Fatalf("loaded %d deliveries, want 2", len(loaded))
			}
			for _, c := range loaded {
				if c.Delivery.Alert.Alert.Fingerprint != "a" || c.Size() != byAlert[0][1].Size() {
					t.Errorf("loaded %+v of %d bytes; want a's delivery of %d", c.Delivery.Alert.Alert, c.Size(), byAlert[0][1].Size())
				}
			}
			end(t, s, FateDone, loaded[0])
			if _, _, payloads := fileRecordsOf(t, s); payloads != 1 {
				t.Fatalf("%d alerts with one record naming it left, want 1", payloads)
			}
			end(t, s, FateDone, loaded[1])
			if shared, inline, payloads := fileRecordsOf(t, s); shared+inline+payloads != 0 {
				t.Fatalf("after the last delivery: %d shared, %d inline, %d alerts; want none", shared, inline, payloads)
			}
		})
	}

	t.Run("orphan", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "outbox.db")
		s := newStoreAt(t, path)
		fanOut(t, s, []string{"t1", "t2"}, alert("a", core.StatusFiring, 1))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPayloads).Put(encodeID(999), []byte(`{}`)) }); err != nil {
			t.Fatal(err)
		}
		db.Close()
		s = newStoreAt(t, path)
		if shared, _, payloads := fileRecordsOf(t, s); shared != 2 || payloads != 1 {
			t.Errorf("after opening a file with an alert no record names: %d shared, %d alerts; want 2 and 1", shared, payloads)
		}
	})
}

// A write that fails leaves the counts as they were: the alert its
// records named stays until the last of them goes.
func TestSharedAlertFailedWrite(t *testing.T) {
	s := newStore(t, StoreOptions{})
	byAlert := fanOut(t, s, []string{"t1", "t2"}, alert("a", core.StatusFiring, 1))
	bad := errors.New("bad write")
	err := s.update(func(tx *txn) error {
		if err := s.pending(tx).Delete(encodeID(byAlert[0][0].Delivery.ID)); err != nil {
			return err
		}
		return bad
	})
	if !errors.Is(err, bad) {
		t.Fatalf("the failing write: %v, want %v", err, bad)
	}
	end(t, s, FateDone, byAlert[0][1])
	if shared, _, payloads := fileRecordsOf(t, s); shared != 1 || payloads != 1 {
		t.Fatalf("after a failed delete and one delivery: %d shared, %d alerts; want 1 and 1", shared, payloads)
	}
	end(t, s, FateDone, byAlert[0][0])
	if shared, _, payloads := fileRecordsOf(t, s); shared != 0 || payloads != 0 {
		t.Errorf("after both deliveries: %d shared, %d alerts; want none", shared, payloads)
	}
}

// An alert that goes to one target is written whole, in its record.
func TestSharedAlertOneTarget(t *testing.T) {
	s := newStore(t, StoreOptions{})
	fanOut(t, s, []string{"t1"}, alert("a", core.StatusFiring, 1), alert("b", core.StatusFiring, 1))
	if shared, inline, payloads := fileRecordsOf(t, s); shared != 0 || inline != 2 || payloads != 0 {
		t.Errorf("two alerts to one target: %d shared, %d inline records, %d alerts; want 0, 2, 0", shared, inline, payloads)
	}
}

// A volatile store's records in memory hold their alert; its file holds
// no shared alert.
func TestSharedAlertVolatile(t *testing.T) {
	s := newStore(t, StoreOptions{Volatile: true})
	byAlert := fanOut(t, s, []string{"t1", "t2"}, alert("a", core.StatusFiring, 1))
	if shared, inline, payloads := fileRecordsOf(t, s); shared+inline+payloads != 0 {
		t.Errorf("a volatile store's file holds %d shared, %d inline records and %d alerts; want none", shared, inline, payloads)
	}
	d, err := s.Read(byAlert[0][1].Delivery.ID)
	if err != nil || d == nil || d.Alert.Alert.Fingerprint != "a" {
		t.Errorf("Read: %+v, %v; want a's delivery", d, err)
	}
}

// A candidate that shares its alert encodes, whole, as its delivery
// does (what a JetStream store publishes), and its size is that
// record's.
func TestSharedCandidateInline(t *testing.T) {
	a := alert("a", core.StatusFiring, 1)
	c := NewEncoder([]*core.EnrichedAlert{a}, epoch, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").Alert("t1", 0)
	size := c.Size()
	raw := c.inline()
	if len(raw) != size {
		t.Errorf("the record is %d bytes, its size says %d", len(raw), size)
	}
	var got Delivery
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	got.Memo = c.Delivery.Memo
	if !reflect.DeepEqual(&got, c.Delivery) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, *c.Delivery)
	}
}

// Once accepted, a candidate holds neither its record nor its alert's
// JSON: the answers and lanes it goes on to need neither, and a large
// notification's would stay in memory as long as they do.
func TestAcceptLetsGoOfRecords(t *testing.T) {
	s := newStore(t, StoreOptions{})
	for _, targets := range [][]string{{"t1"}, {"t1", "t2"}} {
		for _, cands := range fanOut(t, s, targets, alert("a"+targets[len(targets)-1], core.StatusFiring, 1)) {
			for _, c := range cands {
				if c.data != nil || c.rec != nil || c.payload != nil || c.State != StateAccepted {
					t.Errorf("%d targets: after Accept the candidate holds %d bytes of record, %d of shared record, alert %v; state %q",
						len(targets), len(c.data), len(c.rec), c.payload != nil, c.State)
				}
			}
		}
	}
}
