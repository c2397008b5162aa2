package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// DeliveryAttempter makes one delivery attempt and classifies its
// outcome; *Attempter is one. It must not retry: the lanes are the only
// retry layer.
type DeliveryAttempter interface {
	Attempt(ctx context.Context, t *core.Target, a *core.EnrichedAlert, n *core.Notification) core.Outcome
}

// Preparer completes an alert before the first attempt of a delivery
// (the external classifier): after acceptance, so that the webhook's
// answer never waits for it. It reports whether it changed the alert; it
// must give up on its own, failing open, within a bounded time.
type Preparer interface {
	Prepare(ctx context.Context, a *core.EnrichedAlert) bool
}

// ActivePreparer is a Preparer that says whether Prepare may change an
// alert at all now (a classifier is configured). While it may not, the
// pipeline does not call it, and the deliveries of one alert share its
// maps up to their first attempts instead of copying them per target.
type ActivePreparer interface {
	Preparer
	Active() bool
}

// Options configure a Pipeline; zero values take the defaults.
type Options struct {
	// RetryBase and RetryCap shape the backoff of a failing target's
	// lane: after n consecutive failures its next probe waits a random
	// time in the upper half of min(RetryCap, RetryBase·2^(n-1)), and at
	// least the Retry-After the target asked for.
	RetryBase time.Duration
	RetryCap  time.Duration
	// MaxAge is how long after acceptance a failing delivery keeps being
	// retried before it becomes a dead letter.
	MaxAge time.Duration
	// MaxPending and MaxBytes bound the pending deliveries (count, and
	// bytes of their records); past them the webhook answers 503.
	MaxPending int
	MaxBytes   int64
	// MaxInFlight bounds the attempts the pipeline runs at once, over all
	// targets; LaneInFlight bounds those of one target.
	MaxInFlight  int
	LaneInFlight int
	// HealthStrategy says whether a waiting webhook answers deliveries
	// whose lane is held back (failing, paused, breaker open) as skipped
	// at once (skip_unhealthy, skip_unhealthy_and_degraded) or waits for
	// their attempts too (publish_to_all). Either way they are persisted
	// and go out when their lane lets them.
	HealthStrategy core.HealthStrategy
	// OnDrained, when set, is called once the pending deliveries of a
	// backlog of at least DrainedAfter are all done, from the pipeline's
	// own goroutine: am-fanout returns the memory the backlog took to the
	// system then (debug.FreeOSMemory), instead of the runtime's slow
	// scavenging.
	OnDrained    func()
	DrainedAfter int
	// WaitTimeout bounds how long a waiting webhook (?wait=true) waits
	// for the first attempts: fanout.timeout.
	WaitTimeout time.Duration
	// PruneEvery is how often done records past retention are removed.
	PruneEvery time.Duration
	// PruneAfter, when positive, prunes as soon as that many deliveries
	// were accepted since the last prune, before PruneEvery: a storm
	// writes a slot and a history line per delivery, and at 17 000
	// deliveries/s a minute of them grew the store's file until its
	// mapped pages took 930 MiB before the minute's prune cut each
	// bucket back to its bound (BENCHMARKS.md).
	PruneAfter int
	Logger     *slog.Logger
	// Prepare, when set, prepares each delivery's alerts once, before
	// its first attempt; the prepared alerts are stored with the
	// delivery, so that its retries carry them across restarts.
	Prepare Preparer
	// Lease, when set, makes the pipeline one of several replicas on a
	// SharedStore: it runs the lanes only while it holds the lease (see
	// leader.go). Nil: this replica always runs its lanes.
	Lease Lease
}

// DefaultOptions are the defaults of the config file's outbox section.
func DefaultOptions() Options {
	return Options{
		// A 5s cap delivers a recovered target's backlog within 5s of its
		// recovery; the lane probes one delivery at a time, so a short cap
		// costs a dead target one request per 5s, not one per alert.
		RetryBase: time.Second, RetryCap: 5 * time.Second, MaxAge: 24 * time.Hour,
		MaxPending: 30000, MaxBytes: 32 << 20, MaxInFlight: 256, LaneInFlight: 16, PruneEvery: time.Minute,
		WaitTimeout: 30 * time.Second,
	}
}

// skipUnhealthy reports whether a waiting webhook answers a failing
// lane's deliveries as skipped: every strategy but publish_to_all.
func (o *Options) skipUnhealthy() bool { return o.HealthStrategy != core.StrategyPublishToAll }

