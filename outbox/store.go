package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The buckets of the store file.
var (
	bucketPending = []byte("pending") // id → Delivery JSON, waiting or being attempted
	bucketDead    = []byte("dead")    // id → Delivery JSON, dead letters
	bucketDone    = []byte("done")    // fileKey(delivery key) → time delivered (8 bytes, unix nanoseconds): notifications'; an alert's is in settled
	bucketLatest  = []byte("latest")  // fileKey(slot) → newest accepted state: the slots before the slots' log (slots.go), moved there at open
	bucketSettled = []byte("settled") // id/16 → 16 times delivered (8 bytes each, unix nanoseconds): the ends of alerts' deliveries, read into their slots later (settled.go)
	bucketState   = []byte("state")   // target\x00key → expiry (8 bytes, unix nanoseconds) + value, publishers' state
)

// lockTimeout is how long opening waits for another process's lock on
// the file.
const lockTimeout = 2 * time.Second

// maxGroup bounds how many writes share one transaction and one fsync.
const maxGroup = 512

// outcomeLinger is how long the attempts' outcomes (Record) may wait for
// a commit that other writes start: a commit holding only outcomes starts
// once the first of them waited that long. Under load the outcomes ride
// in the commits of the webhooks' acceptances instead of commits of their
// own, which the acceptances behind them waited for (a sync each);
// when idle, an outcome is durable within this much more time.
const outcomeLinger = 2 * time.Millisecond

// acceptLinger is how long an acceptance may wait for the acceptances of
// other writers to share its commit, when the last commit held several:
// under concurrent webhooks a commit then holds more of them, and the
// commits' fixed costs (a sync of the write-ahead log, its record's
// header, the wakeups) are paid less often, which is less CPU per
// delivery and no longer an answer (BENCHMARKS.md; with the log, 1 ms
// against none still gave slightly more deliveries at less CPU). A lone
// writer, one webhook at a time, never waits: its last commit held one
// acceptance; nor does a store without fsync, whose commits cost too
// little.
const acceptLinger = time.Millisecond

// StoreOptions configure a Store; zero values take the defaults.
type StoreOptions struct {
	// DedupWindow is how long a delivered key counts as delivered (the
	// dedup log's window); done records older than that are pruned.
	DedupWindow time.Duration
	// MaxDone bounds the done and ordering records kept; the oldest go
	// first.
	MaxDone int
	// Retention is how long the ordering state of an alert is kept after
	// its last change: the acceptance of its newest state, or the end of
	// its delivery when delivered (the settled log, kept as long).
	Retention time.Duration
	// DeadLetterRetention is how long a dead letter is kept after it died;
	// MaxDeadLetters bounds how many are kept, the oldest going first.
	DeadLetterRetention time.Duration
	MaxDeadLetters      int
	// NoSync skips fsync; for benchmarks that compare its cost only.
	NoSync bool
	// Volatile keeps pending deliveries in memory instead of the file,
	// for outbox.enabled: false: the same pipeline without durability.
	// The file keeps ordering, the dedup log, dead letters and publisher
	// state, written without fsync.
	Volatile bool
	Logger   *slog.Logger
}

