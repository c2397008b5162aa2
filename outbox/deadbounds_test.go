package outbox

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync/atomic"
	"testing"
	"time"
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
	err = s.update(func(tx *boltTx) error {
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
	_ = s.view(func(tx *boltTx) error {
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
	err = s.update(func(tx *boltTx) error {
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
	_ = s.view(func(tx *boltTx) error {
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

// Pruning a storm's records holds a chunk of them in memory at a time,
// not all of them: 300 000 done records past the dedup window go with
// the heap's live objects growing by about 1 MiB, where deleting them in
// one transaction held 22 MiB (their keys, and the pages read in to
// delete from).
func TestPruneHoldsLittleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 300 000 records")
	}
	s := newStore(t, StoreOptions{DedupWindow: time.Hour, MaxDone: 1 << 20})
	now := time.Now()
	const n = 300000
	err := s.update(func(tx *boltTx) error {
		b := tx.Bucket(bucketDone)
		b.FillPercent = 1
		for i := range n {
			key := fmt.Appendf(nil, "%064d", i)
			if err := b.Put(key, encodeTime(now.Add(-2*time.Hour))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A read makes them reach the file (a checkpoint), before the
	// measurement.
	if err := s.view(func(*boltTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// A collection at every 5 % of growth: the heap's objects are then
	// what pruning holds, not the garbage it left.
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := heap()
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if h := heap(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	err = s.Prune(now)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if left := bucketLen(t, s, bucketDone); left != 0 {
		t.Fatalf("%d done records left, want none", left)
	}
	grew := float64(peak.Load()-min(base, peak.Load())) / (1 << 20)
	t.Logf("the heap's objects grew by at most %.1f MiB while pruning %d records", grew, n)
	if grew > 8 {
		t.Errorf("the heap's objects grew by %.1f MiB while pruning, want a chunk's worth (under 8 MiB)", grew)
	}
}
