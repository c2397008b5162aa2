package outbox

import (
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// prune removes done records older than the dedup window, ordering state
// older than the retention with nothing pending, and the oldest of either
// beyond MaxDone. Freed pages are reused by later writes; Open compacts a
// file that became mostly free.
func (s *Store) prune(now time.Time) error {
	return s.update(func(tx *bolt.Tx) error {
		if err := pruneBucket(tx.Bucket(bucketDone), now.Add(-s.opts.DedupWindow), s.opts.MaxDone, decodeTime); err != nil {
			return err
		}
		return pruneBucket(tx.Bucket(bucketLatest), now.Add(-s.opts.Retention), s.opts.MaxDone, func(v []byte) time.Time {
			st, ok := decodeSlot(v)
			if !ok || st.Pending != 0 {
				// Never forget the order of an alert with a pending state.
				return time.Time{}
			}
			return st.At
		})
	})
}

// pruneBucket deletes the records whose time is before cutoff, then the
// oldest until at most keep remain. A zero time keeps a record.
func pruneBucket(b *bolt.Bucket, cutoff time.Time, keep int, timeOf func([]byte) time.Time) error {
	type rec struct {
		key []byte
		at  time.Time
	}
	var old, kept []rec
	err := b.ForEach(func(k, v []byte) error {
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
		return err
	}
	if extra := len(kept) - keep; extra > 0 {
		slices.SortFunc(kept, func(a, b rec) int { return a.at.Compare(b.at) })
		old = append(old, kept[:extra]...)
	}
	for _, r := range old {
		if err := b.Delete(r.key); err != nil {
			return err
		}
	}
	return nil
}