func (o *StoreOptions) normalise() {
	if o.DedupWindow <= 0 {
		o.DedupWindow = 15 * time.Minute
	}
	if o.MaxDone <= 0 {
		o.MaxDone = 100000
	}
	if o.Retention < o.DedupWindow {
		o.Retention = max(24*time.Hour, o.DedupWindow)
	}
	if o.DeadLetterRetention <= 0 {
		o.DeadLetterRetention = 7 * 24 * time.Hour
	}
	if o.MaxDeadLetters <= 0 {
		o.MaxDeadLetters = 10000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is the outbox file: pending deliveries, dead letters, the durable
// dedup log, the ordering state and the publishers' state, in one bbolt
// database. Writes go through one committer goroutine that puts every
// write waiting at the time into one transaction, so concurrent webhooks
// share one fsync.
type Store struct {
	db   *bolt.DB
	path string
	opts StoreOptions

	// mem holds the pending deliveries when the store is volatile.
	mem *memory
	// slots holds every slot's newest state (slots.go).
	slots *slotIndex
	// refs counts the pending records naming each shared alert.
	refs *payloadRefs
	// hist holds the attempts' history lines until they are written
	// (historybuf.go).
	hist historyBuffer
	// commits numbers accepted deliveries in the order of their commits
	// (transactions run one at a time), for the engine's lanes.
	commits atomic.Uint64
	// stats count the committer's transactions, the writes they held and
	// the time they took, for the store's metrics.
	stats struct {
		txs, writes, checkpoints atomic.Uint64
		nanos, checkpointNanos   atomic.Int64
	}
	writes chan *write
	// A durable store's write-ahead log (wal.go) and, the committer's,
	// the write transaction open since the last checkpoint, where the
	// log's records end, when the first change since the checkpoint was
	// logged, the record of the commit running, and whether the next
	// transaction begins by replaying the log (after a rollback).
	wal     *os.File
	open    *bolt.Tx
	walEnd  int64
	openAt  time.Time
	rec     walRecord
	rewound bool
	retryAt time.Time // after a failed checkpoint, when the next may run
	// dirty: changes were logged since the last checkpoint; set before
	// their writers hear of them.
	dirty atomic.Bool
	// abandon: the committer stops as a crash would, without a
	// checkpoint (the tests').
	abandon bool
	// crowded: the last commit held several writes that are not
	// outcomes (acceptances, mostly), so that the next may wait
	// acceptLinger for more; the committer's own.
	crowded bool
	stop    chan struct{}
	wg      sync.WaitGroup
	close   sync.Once
}

// write is one caller's share of a group transaction.
type write struct {
	fn   func(*txn) error
	done chan error
	// checkpoint: a read outside the committer waits for the open
	// transaction's changes to reach the file (fn is nil).
	checkpoint bool
	// lazy: it need not start a commit before outcomeLinger after it
	// was queued (outcomes).
	lazy   bool
	queued time.Time // when it was handed to the committer
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("outbox store is closed")

// Open opens or creates the store file at path. A file that is not a
// valid store is an error naming it: the store is never reset silently.
// When more than half of a large file is free pages, it is compacted into
// a fresh file first, since bbolt never shrinks a file by itself.
func Open(path string, opts StoreOptions) (*Store, error) {
	opts.normalise()
	if err := checkFile(path); err != nil {
		return nil, err
	}
	if err := recoverWAL(path, opts.Logger); err != nil {
		return nil, err
	}
	if err := compactIfWasteful(path, opts.Logger); err != nil {
		return nil, err
	}
	db, err := openDB(path, opts.NoSync || opts.Volatile, opts.Logger)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path, opts: opts, writes: make(chan *write, maxGroup), stop: make(chan struct{}),
		hist: historyBuffer{writing: make(chan struct{}, 1)}}
	if !opts.NoSync && !opts.Volatile {
		if s.wal, err = openWAL(path); err != nil {
			db.Close()
			return nil, err
		}
	}
	var highest uint64
	if s.slots, highest, err = loadSlots(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox store %s: %w", path, err)
	}
	orphans := 0
	if s.refs, orphans, err = loadPayloadRefs(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox store %s: %w", path, err)
	}
	if orphans > 0 {
		opts.Logger.Warn("outbox store held shared alerts no pending delivery named; deleted", "file", path, "alerts", orphans)
	}
	if opts.Volatile {
		if s.mem, err = memorySince(db, highest); err != nil {
			db.Close()
			return nil, fmt.Errorf("outbox store %s: %w", path, err)
		}
	}
	s.wg.Go(s.commitLoop)
	return s, nil
}

func openDB(path string, noSync bool, logger *slog.Logger) (*bolt.DB, error) {
	db, err := openBolt(path, noSync)
	if err != nil {
		return nil, err
	}
	rewritten, moved := 0, 0
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPending, bucketPayloads, bucketDead, bucketDone, bucketSlots, bucketSettled, bucketState, bucketHistory} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if rewritten, err = migrateKeys(tx); err != nil {
			return err
		}
		moved, err = migrateLatest(tx)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox store %s: %w", path, err)
	}
	if rewritten > 0 {
		logger.Info("outbox store's dedup and ordering records rewritten in the alert-first key order, once", "file", path, "records", rewritten)
	}
	if moved > 0 {
		logger.Info("outbox store's ordering records moved into the slots' log, once", "file", path, "records", moved)
	}
	return db, nil
}

