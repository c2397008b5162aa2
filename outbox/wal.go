package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The write-ahead log. A bbolt commit writes every page its writes
// touched, a scattered 16 KiB each, then syncs twice (the pages, then
// the meta page): under the benchmarks' load a commit of about three
// webhooks wrote nine pages, and on their disks the time of a sync grows
// with the bytes it flushes, so that the commits that every webhook's
// answer waits for were four fifths syncing (BENCHMARKS.md). A durable
// store therefore keeps one bbolt write transaction open across many
// commits: each commit runs its writes in that transaction, appends the
// keys and values they changed to the log, one record, and syncs the log
// once; the answers wait for that sync only. Every checkpointEvery (or
// when the log passes checkpointBytes, or the transaction holds
// checkpointNodes pages in memory, or before a read outside the
// committer) the transaction commits to the file as bbolt commits, and
// the log starts again from its beginning. A record that a crash tore is
// not whole (its checksum fails) and was never answered.
//
// Each record names the file's transaction it follows (the id of the
// last transaction committed to the file when the open one began), so
// that opening the store replays exactly the records written since the
// file's last commit, and ignores what the log held before it: the log
// is written over from its start after each checkpoint, and what lies
// after the newest records follows an older transaction.
//
// A record is its length (4 bytes), the CRC-32C of the rest (4 bytes),
// the transaction it follows (8 bytes) and its changes, each an
// operation byte, the bucket's name and the key (each a uvarint length
// and the bytes), and the value (put: a uvarint length and the bytes) or
// the sequence (sequence: a uvarint); a bucket's creation is the
// operation and its name.

// The log's operations.
const (
	walPut byte = iota + 1
	walDelete
	walSequence
	walBucket
)

// walHeader is the length of a record's header: its length, checksum and
// the transaction it follows.
const walHeader = 16

var walTable = crc32.MakeTable(crc32.Castagnoli)

// The checkpoints' triggers, variables for the tests: the age of the
// open transaction's first change, the log's size, and the nodes the
// open transaction holds in memory. A node is a page read into memory
// to be changed, about a page's worth of memory until the checkpoint
// writes it: writes that touch many pages with little to log (a prune's
// deletes of 300 000 records, TestPruneHoldsLittleMemory) would hold
// tens of MiB within 200 ms; 256 nodes of 16 KiB pages are about 4 MiB.
var (
	checkpointEvery       = defaultCheckpointEvery
	checkpointBytes int64 = 4 << 20
	checkpointNodes int64 = 256
)

// defaultCheckpointEvery is how long the changes of commits stay in the
// open transaction and the log before they are written to the file: a
// checkpoint writes each page changed since the last one once, however
// many commits changed it, and a checkpoint's own commit (its two syncs
// and its pages, a few milliseconds under load) holds up the commits
// behind it.
const defaultCheckpointEvery = 200 * time.Millisecond

// walPath is the log of the store file path.
func walPath(path string) string { return path + ".wal" }

// txn is a transaction of the store's file as the store's writes see it:
// bbolt's, with the buckets' changes noted in log when it is not nil (a
// durable store's write transaction).
type txn struct {
	*bolt.Tx
	log *walRecord
	// buckets are those asked for so far, made once each (an acceptance
	// asks for the slots' log once a delivery), as bbolt keeps its own.
	buckets []*bucket
}

// Bucket is the bucket name of the transaction, nil if there is none.
func (t *txn) Bucket(name []byte) *bucket {
	for _, b := range t.buckets {
		if bytes.Equal(b.name, name) {
			return b
		}
	}
	b := t.Tx.Bucket(name)
	if b == nil {
		return nil
	}
	wb := &bucket{Bucket: b, name: name, log: t.log}
	t.buckets = append(t.buckets, wb)
	return wb
}

