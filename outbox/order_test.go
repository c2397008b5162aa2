package outbox

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// firing is alert "a" firing since start after the epoch.
func firing(start time.Duration) *core.EnrichedAlert {
	return &core.EnrichedAlert{Alert: core.Alert{
		Fingerprint: "a", Status: core.StatusFiring, StartsAt: epoch.Add(start),
		Labels: map[string]string{"alertname": "Testa"},
	}}
}

// resolved is alert "a" resolved, with the start and end (after the epoch)
// Alertmanager sends.
func resolved(start, end time.Duration) *core.EnrichedAlert {
	a := firing(start)
	a.Alert.Status, a.Alert.EndsAt = core.StatusResolved, epoch.Add(end)
	return a
}

func stateOf(a *core.EnrichedAlert) string {
	s := fmt.Sprintf("%s@%v", a.Alert.Status, a.Alert.StartsAt.Sub(epoch))
	if a.Alert.Status == core.StatusResolved {
		s += fmt.Sprintf("-%v", a.Alert.EndsAt.Sub(epoch))
	}
	return s
}

// TestOldSlotRecordsStillOrder: ordering records written before the mark
// existed (32 bytes) are read as the order they were written by knew them.
func TestOldSlotRecordsStillOrder(t *testing.T) {
	const m = time.Minute
	for _, tc := range []struct {
		name     string
		startsAt time.Duration
		resolved bool
		next     *core.EnrichedAlert
		want     string
	}{
		{"a firing of a resolved state's start is stale", 10 * m, true, firing(10 * m), StateStale},
		{"a firing after a resolved state's start opens an episode", 10 * m, true, firing(11 * m), StateAccepted},
		{"an amtool resolve after a firing ends it", 10 * m, false, resolved(5*m, 5*m), StateAccepted},
		{"an older firing after a firing is stale", 10 * m, false, firing(5 * m), StateStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			s := newStoreAt(t, path)
			// start, time of change, resolved, pending id; in the latest
			// bucket of the versions before the slots' log, which opening
			// the file moves into the log.
			old := slices.Concat(encodeTime(epoch.Add(tc.startsAt)), encodeTime(epoch),
				encodeID(map[bool]uint64{false: 0, true: 1}[tc.resolved]), encodeID(0))
			err := s.update(func(tx *boltTx) error {
				b, err := tx.CreateBucketIfNotExists(bucketLatest)
				if err != nil {
					return err
				}
				return b.Put(fileKey(slotKey("t1", "a")), old)
			})
			if err != nil {
				t.Fatalf("writing an old ordering record: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = newStoreAt(t, path)
			if got := accept(t, s, "t1", tc.next)[0].State; got != tc.want {
				t.Errorf("%s after an old record: %q, want %q", stateOf(tc.next), got, tc.want)
			}
		})
	}
}
