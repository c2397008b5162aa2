package outbox

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
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

// A bound larger than one pruning transaction: the records go in
// chunks, each a write of its own, and exactly the newest keep stay even
// where many share the time at the bound's floor and the ties straddle
// the chunks.
func TestPruneInChunks(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	const (
		old, recent, keep = 2000, 3*pruneChunk + 7, 4321
	)
	s, err := Open(filepath.Join(t.TempDir(), "outbox.db"), StoreOptions{DeadLetterRetention: 24 * time.Hour, MaxDeadLetters: keep})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Keys in a shuffled order of times, a hundred records a minute.
	deadAtOf := func(i int) time.Time {
		if i < old {
			return now.Add(-48*time.Hour - time.Duration(i)*time.Second)
		}
		return now.Add(-time.Duration((i*7919)%recent/100) * time.Minute)
	}
	err = s.update(func(tx *bolt.Tx) error {
		for i := range old + recent {
			v, _ := json.Marshal(Delivery{Target: "t", DeadAt: deadAtOf(i), DeadReason: "permanent failure"})
			if err := tx.Bucket(bucketDead).Put(encodeID(uint64(i+1)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := s.CommitStats().Commits
	byAge, byCount, err := s.PruneDeadLetters(now)
	if err != nil {
		t.Fatal(err)
	}
	if byAge != old || byCount != recent-keep {
		t.Errorf("dropped %d by age and %d by count, want %d and %d", byAge, byCount, old, recent-keep)
	}
	if n := s.CommitStats().Commits - before; n < (old+recent)/pruneChunk {
		t.Errorf("pruned in %d commits, want one for each %d records read", n, pruneChunk)
	}
	var left []time.Time
	_ = s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDead).ForEach(func(k, _ []byte) error {
			left = append(left, deadAtOf(int(decodeID(k))-1))
			return nil
		})
	})
	if len(left) != keep {
		t.Fatalf("%d dead letters left, want %d", len(left), keep)
	}
	// The newest keep: none left is older than one dropped.
	oldestLeft := slices.MinFunc(left, time.Time.Compare)
	newer, newerLeft := 0, 0
	for i := old; i < old+recent; i++ {
		if deadAtOf(i).After(oldestLeft) {
			newer++
		}
	}
	for _, at := range left {
		if at.After(oldestLeft) {
			newerLeft++
		}
	}
	if newerLeft != newer {
		t.Errorf("%d records newer than the oldest left, %d of them left: a newer record went before an older one", newer, newerLeft)
	}
}