func (o *Options) normalise() {
	d := DefaultOptions()
	for _, f := range []struct{ v, def *time.Duration }{
		{&o.RetryBase, &d.RetryBase}, {&o.RetryCap, &d.RetryCap}, {&o.MaxAge, &d.MaxAge}, {&o.PruneEvery, &d.PruneEvery},
		{&o.WaitTimeout, &d.WaitTimeout},
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
	if o.LaneInFlight <= 0 {
		o.LaneInFlight = d.LaneInFlight
	}
	if o.DrainedAfter <= 0 {
		o.DrainedAfter = 1000
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
	// ErrOverBounds is the ErrFull of a notification that needs more
	// room than the bounds hold at all: no wait makes room for it.
	ErrOverBounds = fmt.Errorf("%w: the notification is over its bounds", ErrFull)
)

// RoomMayCome reports whether err refuses a notification for room that
// deliveries ending may free: ErrFull, but not ErrOverBounds.
func RoomMayCome(err error) bool { return errors.Is(err, ErrFull) && !errors.Is(err, ErrOverBounds) }

// Pipeline is the one delivery pipeline: it persists every delivery in
// its Store before the webhook answers, queues it in its target's lane,
// where the target's pace, pauses, failures and breaker decide when it
// goes out, retries it until it succeeds or becomes a dead letter, and
// keeps the states of one alert (or group) in order per target.
type Pipeline struct {
	store     Store
	src       TargetSource
	attempter DeliveryAttempter
	opts      Options
	logger    *slog.Logger
	metrics   *metrics

	ctx    context.Context // of attempts; cancelled when the grace period ends
	cancel context.CancelFunc
	stop   chan struct{}
	wake   chan struct{}
	// workers run the attempts (workers.go).
	workers *workers
	wg      sync.WaitGroup // scheduler and pruner
	// attempts counts running attempts, until their outcomes are
	// recorded; Add only under mu while open.
	attempts sync.WaitGroup
	settler  settler

	mu       sync.Mutex
	closed   bool
	entries  map[uint64]*entry
	slots    map[string]*slot
	lanes    map[string]*lane
	limiters map[string]*bucket // by rate scope
	running  int                // attempts in flight
	// turns are the lanes in the order the scheduler's passes take them,
	// from turn on (startDue).
	turns []*lane
	turn  int
	// starved says the scheduler's last pass left a lane's attempts
	// waiting for MaxInFlight: an attempt's end then wakes it rather
	// than chain its own lane's next one.
	starved bool
	// named indexes the targets of the source's current set by name
	// (targetNamed).
	named struct {
		of []*core.Target
		by map[string]*core.Target
	}
	// backlog is the most deliveries pending since the pipeline was last
	// empty; drained tells the pruner it just became empty after one of
	// at least DrainedAfter.
	backlog int
	drained chan struct{}
	// sincePrune counts the deliveries accepted since the last prune
	// (p.mu); pruneSoon asks for one at PruneAfter.
	sincePrune int
	pruneSoon  chan struct{}
	// cachedBytes counts the records entries hold for their first attempt
	// (entry.cached), at most maxCached.
	cachedBytes int64
	bytes       int64 // of pending records, with reservations
	reserved    int   // deliveries being persisted
	// need is what the last notification refused at the bounds after it
	// was read needed (accept.go, Refuses).
	need shortage
	// roomWaits are the webhooks waiting for room (AwaitRoom), oldest
	// first, each woken by closing its channel (room.go).
	roomWaits []chan struct{}
	leadership
}

// entry is a pending delivery in memory: only what scheduling needs. Its
// record, with the alert, stays in the store and is read back for each
// attempt, so that a backlog costs memory per delivery, not per alert
// byte.
type entry struct {
	id  uint64
	seq uint64 // commit order of its acceptance
	// place orders its lane's queue: its seq, or the place of the
	// waiting delivery of its slot it replaced (coalesced), so that a
	// group that keeps changing keeps its turn and does not lose it.
	place      uint64
	accepted   int64 // unix nanoseconds, for the oldest pending's age
	size       int   // of the record, counted against MaxBytes
	slot       *slot
	lane       *lane
	superseded bool    // a newer state replaced it while it was attempted
	index      int     // in its lane's queue, -1 when not there
	urgent     bool    // in its lane's urgent queue (see lane.urgent)
	token      *bucket // whose token its attempt holds, nil when none
	// waiter, when a webhook waits for the first attempt, gets its
	// outcome once.
	waiter chan core.Outcome
	// cached is a group's record as accepted, share an alert's, kept
	// until the first attempt so that it need not be read back and
	// decoded; bounded by maxCached, against which it counts cost.
	cached *outbox.Delivery
	share  *accepted
	cost   int64
}

// answer tells a waiting webhook the outcome of the first attempt.
func (e *entry) answer(o core.Outcome) {
	if e.waiter != nil {
		e.waiter <- o
		e.waiter = nil
	}
}

// slot orders the states of one (target, alert): at most one attempt in
// flight and one newer state waiting.
type slot struct {
	key  string
	busy *entry
	next *entry
}

// New loads the pending deliveries of store; Start begins delivering them.
func New(store Store, src TargetSource, at DeliveryAttempter, opts Options) (*Pipeline, error) {
	opts.normalise()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pipeline{
		store: store, src: src, attempter: at, opts: opts, logger: opts.Logger,
		ctx: ctx, cancel: cancel, stop: make(chan struct{}), wake: make(chan struct{}, 1),
		entries: map[uint64]*entry{}, slots: map[string]*slot{}, lanes: map[string]*lane{}, limiters: map[string]*bucket{},
		drained:   make(chan struct{}, 1),
		pruneSoon: make(chan struct{}, 1),
	}
	_, p.settler.on = store.(Committer)
	p.workers = newWorkers(p.stop)
	p.metrics = newMetrics(p)
	p.closing, p.endClosing = context.WithCancel(context.Background())
	p.waits, p.endWaits = context.WithCancel(p.closing)
	if opts.Lease != nil {
		shared, ok := store.(SharedStore)
		if !ok {
			cancel()
			p.endClosing()
			return nil, fmt.Errorf("a lease on the lanes needs a store the replicas share, and a %T is not one", store)
		}
		p.shared = shared
		return p, nil
	}
	p.term = newTerm(ctx)
	p.term.ready = true
	if err := p.load(); err != nil {
		cancel()
		p.endClosing()
		return nil, err
	}
	return p, nil
}

// load rebuilds the memory state from the pending deliveries, oldest
// first.
func (p *Pipeline) load() error {
	return p.store.Load(func(c *outbox.Candidate) { p.admit(c) })
}

// admit adds an accepted delivery to memory, superseding an older state
// of the same slot, and queues it when its slot is free; it returns nil
// when a newer state is there already, and whether it replaced a state
// that was waiting in the lane (for a group: a message coalesced): c's
// Seq is its commit order, its Old the pending delivery its commit
// deleted. p.mu must be held (or p not yet shared).
func (p *Pipeline) admit(c *outbox.Candidate) (e *entry, replaced bool) {
	d, seq, old := c.Delivery, c.Seq, c.Old
	e = &entry{id: d.ID, seq: seq, place: seq, accepted: d.AcceptedAt.UnixNano(), size: c.Size(), index: -1, lane: p.lane(d.Target)}
	key := d.Slot()
	s := p.slots[key]
	if s != nil {
		// Commits are ordered, the admissions after them are not: a state
		// committed later, admitted first, deleted this one.
		for _, x := range []*entry{s.next, s.busy} {
			if x != nil && x.seq > seq {
				return nil, false
			}
		}
	}
	if s == nil {
		s = &slot{key: key}
		p.slots[key] = s
	}
	if prev := s.next; prev != nil {
		if prev.index >= 0 {
			e.place = prev.place
		}
		prev.lane.remove(prev)
		p.forget(prev)
		prev.answer(core.Skip(SkipQueued))
		replaced = true
	}
	if s.busy != nil && old != 0 && s.busy.id == old {
		s.busy.superseded = true
	}
	e.slot, s.next = s, e
	p.entries[d.ID] = e
	p.backlog = max(p.backlog, len(p.entries))
	p.bytes += int64(e.size)
	if s.busy == nil {
		e.lane.push(e)
	}
	return e, replaced
}

// forget drops an entry from memory; p.mu must be held.
func (p *Pipeline) forget(e *entry) {
	p.drop(e)
	delete(p.entries, e.id)
	p.bytes -= int64(e.size)
	p.freed()
	if s := e.slot; s.busy == nil && s.next == nil {
		delete(p.slots, s.key)
	}
	if len(p.entries) == 0 {
		if p.backlog >= p.opts.DrainedAfter && p.opts.OnDrained != nil {
			select {
			case p.drained <- struct{}{}:
			default:
			}
		}
		p.backlog = 0
	}
}

// Start begins delivering: the scheduler of retries and the pruner of
// done records, and with a Lease the wait for it.
func (p *Pipeline) Start() {
	p.wg.Go(p.schedule)
	p.wg.Go(p.prune)
	if p.opts.Lease != nil {
		p.wg.Go(p.lead)
	}
	p.poke()
}

// Close stops taking deliveries and starting retries, lets the attempts
// in flight finish until ctx ends, then cancels them. Whatever is not
// delivered stays in the store for the next start. The store stays open.
// A lease held is given up once the attempts are settled.
func (p *Pipeline) Close(ctx context.Context) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	p.endClosing()
	p.wg.Wait()
	done := make(chan struct{})
	go func() {
		p.attempts.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		p.logger.Warn("grace period over: cancelling delivery attempts in flight; they stay pending")
		p.cancel()
		<-done
	}
	p.cancel()
	// Every attempt is recorded (its release ran); the workers and the
	// settler's goroutine may still be on their way out.
	p.workers.wait()
	p.settler.wg.Wait()
	if p.release != nil {
		p.release()
	}
}

// EndWaits answers the webhooks waiting for first attempts (?wait=true,
// outbox.wait_for_first_attempt) at once, with the attempts made so far
// and the rest as queued, and every later one without waiting: a
// shutting-down server must not hold its HTTP shutdown, and so its exit,
// for the wait's deadline. The deliveries themselves go on as before.
func (p *Pipeline) EndWaits() { p.endWaits() }

func (p *Pipeline) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Pending returns how many deliveries are pending; 0 on a replica that
// does not hold the lease (they are the leader's).
func (p *Pipeline) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}