// CreateBucketIfNotExists is bbolt's, its creation logged.
func (t *txn) CreateBucketIfNotExists(name []byte) (*bucket, error) {
	if _, err := t.Tx.CreateBucketIfNotExists(name); err != nil {
		return nil, err
	}
	t.log.create(name)
	return t.Bucket(name), nil
}

// bucket is a bucket of a txn: its changes go through Put, Delete,
// NextSequence and SetSequence, which note them in the log. A cursor's
// Delete would escape the log: the store deletes through the bucket.
type bucket struct {
	*bolt.Bucket
	name []byte
	log  *walRecord
}

func (b *bucket) Put(key, value []byte) error {
	if err := b.Bucket.Put(key, value); err != nil {
		return err
	}
	b.log.put(b.name, key, value)
	return nil
}

func (b *bucket) Delete(key []byte) error {
	if err := b.Bucket.Delete(key); err != nil {
		return err
	}
	b.log.delete(b.name, key)
	return nil
}

func (b *bucket) NextSequence() (uint64, error) {
	n, err := b.Bucket.NextSequence()
	if err == nil {
		b.log.sequence(b.name, n)
	}
	return n, err
}

func (b *bucket) SetSequence(n uint64) error {
	if err := b.Bucket.SetSequence(n); err != nil {
		return err
	}
	b.log.sequence(b.name, n)
	return nil
}

// walRecord gathers one commit's changes; a nil one gathers nothing. A
// large record goes to the log in chunks of walChunk as it grows, with
// its checksum summed on the way, so that a notification of thousands
// of alerts is not held twice in memory, once in the transaction and
// once in the record; its header follows its changes, and the sync
// after both. Small ones are written whole, one write.
type walRecord struct {
	b   []byte
	f   *os.File
	off int64 // where the record begins in the log
	// written is how much of it is in the log already, crc its checksum
	// so far; err, the error of writing a chunk.
	written int64
	crc     uint32
	err     error
}

// walChunk is the size from which a record's bytes go to the log before
// it is whole; the largest buffer kept from one commit to the next.
const walChunk = 1 << 20

// reset begins a record at off in f, after the file's transaction base.
func (r *walRecord) reset(f *os.File, off int64, base uint64) {
	if cap(r.b) > 2*walChunk {
		r.b = nil
	}
	r.b = append(r.b[:0], make([]byte, walHeader)...)
	binary.BigEndian.PutUint64(r.b[8:], base)
	r.f, r.off, r.written, r.crc, r.err = f, off, 0, 0, nil
}

func (r *walRecord) empty() bool { return r == nil || len(r.b) <= walHeader && r.written == 0 }

func (r *walRecord) put(name, key, value []byte) {
	if r != nil {
		r.b = appendBytes(appendBytes(appendBytes(append(r.b, walPut), name), key), value)
		r.spill()
	}
}

func (r *walRecord) delete(name, key []byte) {
	if r != nil {
		r.b = appendBytes(appendBytes(append(r.b, walDelete), name), key)
		r.spill()
	}
}

func (r *walRecord) create(name []byte) {
	if r != nil {
		r.b = appendBytes(append(r.b, walBucket), name)
		r.spill()
	}
}

func (r *walRecord) sequence(name []byte, n uint64) {
	if r != nil {
		r.b = binary.AppendUvarint(appendBytes(append(r.b, walSequence), name), n)
		r.spill()
	}
}

func appendBytes(b, v []byte) []byte { return append(binary.AppendUvarint(b, uint64(len(v))), v...) }

// spill writes the record's bytes so far to the log once they are
// walChunk or more.
func (r *walRecord) spill() {
	if len(r.b) < walChunk || r.err != nil {
		return
	}
	r.flush()
}

func (r *walRecord) flush() {
	sum := r.b
	if r.written == 0 {
		sum = r.b[8:] // the checksum covers the base, after it
	}
	r.crc = crc32.Update(r.crc, walTable, sum)
	if _, err := r.f.WriteAt(r.b, r.off+r.written); err != nil {
		r.err = err
	}
	r.written += int64(len(r.b))
	r.b = r.b[:0]
}