// openBolt opens the file at path as bbolt does, its errors told as the
// store's.
func openBolt(path string, noSync bool) (db *bolt.DB, err error) {
	// A damaged file can make bbolt panic while reading it; report it as
	// the error it is.
	defer func() {
		if r := recover(); r != nil {
			err = corrupt(path, fmt.Sprint(r))
		}
	}()
	// The freelist is rebuilt at open rather than written at every
	// commit, which would double the pages a small commit writes. A large
	// initial mapping (address space, not memory) spares the remaps that
	// block every transaction while the file grows.
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout: lockTimeout, NoSync: noSync, NoFreelistSync: true, FreelistType: bolt.FreelistMapType,
		InitialMmapSize: 256 << 20, PageSize: pageSize,
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("outbox store %s is locked by another process (another am-fanout with the same --storage.path?); waited %v", path, lockTimeout)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("outbox store %s: %w (check the owner and mode of the file and of --storage.path)", path, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, corrupt(path, err.Error())
	case err != nil:
		return nil, fmt.Errorf("outbox store %s: %w", path, err)
	}
	return db, nil
}

// pageSize is the page size of the files the store creates; a file
// keeps the size it was created with until compaction rewrites it. A
// bbolt commit (with the write-ahead log, a checkpoint) writes every page
// it changed, one write each, and then syncs; the figures below were
// measured when every commit was one.
// A one-alert notification to ten targets puts ten records of about
// 1.1 KiB, the alert in each: 16 KiB pages hold them in fewer pages, and
// a commit writes about 12 where it writes about 19 of 4 KiB
// (BenchmarkStoreDeliveries, pages/commit). On the benchmarks' disk the
// write and syncs of a commit took about as long either way
// (write-us/commit there, and BenchmarkCommitPages), and end to end
// am-fanout delivered about 3 % more against the forwarder, within the
// runs' spread (BENCHMARKS.md). A variable for the
// benchmarks, which weigh the two.
var pageSize = 16 << 10

// compactMinBytes is the file size below which compaction is not worth
// it; a variable for the tests.
var compactMinBytes int64 = 64 << 20

func compactIfWasteful(path string, logger *slog.Logger) error {
	st, err := os.Stat(path)
	if err != nil || st.Size() < compactMinBytes {
		return nil
	}
	src, err := openDB(path, true, logger)
	if err != nil {
		return err
	}
	stats := src.Stats()
	free := int64(stats.FreePageN+stats.PendingPageN) * int64(src.Info().PageSize)
	if free*2 < st.Size() {
		return src.Close()
	}
	tmp := path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: 2 * time.Second, PageSize: pageSize})
	if err == nil {
		err = bolt.Compact(dst, src, 64<<20)
		err = errors.Join(err, dst.Sync(), dst.Close())
	}
	err = errors.Join(err, src.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("compacting outbox store %s: %w", path, err)
	}
	after, _ := os.Stat(path)
	logger.Info("outbox store compacted", "file", path, "before_bytes", st.Size(), "after_bytes", after.Size())
	return nil
}

// CommitStats are the committer's totals since the store opened: its
// commits (each one sync, of the write-ahead log when the store is
// durable), the writes they held, and the time they took, sync
// included; and a durable store's checkpoints (wal.go) and the time they
// took.
type CommitStats struct {
	Commits        uint64
	Writes         uint64
	Took           time.Duration
	Checkpoints    uint64
	CheckpointTook time.Duration
}

