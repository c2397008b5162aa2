package outbox

import (
	"cmp"
	"encoding/binary"
	"slices"
	"time"
)

// The settled log holds when each alert's delivery ended delivered, by
// delivery id, for its slot to read later (settle). Ids go in blocks of
// settledBlock consecutive ones, one record each (key id/settledBlock,
// value settledBlock big-endian unix nanoseconds, 0 for none): the ends
// of one commit, mostly consecutive ids (an alert's deliveries to its
// targets), are a put or two instead of one each, and a page holds a
// few dozen records instead of over a hundred, which bbolt reads and
// writes whole at every commit that touches it.
const settledBlock = 16

// settledEnd is one delivery's end to note.
type settledEnd struct {
	id uint64
	at time.Time
}

func settledKey(id uint64) []byte { return encodeID(id / settledBlock) }

// settledAt reads when delivery id ended delivered from the log through
// settled; zero if the log does not have it.
func settledAt(settled seeker, id uint64) time.Time {
	v := settled.get(settledKey(id))
	off := int(id%settledBlock) * 8
	if len(v) < off+8 {
		return time.Time{}
	}
	n := binary.BigEndian.Uint64(v[off:])
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

// writeSettled notes ends in tx's settled log, each block once.
func writeSettled(tx *txn, ends []settledEnd) error {
	if len(ends) == 0 {
		return nil
	}
	b := tx.Bucket(bucketSettled)
	b.FillPercent = appendFill
	slices.SortFunc(ends, func(x, y settledEnd) int { return cmp.Compare(x.id, y.id) })
	for i := 0; i < len(ends); {
		block := ends[i].id / settledBlock
		key := encodeID(block)
		v := make([]byte, settledBlock*8)
		copy(v, b.Get(key))
		for ; i < len(ends) && ends[i].id/settledBlock == block; i++ {
			binary.BigEndian.PutUint64(v[int(ends[i].id%settledBlock)*8:], uint64(ends[i].at.UnixNano()))
		}
		if err := b.Put(key, v); err != nil {
			return err
		}
	}
	return nil
}

// settledChanged is a block's newest end, for the retention pass: a
// block goes once all its ends are past the retention.
func settledChanged(v []byte) time.Time {
	var newest uint64
	for off := 0; off+8 <= len(v); off += 8 {
		newest = max(newest, binary.BigEndian.Uint64(v[off:]))
	}
	if newest == 0 {
		return time.Now() // unreadable: kept for a retention
	}
	return time.Unix(0, int64(newest))
}
