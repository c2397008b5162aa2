package outbox

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// alert is a firing or resolved alert that started minute minutes after
// the epoch.
func alert(fp string, status core.AlertStatus, minute int) *core.EnrichedAlert {
	return &core.EnrichedAlert{Alert: core.Alert{
		Fingerprint: fp, Status: status, StartsAt: epoch.Add(time.Duration(minute) * time.Minute),
		Labels: map[string]string{"alertname": "Test" + fp},
	}}
}

// newStore opens a store in the test's directory, closed at its end.
func newStore(t testing.TB, opts StoreOptions) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "outbox.db"), opts)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// accept offers the deliveries of alerts to target and returns what the
// store decided for each.
func accept(t *testing.T, s interface {
	Accept([]*Candidate, time.Time) error
}, target string, alerts ...*core.EnrichedAlert) []*Candidate {
	t.Helper()
	enc := NewEncoder(alerts, time.Now(), "")
	cands := make([]*Candidate, len(alerts))
	for i := range alerts {
		cands[i] = enc.Alert(target, i)
	}
	if err := s.Accept(cands, time.Now()); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	return cands
}

type boltTx = txn

// contractStore is what the store contract tests use of a store; both
// stores have it.
type contractStore interface {
	Accept(cands []*Candidate, now time.Time) error
	Record(now time.Time, ss ...*Settlement) error
	Read(id uint64) (*Delivery, error)
	Load(fn func(*Candidate)) error
	DeadLetters(sel Selection, page Page) ([]DeadLetter, uint64, error)
	Histories(q HistoryQuery) ([]History, error)
	Replay(sel Selection, now time.Time) ([]Replayed, []*Candidate, error)
	Purge(sel Selection) (int, error)
	Close() error
}

// storeKind opens one kind of store for the contract tests: open returns
// a function that opens the same store again each time it is called
// (after the one before was closed).
type storeKind struct {
	name string
	open func(t *testing.T, opts StoreOptions) func() contractStore
}

var storeKinds = []storeKind{
	{"bbolt", func(t *testing.T, opts StoreOptions) func() contractStore {
		path := filepath.Join(t.TempDir(), "outbox.db")
		return func() contractStore {
			s, err := Open(path, opts)
			if err != nil {
				t.Fatalf("opening the store: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
	{"jetstream", func(t *testing.T, opts StoreOptions) func() contractStore {
		srv := runJetStream(t)
		return func() contractStore { return openJetStream(t, []string{srv.ClientURL()}, 1, opts) }
	}},
}

// eachStore runs test against each kind of store; fresh opens a new
// store of the kind, and returns how to open it again.
func eachStore(t *testing.T, test func(t *testing.T, fresh func(t *testing.T) func() contractStore)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			test(t, func(t *testing.T) func() contractStore { return k.open(t, StoreOptions{}) })
		})
	}
}

// committedSlot is the sequence of the slot key's newest record as last
// committed, read in a write of the store's own, as the index is only
// ever read and changed by the committer.
func committedSlot(t testing.TB, s *Store, key []byte) (seq uint64, ok bool) {
	t.Helper()
	if err := s.update(func(*boltTx) error {
		seq, ok = s.slots.seq(key)
		return nil
	}); err != nil {
		t.Fatalf("reading the slot index: %v", err)
	}
	return seq, ok
}
