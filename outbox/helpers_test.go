package outbox

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

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
func newStore(t *testing.T, opts StoreOptions) *Store {
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
func accept(t *testing.T, s *Store, target string, alerts ...*core.EnrichedAlert) []*Candidate {
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

type boltTx = bolt.Tx