func (p *Pipeline) prune() {
	t := time.NewTicker(p.opts.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.drained:
			p.opts.OnDrained()
		case <-t.C:
			p.pruneNow(false)
		case <-p.pruneSoon:
			p.pruneNow(true)
		}
	}
}

// pruneNow applies the store's retention and bounds, on the leader;
// soon, as PruneAfter asks, only if the count still says so (a signal
// sent while the last prune began is not another).
func (p *Pipeline) pruneNow(soon bool) {
	p.mu.Lock()
	due := !soon || p.sincePrune >= p.opts.PruneAfter
	if due {
		p.sincePrune = 0
	}
	p.mu.Unlock()
	if !due {
		return
	}
	if !p.leading() {
		// The leader prunes the shared store.
		return
	}
	if err := p.store.Prune(time.Now()); err != nil {
		p.logger.Warn("pruning done deliveries failed", "err", err)
	}
	p.pruneDead(time.Now())
}

// noteAccepted counts n accepted deliveries towards PruneAfter. p.mu
// must be held.
func (p *Pipeline) noteAccepted(n int) {
	p.sincePrune += n
	if p.opts.PruneAfter > 0 && p.sincePrune >= p.opts.PruneAfter {
		select {
		case p.pruneSoon <- struct{}{}:
		default:
		}
	}
}

