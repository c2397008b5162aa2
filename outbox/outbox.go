package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/fanout"
)

// Publisher makes delivery attempts; fanout.Dispatcher is one. It must not
// retry: the outbox is the only retry layer.
type Publisher interface {
	PublishToMultiple(ctx context.Context, a *core.EnrichedAlert, targets []*core.Target) (*core.ParallelPublishResult, error)
}

// Options configure an Outbox; zero values take the defaults.
type Options struct {
	// RetryBase and RetryCap shape the backoff: before retry n the
	// delivery waits a random time in [0, min(RetryCap, RetryBase·2^(n-1))),
	// and at least the Retry-After the target asked for.
	RetryBase time.Duration
	RetryCap  time.Duration
	// MaxAge is how long after acceptance a failing delivery keeps being
	// retried before it becomes a dead letter.
	MaxAge time.Duration
	// MaxPending and MaxBytes bound the pending deliveries (count, and
	// bytes of their records); past them the webhook answers 503.
	MaxPending int
	MaxBytes   int64
	// MaxInFlight bounds the attempts the outbox runs at once in the
	// background (first attempts and retries).
	MaxInFlight int
	// PruneEvery is how often done records past retention are removed.
	PruneEvery time.Duration
	Logger     *slog.Logger
}

// DefaultOptions are the defaults of the config file's outbox section.
func DefaultOptions() Options {
	return Options{
		RetryBase: time.Second, RetryCap: 5 * time.Minute, MaxAge: 24 * time.Hour,
		MaxPending: 30000, MaxBytes: 32 << 20, MaxInFlight: 256, PruneEvery: time.Minute,
	}
}

