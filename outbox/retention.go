package outbox

import (
	"encoding/json"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Prune removes done records older than the dedup window, ordering state
// and settled records older than the retention with nothing pending,
// delivery history not changed within the retention, the oldest of each
// beyond MaxDone, and expired publisher state. Freed pages are reused by later
// writes; Open compacts a file that became mostly free.
func (s *Store) Prune(now time.Time) error {
	return s.update(func(tx *bolt.Tx) error {
		if _, _, err := pruneBucket(tx.Bucket(bucketDone), now.Add(-s.opts.DedupWindow), s.opts.MaxDone, decodeTime); err != nil {
			return err
		}
		// The slots first: their deliveries' ends are read from the
		// settled log, which goes next.
		pending, settled := s.pending(tx), seek(tx.Bucket(bucketSettled))
		cutoff := now.Add(-s.opts.Retention)
		_, _, err := pruneBucket(tx.Bucket(bucketLatest), cutoff, s.opts.MaxDone, func(v []byte) time.Time {
			st, ok := decodeSlot(v)
			if !ok || st.Pending != 0 && pending.Get(encodeID(st.Pending)) != nil {
				// Never forget the order of an alert with a pending state.
				return time.Time{}
			}
			if st.At.Before(cutoff) {
				// The end of its delivery, if it was delivered, is
				// later than its acceptance: only a slot older than the
				// retention needs to read it. The others go by their
				// acceptance when the bound is reached.
				settle(&st, pending, settled)
			}
			return st.At
		})
		if err != nil {
			return err
		}
		// Kept for the retention rather than the dedup window: a slot
		// whose delivery ended reads the time of the end from here, and
		// its retention counts from that.
		if _, _, err := pruneBucket(tx.Bucket(bucketSettled), cutoff, max(1, s.opts.MaxDone/settledBlock), settledChanged); err != nil {
			return err
		}
		if _, _, err := pruneBucket(tx.Bucket(bucketHistory), now.Add(-s.opts.Retention), s.opts.MaxDone, historyChanged); err != nil {
			return err
		}
		return pruneState(tx, now)
	})
}

// PruneDeadLetters drops dead letters older than DeadLetterRetention, then the
// oldest beyond MaxDeadLetters, and says how many of each it dropped.
func (s *Store) PruneDeadLetters(now time.Time) (byAge, byCount int, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		var err error
		byAge, byCount, err = pruneBucket(tx.Bucket(bucketDead), now.Add(-s.opts.DeadLetterRetention), s.opts.MaxDeadLetters, deadAt)
		return err
	})
	return byAge, byCount, err
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

// pruneBucket deletes the records whose time is before cutoff, then the
// oldest until at most keep remain, and says how many of each it deleted.
// A zero time keeps a record.
func pruneBucket(b *bolt.Bucket, cutoff time.Time, keep int, timeOf func([]byte) time.Time) (aged, over int, err error) {
	type rec struct {
		key []byte
		at  time.Time
	}
	var old, kept []rec
	err = b.ForEach(func(k, v []byte) error {
		r := rec{key: append([]byte(nil), k...), at: timeOf(v)}
		switch {
		case r.at.IsZero():
			// Kept whatever the bounds.
		case r.at.Before(cutoff):
			old = append(old, r)
		default:
			kept = append(kept, r)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	aged = len(old)
	if extra := len(kept) - keep; extra > 0 {
		slices.SortFunc(kept, func(a, b rec) int { return a.at.Compare(b.at) })
		old = append(old, kept[:extra]...)
		over = extra
	}
	for _, r := range old {
		if err := b.Delete(r.key); err != nil {
			return 0, 0, err
		}
	}
	return aged, over, nil
}
