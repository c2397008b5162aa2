package fanout

import (
	"container/heap"
	"time"

	"golang.org/x/time/rate"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// LaneState is what a target's lane is doing, for the status page, the
// API and the am_fanout_lane_state metric.
type LaneState string

// The states of a lane.
const (
	// LaneIdle: nothing waiting.
	LaneIdle LaneState = "idle"
	// LaneOpen: deliveries go out as fast as their pace allows.
	LaneOpen LaneState = "open"
	// LanePaced: the next delivery waits for the target's token bucket.
	LanePaced LaneState = "paced"
	// LanePaused: the target asked for a wait (429 with Retry-After);
	// nothing goes out until it ends.
	LanePaused LaneState = "paused"
	// LaneProbing: the target is failing; one delivery at a time probes
	// it, on a capped backoff, while the others wait without attempts.
	LaneProbing LaneState = "probing"
	// LaneBreakerOpen: the target's breaker is open; the next probe is its
	// half-open trial.
	LaneBreakerOpen LaneState = "breaker_open"
)

// LaneStates lists the lane states, for metrics.
func LaneStates() []LaneState {
	return []LaneState{LaneIdle, LaneOpen, LanePaced, LanePaused, LaneProbing, LaneBreakerOpen}
}

// maxPauseWithoutRetryAfter is the pause after a 429 that names no wait.
const maxPauseWithoutRetryAfter = time.Second

// lane is the flow control of one target: its pending deliveries whose
// alert has no attempt in flight, in acceptance order, and one state that
// decides when the next of them goes out. All of it is guarded by the
// pipeline's mutex.
type lane struct {
	name  string
	queue laneQueue
	// urgent holds deliveries a caller waits for whatever the target's
	// health (publish_to_all): they go out past a failing lane's one
	// probe at a time, but not past a pause, a pace or an open breaker.
	urgent laneQueue
	// inFlight counts attempts running; maxInFlight bounds them.
	inFlight, maxInFlight int
	limiter               *bucket // nil: unlimited
	limit                 core.RateLimit

	pausedUntil time.Time // Retry-After
	throttled   bool      // the last answer was a 429: one at a time until one passes
	failures    int       // consecutive failing outcomes
	retryAt     time.Time // next probe while failing
	probing     bool      // a probe is in flight
	breakerOpen bool      // the last probe found the breaker open
	lastFailure time.Time
	openFor     time.Duration // of the target's breaker
	fallback    []string      // the target's, as last configured
	pacedUntil  time.Time     // when the bucket has the next token, if waiting
	// kept is the state last saved to a LaneStore, to save only changes.
	kept outbox.LaneMemory
}

// ready reports whether the lane may start an attempt at now, or else the
// time it may (zero when only an attempt's end can change that).
func (l *lane) ready(now time.Time) (bool, time.Time) {
	l.pacedUntil = time.Time{}
	switch {
	case l.queue.Len()+l.urgent.Len() == 0, l.inFlight >= l.maxInFlight:
		return false, time.Time{}
	case now.Before(l.pausedUntil):
		return false, l.pausedUntil
	case l.urgent.Len() > 0 && !l.breakerOpen:
	case l.queue.Len() == 0:
		return false, time.Time{}
	case l.cautious() && l.probing:
		return false, time.Time{}
	case l.failing() && now.Before(l.retryAt):
		return false, l.retryAt
	}
	if l.limiter != nil {
		if wait := l.limiter.wait(now); wait > 0 {
			l.pacedUntil = now.Add(wait)
			return false, l.pacedUntil
		}
	}
	return true, time.Time{}
}

// bucket is the token bucket of a rate scope. A target counts a request
// when it arrives, so an attempt holds its token while it runs and spends
// it when it ends, the latest it can have arrived. Spent when it left, a
// request that arrives sooner after the one before than it left (a burst
// that dialled new connections, then one over a reused connection) would
// exceed the target's bucket, and the target would answer 429.
type bucket struct {
	lim  *rate.Limiter
	held int // tokens of attempts in flight
}

// wait is how long until the bucket holds a whole token besides the held
// ones; while attempts are in flight, a lower bound (their ends spend).
func (b *bucket) wait(now time.Time) time.Duration {
	tokens := b.lim.TokensAt(now) - float64(b.held)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(b.lim.Limit()) * float64(time.Second))
}