// finish writes what is left of the record and its header, and says how
// long it is; the caller syncs.
func (r *walRecord) finish() (int64, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.written == 0 {
		// Whole: one write.
		binary.BigEndian.PutUint32(r.b[0:], uint32(len(r.b)))
		binary.BigEndian.PutUint32(r.b[4:], crc32.Checksum(r.b[8:], walTable))
		_, err := r.f.WriteAt(r.b, r.off)
		return int64(len(r.b)), err
	}
	if len(r.b) > 0 {
		r.flush()
	}
	if r.err != nil {
		return 0, r.err
	}
	if r.written > math.MaxUint32 {
		return 0, fmt.Errorf("a commit's changes of %d bytes are more than a record holds", r.written)
	}
	var head [8]byte
	binary.BigEndian.PutUint32(head[0:], uint32(r.written))
	binary.BigEndian.PutUint32(head[4:], r.crc)
	_, err := r.f.WriteAt(head[:], r.off)
	return r.written, err
}

// walRecords returns the changes of the whole records at the start of
// log that follow the file's transaction base, in order, and how many
// bytes they take.
func walRecords(log []byte, base uint64) (changes [][]byte, n int) {
	for len(log)-n >= walHeader {
		rec := log[n:]
		size := int(binary.BigEndian.Uint32(rec))
		if size < walHeader || size > len(rec) {
			break
		}
		rec = rec[:size]
		if crc32.Checksum(rec[8:], walTable) != binary.BigEndian.Uint32(rec[4:]) || binary.BigEndian.Uint64(rec[8:]) != base {
			break
		}
		changes = append(changes, rec[walHeader:])
		n += size
	}
	return changes, n
}

// applyWAL makes the changes of records in tx.
func applyWAL(tx *bolt.Tx, records [][]byte) error {
	for _, rec := range records {
		for len(rec) > 0 {
			op := rec[0]
			name, rest, ok := cutBytes(rec[1:])
			if !ok {
				return errors.New("a record of the write-ahead log is cut short")
			}
			if op == walBucket {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
				rec = rest
				continue
			}
			b := tx.Bucket(name)
			if b == nil {
				return fmt.Errorf("the write-ahead log names bucket %q, which the file does not have", name)
			}
			var err error
			switch op {
			case walPut, walDelete:
				var key, value []byte
				if key, rest, ok = cutBytes(rest); !ok {
					return errors.New("a record of the write-ahead log is cut short")
				}
				if op == walDelete {
					err = b.Delete(key)
					break
				}
				if value, rest, ok = cutBytes(rest); !ok {
					return errors.New("a record of the write-ahead log is cut short")
				}
				err = b.Put(key, value)
			case walSequence:
				n, w := binary.Uvarint(rest)
				if w <= 0 {
					return errors.New("a record of the write-ahead log is cut short")
				}
				rest = rest[w:]
				err = b.SetSequence(n)
			default:
				return fmt.Errorf("the write-ahead log holds an unknown operation %d", op)
			}
			if err != nil {
				return err
			}
			rec = rest
		}
	}
	return nil
}

func cutBytes(b []byte) (v, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}

// recoverWAL writes into the store file path what its log holds since
// the file's last commit (a crash's), and empties the log, before
// anything else opens the file (compaction would renumber its
// transactions).
func recoverWAL(path string, logger *slog.Logger) error {
	log, err := os.ReadFile(walPath(path))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("outbox store %s: reading its write-ahead log: %w", path, err)
	case len(log) == 0:
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		// No file to replay into: what the log holds is gone with it.
		return emptyWAL(path)
	}
	db, err := openBolt(path, false)
	if err != nil {
		return err
	}
	var base uint64
	_ = db.View(func(tx *bolt.Tx) error {
		base = uint64(tx.ID())
		return nil
	})
	records, _ := walRecords(log, base)
	if len(records) > 0 {
		err = db.Update(func(tx *bolt.Tx) error { return applyWAL(tx, records) })
	}
	if err != nil {
		db.Close()
		return fmt.Errorf("outbox store %s: replaying its write-ahead log: %w", path, err)
	}
	if len(records) > 0 {
		logger.Info("outbox store's write-ahead log replayed into it after a crash", "file", path, "records", len(records))
	}
	// Emptied while the file is locked: no other process writes it.
	return errors.Join(emptyWAL(path), db.Close())
}