// pruneDead applies the dead letters' bounds, counting and logging what
// they dropped.
func (p *Pipeline) pruneDead(now time.Time) {
	byAge, byCount, err := p.store.PruneDeadLetters(now)
	if err != nil {
		p.logger.Warn("pruning dead letters failed", "err", err)
		return
	}
	p.metrics.deadDropped.WithLabelValues("age").Add(float64(byAge))
	p.metrics.deadDropped.WithLabelValues("count").Add(float64(byCount))
	if byAge+byCount > 0 {
		p.logger.Warn("dead letters dropped by their bounds", "older_than_retention", byAge, "over_max_dead_letters", byCount)
	}
}

// LaneStatus is what a target's lane is doing.
type LaneStatus struct {
	State LaneState `json:"state"`
	// Until is when the lane may send again, when it waits.
	Until time.Time `json:"until,omitzero"`
	// Queued counts deliveries waiting in the lane; InFlight those
	// being attempted.
	Queued   int `json:"queued"`
	InFlight int `json:"in_flight"`
	// Failures counts the target's consecutive failing attempts.
	Failures int `json:"consecutive_failures,omitempty"`
}

// Lanes returns the status of every target's lane; none on a replica
// that does not hold the lease.
func (p *Pipeline) Lanes() map[string]LaneStatus {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]LaneStatus, len(p.lanes))
	for name, l := range p.lanes {
		st, until := l.state(now)
		out[name] = LaneStatus{State: st, Until: until, Queued: l.queue.Len(), InFlight: l.inFlight, Failures: l.failures}
	}
	return out
}

// Pause holds the lane of target until until: the target said its next
// request would be throttled (publish.Options.Throttled).
func (p *Pipeline) Pause(target string, until time.Time) {
	p.mu.Lock()
	if p.term != nil { // a follower has no lanes to pause
		p.lane(target).pause(until)
	}
	p.mu.Unlock()
	p.poke()
}

// Wake ends the wait of a failing target's lane for its next probe, when
// an active health check finds the target up again.
func (p *Pipeline) Wake(target string) {
	p.mu.Lock()
	if l := p.lanes[target]; l != nil {
		l.wake(time.Now())
	}
	p.mu.Unlock()
	p.poke()
}