// end spends a held token at now, when its attempt ended, or gives it
// back unspent when no request went out.
func (b *bucket) end(now time.Time, sent bool) {
	b.held--
	if sent {
		b.lim.ReserveN(now, 1)
	}
}

func (l *lane) failing() bool { return l.failures > 0 || l.breakerOpen }

// cautious lanes send one delivery at a time: a failing target, or one
// that throttled, until an attempt passes.
func (l *lane) cautious() bool { return l.failing() || l.throttled }

// take claims the next delivery for an attempt, with a token of the
// lane's bucket; ready must have said yes.
func (l *lane) take() *entry {
	var e *entry
	if l.urgent.Len() > 0 && !l.breakerOpen {
		e = heap.Pop(&l.urgent).(*entry)
		e.urgent = false
	} else {
		e = heap.Pop(&l.queue).(*entry)
		if l.cautious() {
			l.probing = true
		}
	}
	if l.limiter != nil {
		l.limiter.held++
		e.token = l.limiter
	}
	l.inFlight++
	return e
}

// settle updates the lane with the outcome of e's attempt. backoff
// gives the wait before the next probe after n consecutive failures.
func (l *lane) settle(e *entry, o *core.Outcome, now time.Time, backoff func(n int) time.Duration) {
	l.inFlight--
	l.probing = false
	if e.token != nil {
		// A skipped attempt sent nothing.
		e.token.end(now, o.Kind != core.OutcomeSkipped)
		e.token = nil
	}
	switch {
	case o.Kind == core.OutcomeDelivered, o.Kind == core.OutcomePermanent && o.StatusCode != 0:
		// The target answered: it is up, and the backlog drains now.
		l.failures, l.breakerOpen, l.retryAt, l.throttled = 0, false, time.Time{}, false
	case o.Throttled:
		wait := o.RetryAfter
		if wait <= 0 {
			wait = maxPauseWithoutRetryAfter
		}
		l.pause(now.Add(wait))
		l.throttled = true
	case o.Failing():
		l.failures++
		l.breakerOpen = false
		l.lastFailure = now
		l.retryAt = now.Add(max(backoff(l.failures), o.RetryAfter))
	case o.Kind == core.OutcomeSkipped && (o.SkipReason == core.SkipCircuitOpen || o.SkipReason == core.SkipCircuitHalfOpen):
		// The breaker opened on the last failure; its trial is due when
		// its open period since then has passed.
		l.breakerOpen = true
		l.retryAt = now.Add(backoff(1))
		if halfOpen := l.lastFailure.Add(l.openFor); !l.lastFailure.IsZero() && halfOpen.After(now) {
			l.retryAt = halfOpen
		}
	}
}

// pause holds the lane until until, unless it is held longer already.
func (l *lane) pause(until time.Time) {
	if until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
}

// wake ends the lane's wait for a probe, when something outside the lane
// says the target is back (an active health probe).
func (l *lane) wake(now time.Time) {
	if l.failing() && !l.probing {
		l.retryAt = now
	}
}

// state names what the lane is doing at now and until when, for status
// and metrics.
func (l *lane) state(now time.Time) (LaneState, time.Time) {
	switch {
	case now.Before(l.pausedUntil), l.throttled:
		// Paused until its Retry-After, then one at a time until an
		// attempt passes.
		return LanePaused, l.pausedUntil
	case l.breakerOpen:
		return LaneBreakerOpen, l.retryAt
	case l.failures > 0:
		return LaneProbing, l.retryAt
	case l.queue.Len()+l.urgent.Len() == 0 && l.inFlight == 0:
		return LaneIdle, time.Time{}
	case l.pacedUntil.After(now):
		return LanePaced, l.pacedUntil
	}
	return LaneOpen, time.Time{}
}