// emptyWAL empties the log of the store file path, durably.
func emptyWAL(path string) error {
	if err := os.Truncate(walPath(path), 0); err != nil {
		return fmt.Errorf("outbox store %s: emptying its write-ahead log: %w", path, err)
	}
	return syncPath(walPath(path))
}

// openWAL opens (creating) the store file path's log, which
// recoverWAL left empty, with its directory entry durable.
func openWAL(path string) (*os.File, error) {
	f, err := os.OpenFile(walPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("outbox store %s: opening its write-ahead log: %w", path, err)
	}
	if err = syncPath(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("outbox store %s: opening its write-ahead log: %w", path, err)
	}
	return f, nil
}

// syncPath syncs the file or directory at path.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// commitLogged is commit for a durable store: the group's writes run in
// the open transaction and reach the log in one record and one sync;
// when one fails, the transaction goes back to the writes logged before
// them, and each write runs again alone. A read waiting for a checkpoint
// hears back after it; the others before it.
func (s *Store) commitLogged(group []*write) {
	s.crowded = crowded(group)
	err := s.counted(len(group), func() error { return s.logGroup(group) })
	errs := make([]error, len(group))
	for i := range group {
		errs[i] = err
		if err != nil && len(group) > 1 {
			errs[i] = s.counted(1, func() error { return s.logGroup(group[i : i+1]) })
		}
	}
	// A commit that filled the log or the transaction's memory (a
	// notification of thousands of alerts) has its checkpoint before its
	// writers hear back, as a bbolt commit would: the pages the
	// checkpoint writes are then not held beside the work its answer
	// starts.
	var cerr error
	checkpointed := false
	if s.checkpointFull() {
		cerr, checkpointed = s.checkpoint(), true
	}
	wanted := false
	for i, w := range group {
		if w.checkpoint {
			wanted = true
			continue
		}
		w.done <- errs[i]
	}
	if !checkpointed && (wanted || s.checkpointDue()) {
		cerr = s.checkpoint()
	}
	for _, w := range group {
		if w.checkpoint {
			w.done <- cerr
		}
	}
	if s.open != nil && !s.dirty.Load() {
		// Reads only: nothing to keep open.
		_ = s.open.Rollback()
		s.open = nil
	}
}

// crowded says whether group holds several writes that are not
// outcomes (acceptances, mostly), so that the next commit may wait
// acceptLinger for more.
func crowded(group []*write) bool {
	eager := 0
	for _, w := range group {
		if !w.lazy {
			eager++
		}
	}
	return eager >= 2
}

// checkpointDue says whether the changes logged are old or many enough
// to be written to the file.
func (s *Store) checkpointDue() bool {
	return s.checkpointFull() || s.dirty.Load() && !time.Now().Before(s.checkpointAt())
}

// openNodes is how many nodes the open transaction read into memory.
func (s *Store) openNodes() int64 {
	if s.open == nil {
		return 0
	}
	st := s.open.Stats()
	return st.GetNodeCount()
}

// checkpointFull says whether the log or the open transaction's memory
// is past its bound.
func (s *Store) checkpointFull() bool {
	return s.dirty.Load() && !time.Now().Before(s.retryAt) && (s.walEnd >= checkpointBytes || s.openNodes() >= checkpointNodes)
}