func (o *Options) normalise() {
	d := DefaultOptions()
	for _, f := range []struct{ v, def *time.Duration }{
		{&o.RetryBase, &d.RetryBase}, {&o.RetryCap, &d.RetryCap}, {&o.MaxAge, &d.MaxAge}, {&o.PruneEvery, &d.PruneEvery},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if o.MaxPending <= 0 {
		o.MaxPending = d.MaxPending
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = d.MaxBytes
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = d.MaxInFlight
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Errors Accept returns when it cannot take deliveries; the webhook
// answers 503 so that Alertmanager sends the notification again.
var (
	ErrFull    = errors.New("outbox is full")
	ErrClosing = errors.New("outbox is shutting down")
)

// Outbox persists every delivery before the webhook answers, attempts it
// at once, retries it with backoff until it succeeds or becomes a dead
// letter, and keeps the states of one alert in order per target.
type Outbox struct {
	store   *Store
	src     fanout.TargetSource
	pub     Publisher
	opts    Options
	logger  *slog.Logger
	metrics *metrics

	ctx    context.Context // of attempts; cancelled when the grace period ends
	cancel context.CancelFunc
	stop   chan struct{}
	wake   chan struct{}
	sem    chan struct{}
	wg     sync.WaitGroup // scheduler and pruner
	// attempts counts running attempts; Add only under mu while open.
	attempts sync.WaitGroup
	// commits numbers accepted deliveries in the order of their commits
	// (transactions run one at a time), for admit.
	commits atomic.Uint64

	mu       sync.Mutex
	closed   bool
	entries  map[uint64]*entry
	slots    map[string]*slot
	due      dueQueue
	bytes    int64 // of pending records, with reservations
	reserved int   // deliveries being persisted
}

// entry is a pending delivery in memory: only what scheduling needs. Its
// record, with the alert, stays in the store and is read back for each
// attempt, so that a backlog costs memory per delivery, not per alert
// byte.
type entry struct {
	id         uint64
	seq        uint64 // commit order of its acceptance
	due        int64  // next attempt, unix nanoseconds
	accepted   int64  // unix nanoseconds, for the oldest pending's age
	size       int    // of the record, counted against MaxBytes
	slot       *slot
	superseded bool // a newer state replaced it while it was attempted
	index      int  // in the due queue, -1 when not there
}

// slot orders the states of one (target, alert): at most one attempt in
// flight and one newer state waiting.
type slot struct {
	key  string
	busy *entry
	next *entry
}

// target is the name of the slot's target, the first part of its key.
func (s *slot) target() string {
	name, _, _ := strings.Cut(s.key, "\x00")
	return name
}

// New loads the pending deliveries of store; Start begins delivering them.
func New(store *Store, src fanout.TargetSource, pub Publisher, opts Options) (*Outbox, error) {
	opts.normalise()
	ctx, cancel := context.WithCancel(context.Background())
	o := &Outbox{
		store: store, src: src, pub: pub, opts: opts, logger: opts.Logger,
		ctx: ctx, cancel: cancel, stop: make(chan struct{}), wake: make(chan struct{}, 1),
		sem: make(chan struct{}, opts.MaxInFlight), entries: map[uint64]*entry{}, slots: map[string]*slot{},
	}
	o.metrics = newMetrics(o)
	if err := o.load(); err != nil {
		cancel()
		return nil, err
	}
	return o, nil
}

// load rebuilds the memory state from the pending bucket, oldest first.
func (o *Outbox) load() error {
	err := o.store.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
			var d Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("pending delivery %d: %w", decodeID(k), err)
			}
			d.ID = decodeID(k)
			o.admit(&d, len(v), o.commits.Add(1), 0)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("outbox store %s: %w", o.store.Path(), err)
	}
	if n := len(o.entries); n > 0 {
		o.logger.Info("outbox resumes pending deliveries", "pending", n, "file", o.store.Path())
	}
	return nil
}

// admit adds an accepted delivery to memory, superseding an older state
// of the same slot, and queues it when its slot is free; it returns nil
// when a newer state is there already. seq is its commit order, old the
// pending delivery its commit deleted. o.mu must be held (or o not yet
// shared).
func (o *Outbox) admit(d *Delivery, size int, seq, old uint64) *entry {
	e := &entry{id: d.ID, seq: seq, due: d.NextAttempt.UnixNano(), accepted: d.AcceptedAt.UnixNano(), size: size, index: -1}
	s := o.slots[d.slot()]
	if s != nil {
		// Commits are ordered, the admissions after them are not: a state
		// committed later, admitted first, deleted this one.
		for _, x := range []*entry{s.next, s.busy} {
			if x != nil && x.seq > seq {
				return nil
			}
		}
	}
	if s == nil {
		s = &slot{key: d.slot()}
		o.slots[s.key] = s
	}
	if prev := s.next; prev != nil {
		o.due.remove(prev)
		o.forget(prev)
	}
	if s.busy != nil && old != 0 && s.busy.id == old {
		s.busy.superseded = true
	}
	e.slot, s.next = s, e
	o.entries[d.ID] = e
	o.bytes += int64(size)
	if s.busy == nil {
		o.due.push(e)
	}
	return e
}

// forget drops an entry from memory; o.mu must be held.
func (o *Outbox) forget(e *entry) {
	delete(o.entries, e.id)
	o.bytes -= int64(e.size)
	if s := e.slot; s.busy == nil && s.next == nil {
		delete(o.slots, s.key)
	}
}

// Start begins delivering: the scheduler of retries and the pruner of
// done records.
func (o *Outbox) Start() {
	o.wg.Go(o.schedule)
	o.wg.Go(o.prune)
	o.poke()
}

// Close stops taking deliveries and starting retries, lets the attempts
// in flight finish until ctx ends, then cancels them. Whatever is not
// delivered stays in the store for the next start. The store stays open.
func (o *Outbox) Close(ctx context.Context) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	o.mu.Unlock()
	close(o.stop)
	o.wg.Wait()
	done := make(chan struct{})
	go func() {
		o.attempts.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		o.logger.Warn("grace period over: cancelling delivery attempts in flight; they stay pending")
		o.cancel()
		<-done
	}
	o.cancel()
}

func (o *Outbox) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Pending returns how many deliveries are pending.
func (o *Outbox) Pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.entries)
}

func (o *Outbox) prune() {
	t := time.NewTicker(o.opts.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			if err := o.store.prune(time.Now()); err != nil {
				o.logger.Warn("pruning done deliveries failed", "err", err)
			}
			o.pruneDead(time.Now())
		}
	}
}

// pruneDead applies the dead letters' bounds, counting and logging what
// they dropped.
func (o *Outbox) pruneDead(now time.Time) {
	byAge, byCount, err := o.store.pruneDead(now)
	if err != nil {
		o.logger.Warn("pruning dead letters failed", "err", err)
		return
	}
	o.metrics.deadDropped.WithLabelValues("age").Add(float64(byAge))
	o.metrics.deadDropped.WithLabelValues("count").Add(float64(byCount))
	if byAge+byCount > 0 {
		o.logger.Warn("dead letters dropped by their bounds", "older_than_retention", byAge, "over_max_dead_letters", byCount)
	}
}
