package outbox

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Dead letters older than the retention go, then the oldest beyond the
// count bound; each is counted by why it went.
func TestDeadLetterBounds(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	s, err := Open(filepath.Join(t.TempDir(), "outbox.db"), StoreOptions{DeadLetterRetention: 24 * time.Hour, MaxDeadLetters: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ages := []time.Duration{72 * time.Hour, 30 * time.Hour, 5 * time.Hour, 4 * time.Hour, 3 * time.Hour, 2 * time.Hour, time.Hour}
	err = s.update(func(tx *bolt.Tx) error {
		for i, age := range ages {
			v, _ := json.Marshal(Delivery{Target: "t", DeadAt: now.Add(-age), DeadReason: "permanent failure"})
			if err := tx.Bucket(bucketDead).Put(encodeID(uint64(i+1)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	byAge, byCount, err := s.PruneDeadLetters(now)
	if err != nil {
		t.Fatal(err)
	}
	if byAge != 2 || byCount != 2 {
		t.Errorf("PruneDeadLetters dropped %d by age and %d by count, want 2 and 2", byAge, byCount)
	}
	var left []uint64
	_ = s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDead).ForEach(func(k, _ []byte) error {
			left = append(left, decodeID(k))
			return nil
		})
	})
	if fmt.Sprint(left) != "[5 6 7]" {
		t.Errorf("dead letters left %v, want the three newest [5 6 7]", left)
	}
}