// checkpointAt is when the changes logged are old enough to be written
// to the file, or, after a failed checkpoint, when the next may run.
func (s *Store) checkpointAt() time.Time {
	at := s.openAt.Add(checkpointEvery)
	if at.Before(s.retryAt) {
		return s.retryAt
	}
	return at
}

// logGroup runs the writes of group in the open transaction and makes
// their changes durable in the log; when it fails, the transaction is as
// it was before them.
func (s *Store) logGroup(group []*write) error {
	if err := s.begin(); err != nil {
		return err
	}
	s.rec.reset(s.wal, s.walEnd, uint64(s.open.ID())-1)
	t := &txn{Tx: s.open, log: &s.rec}
	for _, w := range group {
		if w.fn == nil {
			continue
		}
		if err := w.fn(t); err != nil {
			return errors.Join(err, s.rewind())
		}
	}
	if !s.rec.empty() {
		n, err := s.rec.finish()
		if err == nil {
			err = fdatasync(s.wal)
		}
		if err != nil {
			return errors.Join(fmt.Errorf("writing the outbox store's write-ahead log: %w", err), s.rewind())
		}
		s.walEnd += n
		if !s.dirty.Load() {
			s.openAt = time.Now()
			s.dirty.Store(true)
		}
	}
	s.slots.end(true)
	s.refs.end(true)
	return nil
}

// begin opens the write transaction when none is, replaying into it the
// records logged since the last checkpoint after a rewind.
func (s *Store) begin() error {
	if s.open != nil {
		return nil
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return err
	}
	if s.rewound && s.walEnd > 0 {
		if err := s.replay(tx); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("outbox store %s: replaying its write-ahead log: %w", s.path, err)
		}
	}
	s.rewound = false
	s.open = tx
	return nil
}

// replay makes in tx the changes logged since the last checkpoint.
func (s *Store) replay(tx *bolt.Tx) error {
	log := make([]byte, s.walEnd)
	if _, err := s.wal.ReadAt(log, 0); err != nil {
		return err
	}
	records, n := walRecords(log, uint64(tx.ID())-1)
	if int64(n) != s.walEnd {
		return fmt.Errorf("%d of its %d bytes read back", n, s.walEnd)
	}
	return applyWAL(tx, records)
}

// rewind drops the open transaction's changes since the last record
// logged: it rolls back, and the next transaction replays the log.
func (s *Store) rewind() error {
	s.slots.end(false)
	s.refs.end(false)
	if s.open == nil {
		return nil
	}
	err := s.open.Rollback()
	s.open, s.rewound = nil, true
	return err
}

// checkpoint commits the open transaction to the file, and the log
// starts again. When the commit fails, the log still holds the changes
// and the next transaction replays them.
func (s *Store) checkpoint() error {
	if s.open == nil {
		return nil
	}
	if !s.dirty.Load() {
		err := s.open.Rollback()
		s.open = nil
		return err
	}
	start := time.Now()
	err := s.open.Commit()
	s.open = nil
	s.stats.checkpoints.Add(1)
	s.stats.checkpointNanos.Add(int64(time.Since(start)))
	if err != nil {
		// The next tries wait as long as the changes did.
		s.rewound, s.retryAt = true, time.Now().Add(checkpointEvery)
		s.opts.Logger.Error("outbox store's checkpoint failed; its write-ahead log keeps the changes", "file", s.path, "err", err)
		return fmt.Errorf("outbox store %s: checkpoint: %w", s.path, err)
	}
	s.walEnd = 0
	s.dirty.Store(false)
	return nil
}

// stopLog ends the log as the committer stops: a checkpoint, or, for a
// crash, the open transaction dropped.
func (s *Store) stopLog() {
	if s.open == nil {
		return
	}
	if s.abandon {
		_ = s.open.Rollback()
		s.open = nil
		return
	}
	_ = s.checkpoint()
}
