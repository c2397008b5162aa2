package outbox

import (
	"container/heap"
	"encoding/json"
	"time"
)

// Prune removes done records older than the dedup window, ordering state
// and settled records older than the retention with nothing pending,
// delivery history not changed within the retention, the oldest of each
// beyond MaxDone, and expired publisher state. Freed pages are reused by later
// writes; Open compacts a file that became mostly free.
//
// Each bucket is pruned in transactions of pruneChunk records, so that a
// storm's million records to drop are neither held in memory at once nor
// one long commit that the acceptances wait behind.
func (s *Store) Prune(now time.Time) error {
	cutoff := now.Add(-s.opts.Retention)
	if _, _, err := s.prune(pruning{bucket: bucketDone, cutoff: now.Add(-s.opts.DedupWindow), keep: s.opts.MaxDone, timeOf: decodeTime}); err != nil {
		return err
	}
	// The slots first: their deliveries' ends are read from the settled
	// log, which goes next.
	if _, _, err := s.pruneSlots(cutoff); err != nil {
		return err
	}
	for _, p := range []pruning{
		// Kept for the retention rather than the dedup window: a slot
		// whose delivery ended reads the time of the end from here, and
		// its retention counts from that.
		{bucket: bucketSettled, cutoff: cutoff, keep: max(1, s.opts.MaxDone/settledBlock), timeOf: settledChanged},
		{bucket: bucketHistory, cutoff: cutoff, keep: s.opts.MaxDone, timeOf: historyChanged},
		statePruning(now),
	} {
		if _, _, err := s.prune(p); err != nil {
			return err
		}
	}
	return nil
}

// PruneDeadLetters drops dead letters older than DeadLetterRetention, then the
// oldest beyond MaxDeadLetters, and says how many of each it dropped.
func (s *Store) PruneDeadLetters(now time.Time) (byAge, byCount int, err error) {
	return s.prune(pruning{bucket: bucketDead, cutoff: now.Add(-s.opts.DeadLetterRetention), keep: s.opts.MaxDeadLetters, timeOf: deadAt})
}

// deadAt reads when a stored dead letter died; a record it cannot read
// counts as just now, so it is kept for a retention period.
func deadAt(v []byte) time.Time {
	var d struct {
		DeadAt time.Time `json:"dead_at"`
	}
	if json.Unmarshal(v, &d) != nil || d.DeadAt.IsZero() {
		return time.Now()
	}
	return d.DeadAt
}

// pruneChunk is how many records one pruning transaction reads.
const pruneChunk = 4096

// pruning is how one bucket is pruned: the records whose time is before
// cutoff go, then the oldest until at most keep remain (0: no bound, as
// for the publisher state). A zero time keeps a record whatever the
// bounds. timeOf reads a record's time from its value.
type pruning struct {
	bucket []byte
	cutoff time.Time
	keep   int
	timeOf func([]byte) time.Time
}

// prune applies p and says how many records it deleted for their age and
// how many for the bound. It first finds, reading, the oldest time the
// bound keeps; then deletes in transactions of pruneChunk records each,
// shared with the commits of other writes, each resuming at the key
// after the last one the chunk before it read. A record that changes
// meanwhile is judged as it is when its chunk reads it.
func (s *Store) prune(p pruning) (aged, over int, err error) {
	var b bound
	if err := s.view(func(tx *txn) error {
		b = boundOf(tx.Bucket(p.bucket), p.cutoff, p.keep, p.timeOf)
		return nil
	}); err != nil {
		return 0, 0, err
	}
	var from []byte
	for {
		var (
			next  []byte
			after bound
			a, o  int
		)
		// The write may run twice (store.update): it starts from the
		// state of the last commit each time.
		err := s.updateLazily(func(tx *txn) error {
			var err error
			after = b
			next, a, o, err = pruneChunkOf(tx.Bucket(p.bucket), from, p.cutoff, &after, p.timeOf)
			return err
		})
		if err != nil {
			return aged, over, err
		}
		aged, over, b = aged+a, over+o, after
		if next == nil {
			return aged, over, nil
		}
		from = next
	}
}

// bound is what the count bound drops: the records older than floor,
// and the first ties of those at floor in key order. A zero floor drops
// none.
type bound struct {
	floor time.Time
	ties  int
}

// drops says whether the bound drops a record of time at, counting it
// against the ties when it does.
func (b *bound) drops(at time.Time) bool {
	switch {
	case b.floor.IsZero() || at.After(b.floor):
		return false
	case at.Before(b.floor):
		return true
	case b.ties > 0:
		b.ties--
		return true
	}
	return false
}

// boundOf reads the records of b that the cutoff leaves and finds what
// the bound of keep drops of them, holding the keep newest times, not
// the records, in one pass: every time it drops is no later than the
// heap's floor as it then is, and so no later than the final one, so the
// records at the final floor beyond the heap's are those dropped at the
// latest time dropped, when that is the floor.
func boundOf(b *bucket, cutoff time.Time, keep int, timeOf func([]byte) time.Time) bound {
	if keep == 0 {
		return bound{}
	}
	var (
		newest nanosHeap
		n      int
		// The latest time dropped and how many were dropped at it.
		dropped int64
		drops   int
	)
	drop := func(ns int64) {
		switch {
		case drops == 0 || ns > dropped:
			dropped, drops = ns, 1
		case ns == dropped:
			drops++
		}
	}
	_ = b.ForEach(func(_, v []byte) error {
		at := timeOf(v)
		if at.IsZero() || at.Before(cutoff) {
			return nil
		}
		ns := at.UnixNano()
		n++
		switch {
		case len(newest) < keep:
			// Filled first, made a heap once full: heap.Push would box
			// every time.
			newest = append(newest, ns)
			if len(newest) == keep {
				heap.Init(&newest)
			}
		case ns > newest[0]:
			drop(newest[0])
			newest[0] = ns
			heap.Fix(&newest, 0)
		default:
			drop(ns)
		}
		return nil
	})
	if n <= keep {
		return bound{}
	}
	floor, ties := newest[0], 0
	if dropped == floor {
		ties = drops
	}
	return bound{floor: time.Unix(0, floor), ties: ties}
}

// nanosHeap is a min-heap of unix nanoseconds.
type nanosHeap []int64

func (h nanosHeap) Len() int           { return len(h) }
func (h nanosHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h nanosHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nanosHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *nanosHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// pruneChunkOf reads up to pruneChunk records of b from key from (nil:
// the first) and deletes those before cutoff or that the bound drops. It
// returns the key to resume from, nil at the end, and how many it deleted
// for their age and for the bound.
func pruneChunkOf(b *bucket, from []byte, cutoff time.Time, bd *bound, timeOf func([]byte) time.Time) (next []byte, aged, over int, err error) {
	c := b.Cursor()
	k, v := c.First()
	if from != nil {
		k, v = c.Seek(from)
	}
	var drop [][]byte
	for read := 0; k != nil && read < pruneChunk; k, v = c.Next() {
		read++
		at := timeOf(v)
		switch {
		case at.IsZero():
			// Kept whatever the bounds.
			continue
		case at.Before(cutoff):
			aged++
		case bd.drops(at):
			over++
		default:
			continue
		}
		drop = append(drop, append([]byte(nil), k...))
	}
	if k != nil {
		next = append([]byte(nil), k...)
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return nil, 0, 0, err
		}
	}
	return next, aged, over, nil
}