// CommitStats reads the committer's totals.
func (s *Store) CommitStats() CommitStats {
	return CommitStats{Commits: s.stats.txs.Load(), Writes: s.stats.writes.Load(), Took: time.Duration(s.stats.nanos.Load()),
		Checkpoints: s.stats.checkpoints.Load(), CheckpointTook: time.Duration(s.stats.checkpointNanos.Load())}
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close stops the committer, failing writes that were not yet committed,
// and closes the file.
func (s *Store) Close() error {
	var err error
	s.close.Do(func() {
		s.closeHistory()
		close(s.stop)
		s.wg.Wait()
		err = s.db.Close()
		if s.wal != nil {
			err = errors.Join(err, s.wal.Close())
		}
	})
	return err
}

// update runs fn in a write transaction shared with the other writes
// waiting at the time, and returns when it is durable. fn may run twice:
// when a shared transaction fails, each of its writes runs again alone, so
// one bad write cannot fail the others.
func (s *Store) update(fn func(*txn) error) error {
	return s.enqueue(&write{fn: fn, done: make(chan error, 1), queued: time.Now()})
}

// updateLazily is update for a write that may wait up to outcomeLinger
// for a commit another write starts.
func (s *Store) updateLazily(fn func(*txn) error) error {
	return s.enqueue(&write{fn: fn, done: make(chan error, 1), lazy: true, queued: time.Now()})
}

// enqueue hands w to the committer and waits for its commit.
func (s *Store) enqueue(w *write) error {
	select {
	case s.writes <- w:
	case <-s.stop:
		return ErrClosed
	}
	select {
	case err := <-w.done:
		return err
	case <-s.stop:
		// The committer answers every write it took before it stops.
		s.wg.Wait()
		select {
		case err := <-w.done:
			return err
		default:
			return ErrClosed
		}
	}
}

func (s *Store) commitLoop() {
	group := make([]*write, 0, maxGroup)
	checkpoints := time.NewTimer(time.Hour)
	defer checkpoints.Stop()
	for {
		var due <-chan time.Time
		if s.dirty.Load() {
			checkpoints.Reset(time.Until(s.checkpointAt()))
			due = checkpoints.C
		}
		select {
		case <-s.stop:
			s.stopLog()
			s.failWaiting()
			return
		case <-due:
			_ = s.checkpoint()
			continue
		case w := <-s.writes:
			group = append(group[:0], w)
		}
		group = s.collect(group)
		if s.wal != nil {
			s.commitLogged(group)
		} else {
			s.commit(group)
		}
	}
}

// collect adds to group the writes queued, up to maxGroup, and waits for
// more until the commit is due (deadline) or the store closes.
func (s *Store) collect(group []*write) []*write {
	due := s.deadline(group[0], time.Time{})
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for len(group) < maxGroup {
		select {
		case w := <-s.writes:
			group = append(group, w)
			due = s.deadline(w, due)
			continue
		default:
		}
		wait := time.Until(due)
		if wait <= 0 {
			return group
		}
		timer.Reset(wait)
		select {
		case w := <-s.writes:
			group = append(group, w)
			due = s.deadline(w, due)
		case <-timer.C:
			return group
		case <-s.stop:
			return group
		}
	}
	return group
}

// deadline is when a commit holding w must start at the latest, given
// the deadline of the writes before it in the group (zero: none): an
// outcome's outcomeLinger after it was queued; an acceptance's at once,
// or acceptLinger after it was queued while the store is crowded.
func (s *Store) deadline(w *write, due time.Time) time.Time {
	by := w.queued
	switch {
	case w.lazy:
		by = by.Add(outcomeLinger)
	case s.crowded:
		by = by.Add(acceptLinger)
	}
	if due.IsZero() || by.Before(due) {
		return by
	}
	return due
}

func (s *Store) commit(group []*write) {
	// Without fsync (volatile, NoSync) a commit costs too little to wait.
	s.crowded = crowded(group) && !s.opts.NoSync && !s.opts.Volatile
	err := s.counted(len(group), func() error {
		return s.updateDB(func(tx *txn) error {
			for _, w := range group {
				if err := w.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err == nil || len(group) == 1 {
		for _, w := range group {
			w.done <- err
		}
		return
	}
	for _, w := range group {
		err := s.counted(1, func() error { return s.updateDB(w.fn) })
		w.done <- err
	}
}

// counted runs one transaction of n writes and adds it to the
// committer's totals before its writers hear of it.
func (s *Store) counted(n int, tx func() error) error {
	start := time.Now()
	err := tx()
	s.stats.txs.Add(1)
	s.stats.writes.Add(uint64(n))
	s.stats.nanos.Add(int64(time.Since(start)))
	return err
}

// updateDB runs one write transaction, with the pending records in
// memory following its fate when the store is volatile.
func (s *Store) updateDB(fn func(*txn) error) error {
	run := func(tx *bolt.Tx) error { return fn(&txn{Tx: tx}) }
	if s.mem == nil {
		err := s.db.Update(run)
		s.slots.end(err == nil)
		s.refs.end(err == nil)
		return err
	}
	s.mem.begin()
	err := s.db.Update(run)
	s.mem.end(err == nil)
	s.slots.end(err == nil)
	s.refs.end(err == nil)
	return err
}

// appendFill is how full the commits fill the pages of the buckets whose
// new keys come last (pending ids, history by acceptance time). bbolt
// splits a page half full by default, which suits keys written in any
// order; keys written in order never come back to the left half, so the
// pages held half of what they could, and more of them were written
// (1.49 against 1.31 pages per delivery, BenchmarkStoreDeliveries).
const appendFill = 0.9

// fillInOrder sets the fill of a bucket written in key order for the
// transaction; other records (the volatile store's) are left as they are.
func fillInOrder(r records) {
	if f, ok := r.(fileRecords); ok {
		f.FillPercent = appendFill
	}
}

// pending returns the pending deliveries as tx sees them.
func (s *Store) pending(tx *txn) records {
	if s.mem != nil {
		return s.mem.in(tx.Tx)
	}
	b := tx.Bucket(bucketPending)
	return fileRecords{bucket: b, c: b.Cursor(), payloads: tx.Bucket(bucketPayloads), refs: s.refs}
}

// fileRecords are the file's pending bucket, read and deleted from
// through one cursor whose stack every call reuses: Bucket.Get and
// Delete make a cursor each, and their stacks were a fifth of the
// cursors' allocations per delivery. Each call seeks from the root, so
// that writes in between are seen.
//
// A shared record's alert is in the payloads bucket (payloads.go): the
// records count the shared records that name each payload as they are
// written and deleted, and the last one's delete takes its payload
// along.
type fileRecords struct {
	*bucket
	c        *bolt.Cursor
	payloads *bucket
	refs     *payloadRefs
}

func (f fileRecords) Get(id []byte) []byte { return seeker{f.c}.get(id) }

// Insert writes the record of a new id: none was there before.
func (f fileRecords) Insert(id, v []byte) error {
	if err := f.bucket.Put(id, v); err != nil {
		return err
	}
	if ref, ok := sharedRef(v); ok {
		f.refs.add(ref, 1)
	}
	return nil
}

// Put writes the record of id in place of the one there, if any.
func (f fileRecords) Put(id, v []byte) error {
	var old uint64
	if k, was := f.c.Seek(id); bytes.Equal(k, id) {
		old, _ = sharedRef(was)
	}
	if err := f.Insert(id, v); err != nil {
		return err
	}
	return f.release(old)
}

func (f fileRecords) Delete(id []byte) error {
	if k, v := f.c.Seek(id); bytes.Equal(k, id) {
		// The page's bytes are valid until the delete.
		ref, _ := sharedRef(v)
		if err := f.c.Delete(); err != nil {
			return err
		}
		f.log.delete(f.name, id)
		return f.release(ref)
	}
	return nil
}

// release notes that a record naming the payload ref (none if 0) is
// gone, and deletes the payload with the last.
func (f fileRecords) release(ref uint64) error {
	if ref == 0 || f.refs.add(ref, -1) > 0 {
		return nil
	}
	return f.payloads.Delete(encodeID(ref))
}

func (s *Store) failWaiting() {
	for {
		select {
		case w := <-s.writes:
			w.done <- ErrClosed
		default:
			return
		}
	}
}

// view runs fn in a read transaction, which sees every write answered
// before it: with a write-ahead log, once the changes logged have
// reached the file.
func (s *Store) view(fn func(*txn) error) error {
	if s.wal != nil && s.dirty.Load() {
		if err := s.enqueue(&write{done: make(chan error, 1), checkpoint: true, queued: time.Now()}); err != nil {
			return err
		}
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(&txn{Tx: tx}) })
}

// peek is view for a short read, which a durable store runs in its
// committer's open transaction rather than make its changes reach the
// file first. fn may run twice, as an update's.
func (s *Store) peek(fn func(*txn) error) error {
	if s.wal != nil && s.dirty.Load() {
		return s.update(fn)
	}
	return s.view(fn)
}

// Size is the store file's size in bytes.
func (s *Store) Size() int64 {
	var n int64
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n
}

// deliveredIn reports whether d's state, of order x, reached its target
// within the dedup window: for an alert, as its slot st (known when read,
// settled) marks its newest state delivered; otherwise, and for the marks
// of stores written before the slots held them, as done, the done bucket,
// reads d's dedup key.
func (s *Store) deliveredIn(done doneLog, st slotState, known bool, d *Delivery, x order, now time.Time) bool {
	if d.Group == nil {
		if known && st.Delivered && st.rank(x) == 0 && now.Sub(st.At) < s.opts.DedupWindow {
			return true
		}
		if !done.alerts {
			return false
		}
	}
	at := decodeTime(done.get(fileKey(d.key())))
	return !at.IsZero() && now.Sub(at) < s.opts.DedupWindow
}

// doneLog reads the done bucket of a transaction. alerts says whether it
// holds any alert's record, which only files written before the slots
// held the marks do, until the dedup window prunes them: without them an
// alert's delivery is not looked up there, a search and a key built for
// nothing on every acceptance.
type doneLog struct {
	seeker
	alerts bool
}

// groupDone begins the done records of notifications: the fileKey of a
// group's delivery key. An alert's record begins with its fingerprint,
// hex, and sorts before them.
var groupDone = []byte("group\x00")

func doneIn(tx *txn) doneLog {
	d := doneLog{seeker: seek(tx.Bucket(bucketDone))}
	if k, _ := d.c.First(); k != nil && !bytes.HasPrefix(k, groupDone) {
		d.alerts = true
	} else if k, _ := d.c.Seek([]byte("group\x01")); k != nil {
		// Not hex after all: an alert's record all the same.
		d.alerts = true
	}
	return d
}

// seeker reads the keys of one bucket through one cursor, whose stack it
// reuses: each Bucket.Get makes a cursor and grows its stack anew (the
// cursors' stacks, Puts' included, were a sixth of the allocations per
// delivery; reading through seekers, 828 instead of 902 per alert of ten
// deliveries in BenchmarkStoreDeliveries -benchmem).
type seeker struct{ c *bolt.Cursor }

func seek(b *bucket) seeker { return seeker{b.Cursor()} }

// get is the bucket's Get. Each call seeks from the root, so that writes
// to the bucket in between are seen.
func (s seeker) get(key []byte) []byte {
	k, v := s.c.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

func encodeTime(t time.Time) []byte { return appendTime(nil, t) }

// appendTime appends t as the store's times are kept: big-endian unix
// nanoseconds, 8 bytes.
func appendTime(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(t.UnixNano()))
}

func decodeTime(b []byte) time.Time {
	if len(b) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)))
}

func encodeID(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func decodeID(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
