package outbox

import (
	"testing"
	"time"
)

// TestSettledBlocks: ends noted in any order read back by id, across a
// block's boundary, each block one record; a later note keeps the block's
// other ends; ids never noted read as none.
func TestSettledBlocks(t *testing.T) {
	s := newStore(t, StoreOptions{})
	at := func(n int) time.Time { return epoch.Add(time.Duration(n) * time.Second) }
	ends := []settledEnd{{18, at(18)}, {14, at(14)}, {15, at(15)}, {16, at(16)}, {17, at(17)}}
	if err := s.update(func(tx *boltTx) error { return writeSettled(tx, ends) }); err != nil {
		t.Fatal(err)
	}
	if err := s.update(func(tx *boltTx) error { return writeSettled(tx, []settledEnd{{13, at(13)}}) }); err != nil {
		t.Fatal(err)
	}
	if n := bucketLen(t, s, bucketSettled); n != 2 {
		t.Errorf("ids 13 to 18 take %d records, want 2 (blocks of %d)", n, settledBlock)
	}
	_ = s.view(func(tx *boltTx) error {
		settled := seek(tx.Bucket(bucketSettled))
		for id := uint64(12); id <= 19; id++ {
			got := settledAt(settled, id)
			want := time.Time{}
			if id >= 13 && id <= 18 {
				want = at(int(id))
			}
			if !got.Equal(want) {
				t.Errorf("id %d ended at %v, want %v", id, got, want)
			}
		}
		return nil
	})
}
