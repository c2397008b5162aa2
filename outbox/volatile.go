package outbox

import (
	"bytes"
	"maps"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// records are the pending deliveries of a store: the pending bucket of
// the file, or, when the outbox is not durable (outbox.enabled: false),
// a map in memory with the same transactions. Everything else (ordering,
// dedup log, dead letters, publisher state) stays in the file either way,
// so the pipeline is the same; only a restart loses what memory held.
type records interface {
	Get(id []byte) []byte
	// Put writes the record of id, in place of the one there if any;
	// Insert that of a new id, none there before.
	Put(id, v []byte) error
	Insert(id, v []byte) error
	Delete(id []byte) error
	NextSequence() (uint64, error)
	ForEach(fn func(k, v []byte) error) error
}

// memory holds pending records in memory. Writes of a transaction go to
// its overlay and reach the map only when the transaction commits, so a
// failed commit leaves memory as it leaves the file: unchanged. bbolt
// runs one write transaction at a time, so one overlay is enough.
type memory struct {
	mu      sync.RWMutex
	records map[string][]byte
	seq     uint64
	overlay *overlay // of the write transaction running, nil between
}

type overlay struct {
	puts    map[string][]byte
	deletes map[string]bool
	seq     uint64
}

func newMemory() *memory { return &memory{records: map[string][]byte{}} }

// memorySince is an empty memory numbering its deliveries after those of
// the runs before: after the file's pending bucket's sequence, and after
// every id a slot or a dead letter names (slotsPending, the highest a
// slot's record names), for files whose volatile runs did not keep the
// sequence.
func memorySince(db *bolt.DB, slotsPending uint64) (*memory, error) {
	m := newMemory()
	err := db.View(func(tx *bolt.Tx) error {
		m.seq = tx.Bucket(bucketPending).Sequence()
		if k, _ := tx.Bucket(bucketDead).Cursor().Last(); len(k) == 8 {
			m.seq = max(m.seq, decodeID(k))
		}
		return nil
	})
	m.seq = max(m.seq, slotsPending)
	return m, err
}

// begin starts the overlay of a write transaction.
func (m *memory) begin() {
	m.mu.Lock()
	m.overlay = &overlay{puts: map[string][]byte{}, deletes: map[string]bool{}, seq: m.seq}
	m.mu.Unlock()
}

// end applies the overlay if the transaction committed, and drops it.
func (m *memory) end(committed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ov := m.overlay
	m.overlay = nil
	if !committed || ov == nil {
		return
	}
	for k := range ov.deletes {
		delete(m.records, k)
	}
	maps.Copy(m.records, ov.puts)
	m.seq = ov.seq
}

// in returns the records as tx sees them.
func (m *memory) in(tx *bolt.Tx) records {
	if tx.Writable() {
		return writeView{m, tx}
	}
	return readView{m}
}

type readView struct{ m *memory }

func (v readView) Get(id []byte) []byte {
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	return v.m.records[string(id)]
}
func (readView) Put([]byte, []byte) error      { return berrors.ErrTxNotWritable }
func (readView) Insert([]byte, []byte) error   { return berrors.ErrTxNotWritable }
func (readView) Delete([]byte) error           { return berrors.ErrTxNotWritable }
func (readView) NextSequence() (uint64, error) { return 0, berrors.ErrTxNotWritable }
func (v readView) ForEach(fn func(k, v []byte) error) error {
	v.m.mu.RLock()
	snapshot := maps.Clone(v.m.records)
	v.m.mu.RUnlock()
	return forEachSorted(snapshot, fn)
}

// writeView reads through the overlay of the running write transaction.
// Only the committer's goroutine writes, so the overlay needs no lock of
// its own beyond the map's for end.
type writeView struct {
	m  *memory
	tx *bolt.Tx
}

func (v writeView) Get(id []byte) []byte {
	ov := v.m.overlay
	if ov.deletes[string(id)] {
		return nil
	}
	if b, ok := ov.puts[string(id)]; ok {
		return b
	}
	v.m.mu.RLock()
	defer v.m.mu.RUnlock()
	return v.m.records[string(id)]
}

func (v writeView) Put(id, b []byte) error {
	ov := v.m.overlay
	delete(ov.deletes, string(id))
	ov.puts[string(id)] = bytes.Clone(b)
	return nil
}

func (v writeView) Insert(id, b []byte) error { return v.Put(id, b) }

func (v writeView) Delete(id []byte) error {
	ov := v.m.overlay
	delete(ov.puts, string(id))
	ov.deletes[string(id)] = true
	return nil
}

// NextSequence numbers a delivery. The number is also the sequence of the
// file's pending bucket, which a volatile store does not use otherwise,
// written in the same transaction as the slot and dead letter that may
// name it: the next run goes on from there (memorySince), so that a
// delivery a restart lost shares its number with no later one.
func (v writeView) NextSequence() (uint64, error) {
	v.m.overlay.seq++
	if err := v.tx.Bucket(bucketPending).SetSequence(v.m.overlay.seq); err != nil {
		return 0, err
	}
	return v.m.overlay.seq, nil
}

func (v writeView) ForEach(fn func(k, v []byte) error) error {
	v.m.mu.RLock()
	all := maps.Clone(v.m.records)
	v.m.mu.RUnlock()
	ov := v.m.overlay
	for k := range ov.deletes {
		delete(all, k)
	}
	maps.Copy(all, ov.puts)
	return forEachSorted(all, fn)
}

// forEachSorted visits records in key order, as a bucket does: ids are
// big-endian, so that is acceptance order.
func forEachSorted(m map[string][]byte, fn func(k, v []byte) error) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn([]byte(k), m[k]); err != nil {
			return err
		}
	}
	return nil
}
