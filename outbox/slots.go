package outbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The slots' log. Every delivery's acceptance changes its slot (the
// newest state of its alert or group at its target), and a slot's key
// begins with the alert's fingerprint: kept in a bucket by key, as the
// latest bucket of earlier versions did, each change rewrote a page of
// its own somewhere in a bucket of max_done slots, read in and written
// out whole at every commit that touched it, and pruning it by age
// touched every page again. So the bbolt store keeps each slot's newest
// state in memory, indexed by its key (slotIndex), and writes every
// change as a new record at the end of the slots' log, a bucket keyed
// by a sequence: the changes of one commit share its last page. A
// record a later change of its slot superseded is dead; the log is
// pruned from its head, its oldest records, where the dead ones go and
// so do the slots of the oldest changes past the retention or the
// max_done bound. Opening the store reads the log back into memory.
//
// A record's value is the slot's state (slotState's encoding,
// slotStateLen bytes) followed by the slot's key (fileKey).
var bucketSlots = []byte("slots")

// slotIndex finds every slot's newest record in the log: it maps the
// slot's key to the record's sequence, and the record, read through
// the log's cursor, holds the state. Only the committer's write
// transactions read and change it (and loadSlots, before the committer
// starts), so it takes no lock; each change goes into the map at once,
// with what it replaced in an undo log, which end forgets when the
// transaction commits and plays back when it does not, so that the
// index follows the file.
//
// It is keyed by a 128-bit hash of the slot's key, not the key, and
// holds the sequence, not the state: about 35 bytes a slot
// (TestSlotIndexMemory), and a map holding no pointers, which the
// garbage collector does not scan (with the keys as strings and the
// states beside them, its marking work under BenchmarkEndToEnd's
// one-alert load was three times as much: BENCHMARKS.md). Two of
// max_done keys share a hash with a chance of the order of 1e-29.
type slotIndex struct {
	seeds [2]maphash.Seed
	m     map[slotHash]uint64
	// undo holds the running write transaction's changes, each with the
	// sequence it replaced (0: the slot was not kept).
	undo []slotUndo
	// txRecords counts the records the running transaction added to the
	// log less those it deleted; live and records, the slots kept and
	// the log's records (dead ones included) as last committed, which
	// the pruner reads beside the committer.
	txRecords     int
	live, records atomic.Int64
	// The running write transaction's cursor on the log.
	cur   seeker
	curTx *bolt.Tx
}

// slotUndo is a change of the index to take back: the slot's hash and
// the sequence it had (0: none).
type slotUndo struct {
	h   slotHash
	seq uint64
}

// slotHash is a slot key's hash in the index.
type slotHash [2]uint64

func (x *slotIndex) hash(key []byte) slotHash {
	return slotHash{maphash.Bytes(x.seeds[0], key), maphash.Bytes(x.seeds[1], key)}
}

func newSlotIndex() *slotIndex {
	return &slotIndex{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, m: map[slotHash]uint64{}}
}

// loadSlots reads the slots' log of db into a new index, and says the
// highest pending id its records name.
func loadSlots(db *bolt.DB) (*slotIndex, uint64, error) {
	x := newSlotIndex()
	var highest uint64
	records := 0
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSlots).ForEach(func(k, v []byte) error {
			records++
			// An unreadable record is left for the pruning, as dead.
			if seq := decodeID(k); seq != 0 && len(v) > slotStateLen {
				st, _ := decodeSlot(v[:slotStateLen])
				highest = max(highest, st.Pending)
				// In sequence order: a later record of a slot
				// supersedes an earlier one.
				x.m[x.hash(v[slotStateLen:])] = seq
			}
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("reading the slots' log: %w", err)
	}
	x.live.Store(int64(len(x.m)))
	x.records.Store(int64(records))
	return x, highest, nil
}

// set changes the slot h to the record seq (0: forgets it), noting what
// it replaced.
func (x *slotIndex) set(h slotHash, seq uint64) {
	x.undo = append(x.undo, slotUndo{h, x.m[h]})
	if seq == 0 {
		delete(x.m, h)
	} else {
		x.m[h] = seq
	}
}

// end keeps the transaction's changes if it committed, and takes them
// back, newest first, if it did not.
func (x *slotIndex) end(committed bool) {
	if committed {
		if len(x.undo) > 0 || x.txRecords != 0 {
			x.live.Store(int64(len(x.m)))
			x.records.Add(int64(x.txRecords))
		}
	} else {
		for i := len(x.undo) - 1; i >= 0; i-- {
			if u := x.undo[i]; u.seq == 0 {
				delete(x.m, u.h)
			} else {
				x.m[u.h] = u.seq
			}
		}
	}
	// A prune's chunk may have grown it far: it is made anew then.
	if cap(x.undo) > 4096 {
		x.undo = nil
	} else {
		x.undo = x.undo[:0]
	}
	x.txRecords, x.cur, x.curTx = 0, seeker{}, nil
}

// seq is the sequence of the slot key's newest record as the running
// transaction sees it.
func (x *slotIndex) seq(key []byte) (uint64, bool) {
	seq, ok := x.m[x.hash(key)]
	return seq, ok
}

// get reads the slot of key in the write transaction tx; known is false
// for a slot not (or no longer) kept.
func (x *slotIndex) get(tx *txn, key []byte) (st slotState, known bool) {
	seq, ok := x.seq(key)
	if !ok {
		return slotState{}, false
	}
	if x.curTx != tx.Tx {
		x.cur, x.curTx = seek(tx.Bucket(bucketSlots)), tx.Tx
	}
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	v := x.cur.get(k[:])
	if len(v) < slotStateLen {
		return slotState{}, false
	}
	return decodeSlot(v[:slotStateLen])
}

// put writes the slot of key as st: a new record at the log's end, which
// supersedes the slot's record before it.
func (x *slotIndex) put(tx *txn, key []byte, st slotState) error {
	b := tx.Bucket(bucketSlots)
	b.FillPercent = appendFill
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := b.Put(encodeID(seq), slotRecord(key, st)); err != nil {
		return err
	}
	x.set(x.hash(key), seq)
	x.txRecords++
	return nil
}

// slotRecord is the log's record of the slot of key in state st.
func slotRecord(key []byte, st slotState) []byte {
	return append(st.appendTo(make([]byte, 0, slotStateLen+len(key))), key...)
}

// forget drops the slot of key from the index, in a write transaction
// that deletes its record.
func (x *slotIndex) forget(key []byte) { x.set(x.hash(key), 0) }

// remove deletes the log's record k in the write transaction that b is
// the log of.
func (x *slotIndex) remove(b *bucket, k []byte) error {
	if err := b.Delete(k); err != nil {
		return err
	}
	x.txRecords--
	return nil
}

// counts are the slots kept and the log's records, as last committed.
func (x *slotIndex) counts() (live, records int) {
	return int(x.live.Load()), int(x.records.Load())
}

// migrateLatest moves the slots of a file written before the slots' log
// (its latest bucket, keyed by slot) into the log, once, and says how
// many it moved.
func migrateLatest(tx *bolt.Tx) (int, error) {
	latest := tx.Bucket(bucketLatest)
	if latest == nil {
		return 0, nil
	}
	log := tx.Bucket(bucketSlots)
	log.FillPercent = appendFill
	n := 0
	err := latest.ForEach(func(k, v []byte) error {
		st, ok := decodeSlot(v)
		if !ok {
			return nil
		}
		seq, err := log.NextSequence()
		if err != nil {
			return err
		}
		n++
		return log.Put(encodeID(seq), slotRecord(k, st))
	})
	if err != nil {
		return 0, err
	}
	return n, tx.DeleteBucket(bucketLatest)
}

// pruneSlots prunes the slots' log from its head, in transactions of
// pruneChunk records shared with the commits of other writes, until it
// keeps a slot in place or reaches the records written since it began
// (slotPrune.fate says what becomes of each), and says how many slots it
// forgot for their age and for the bound.
func (s *Store) pruneSlots(cutoff time.Time) (aged, over int, err error) {
	p := slotPrune{cutoff: cutoff}
	var waiting int
	if err := s.view(func(tx *txn) error {
		p.end, waiting = tx.Bucket(bucketSlots).Sequence(), s.pendingCount(tx)
		return nil
	}); err != nil {
		return 0, 0, err
	}
	live, records := s.slots.counts()
	// The slots of pending deliveries, about one each, are kept and not
	// counted against the bound.
	p.excess = live - waiting - s.opts.MaxDone
	if records-live > live {
		// Rewritten at most once each: then the dead records are gone.
		p.carry = live
	}
	for {
		var (
			q    slotPrune
			done bool
		)
		err := s.updateLazily(func(tx *txn) error {
			// The write may run twice (store.update): it starts afresh.
			q = p
			var (
				drop  [][]byte
				again []movedSlot
			)
			drop, again, done = s.scanSlots(tx, &q)
			return s.rewriteSlots(tx, drop, again)
		})
		if err != nil {
			return p.aged, p.over, err
		}
		p = q
		if done {
			return p.aged, p.over, nil
		}
	}
}

// slotPrune is what a pass of pruneSlots may still do, and what it did.
type slotPrune struct {
	end    uint64 // the log's sequence when the pass began
	cutoff time.Time
	// excess is how many slots the bound still drops; carry, how many
	// kept slots are still to be written again at the log's end.
	excess, carry int
	aged, over    int
}

// slotFate is what becomes of a slot whose record is at the log's head.
type slotFate int

const (
	slotStays slotFate = iota // kept where it is: the pass ends
	slotGoes                  // forgotten, its record deleted
	slotMoves                 // kept, its record written again at the end
)

// fate decides for a live slot st, pending saying whether its delivery
// is pending and aged, when asked, whether it is past the retention:
// a pending slot is never forgotten, and moves only when records behind
// it may go; then the bound drops, then the retention, then the dead
// records ask for kept slots to move.
func (p *slotPrune) fate(st slotState, pending bool, aged func() bool) slotFate {
	switch {
	case pending:
		if p.excess <= 0 && p.carry == 0 && !st.At.Before(p.cutoff) {
			return slotStays
		}
		return slotMoves
	case p.excess > 0:
		p.excess--
		p.over++
		return slotGoes
	case st.At.Before(p.cutoff) && aged():
		p.aged++
		return slotGoes
	case p.carry > 0:
		p.carry--
		return slotMoves
	}
	return slotStays
}

// movedSlot is a record to write again at the log's end: its key in the
// log, and the slot's key and state.
type movedSlot struct {
	k, key []byte
	st     slotState
}

// scanSlots reads up to pruneChunk records from the head of tx's slots'
// log and returns the keys of the records to delete and the records to
// write again at the end, and whether the pass is over. The slots it
// forgets leave the transaction's index.
func (s *Store) scanSlots(tx *txn, p *slotPrune) (drop [][]byte, again []movedSlot, done bool) {
	pending, settled := s.pending(tx), seek(tx.Bucket(bucketSettled))
	c := tx.Bucket(bucketSlots).Cursor()
	read := 0
	for k, v := c.First(); ; k, v = c.Next() {
		switch {
		case k == nil || decodeID(k) > p.end:
			return drop, again, true
		case read == pruneChunk:
			return drop, again, false
		}
		read++
		// The page's bytes are valid until the deletes.
		k = bytes.Clone(k)
		var key []byte
		if len(v) > slotStateLen {
			key = v[slotStateLen:]
		}
		if seq, ok := s.slots.seq(key); !ok || seq != decodeID(k) {
			drop = append(drop, k)
			continue
		}
		st, _ := decodeSlot(v[:slotStateLen])
		waiting := st.Pending != 0 && pending.Get(encodeID(st.Pending)) != nil
		switch p.fate(st, waiting, func() bool { return delivered(st, pending, settled).Before(p.cutoff) }) {
		case slotStays:
			return drop, again, true
		case slotMoves:
			again = append(again, movedSlot{k, bytes.Clone(key), st})
		case slotGoes:
			drop = append(drop, k)
			s.slots.forget(key)
		}
	}
}

// rewriteSlots writes the records again at the end of tx's slots' log,
// then deletes the records drop.
func (s *Store) rewriteSlots(tx *txn, drop [][]byte, again []movedSlot) error {
	b := tx.Bucket(bucketSlots)
	for _, m := range again {
		if err := s.slots.remove(b, m.k); err != nil {
			return err
		}
		if err := s.slots.put(tx, m.key, m.st); err != nil {
			return err
		}
	}
	for _, k := range drop {
		if err := s.slots.remove(b, k); err != nil {
			return err
		}
	}
	return nil
}

// delivered is the slot's time as its retention counts it: the end of
// its delivery when that is later than its last change.
func delivered(st slotState, pending records, settled seeker) time.Time {
	settle(&st, pending, settled)
	return st.At
}

// pendingCount is how many deliveries are pending in tx.
func (s *Store) pendingCount(tx *txn) int {
	if s.mem != nil {
		s.mem.mu.RLock()
		defer s.mem.mu.RUnlock()
		return len(s.mem.records)
	}
	return tx.Bucket(bucketPending).Stats().KeyN
}