// holds reports whether a lane in state s holds its backlog: paused,
// probing or with its breaker open.
func (s LaneState) holds() bool {
	return s == LanePaused || s == LaneProbing || s == LaneBreakerOpen
}

// heldBack says why a new delivery would not go out at once: the skip
// reason a waiting webhook answers for it, "" when it goes out at once.
// A failing lane holds it back only when the caller skips unhealthy
// targets; otherwise it goes out as an urgent delivery.
func (l *lane) heldBack(now time.Time, skipUnhealthy bool) string {
	switch st, _ := l.state(now); {
	case st == LanePaused:
		return SkipPaused
	case st == LaneBreakerOpen:
		return core.SkipCircuitOpen
	case st == LaneProbing && skipUnhealthy:
		return core.SkipUnhealthy
	}
	return ""
}

// push queues an entry: urgent ones apart.
func (l *lane) push(e *entry) {
	if e.urgent {
		l.urgent.push(e)
		return
	}
	l.queue.push(e)
}

// hurry makes e urgent: moved to the urgent queue if it waits in the
// lane, or queued there once its slot's attempt in flight (an older state
// of its alert) settles, instead of behind the lane's probe.
func (l *lane) hurry(e *entry) {
	if e.urgent {
		return
	}
	queued := e.index >= 0
	l.remove(e)
	e.urgent = true
	if queued {
		l.push(e)
	}
}

// remove takes an entry out of whichever queue holds it.
func (l *lane) remove(e *entry) {
	if e.urgent {
		l.urgent.remove(e)
		return
	}
	l.queue.remove(e)
}

// laneQueue orders a lane's waiting deliveries by acceptance, a
// coalesced one in the place of the one it replaced. Each holds its
// entry's place beside it: a lane's backlog of thousands, ordered by
// reading each entry's place through its pointer, missed the cache at
// every level of the heap (BENCHMARKS.md). An entry's place does not
// change while it waits.
type laneQueue []queued

type queued struct {
	place uint64
	e     *entry
}

func (q laneQueue) Len() int           { return len(q) }
func (q laneQueue) Less(i, j int) bool { return q[i].place < q[j].place }
func (q laneQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].e.index, q[j].e.index = i, j
}
func (q *laneQueue) Push(x any) {
	e := x.(*entry)
	e.index = len(*q)
	*q = append(*q, queued{place: e.place, e: e})
}
func (q *laneQueue) Pop() any {
	old := *q
	e := old[len(old)-1].e
	old[len(old)-1] = queued{}
	*q = old[:len(old)-1]
	e.index = -1
	return e
}

func (q *laneQueue) push(e *entry) {
	if e.index < 0 {
		heap.Push(q, e)
	}
}

func (q *laneQueue) remove(e *entry) {
	if e.index >= 0 {
		heap.Remove(q, e.index)
	}
}

// memory is the lane's flow-control state, as a shared store keeps it.
func (l *lane) memory() outbox.LaneMemory {
	return outbox.LaneMemory{
		Target: l.name, PausedUntil: l.pausedUntil, Throttled: l.throttled, Failures: l.failures,
		RetryAt: l.retryAt, BreakerOpen: l.breakerOpen, LastFailure: l.lastFailure,
	}
}

// restore takes up the state another replica's lane kept.
func (l *lane) restore(m outbox.LaneMemory) {
	l.pausedUntil, l.throttled, l.failures = m.PausedUntil, m.Throttled, m.Failures
	l.retryAt, l.breakerOpen, l.lastFailure = m.RetryAt, m.BreakerOpen, m.LastFailure
	l.kept = m
}
