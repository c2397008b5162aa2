package outbox

import (
	"container/heap"
	"errors"
	"math/rand/v2"
	"time"

	"golang.org/x/time/rate"

	"github.com/am-fanout/am-fanout/core"
)

// schedule starts the attempts the lanes allow, at most MaxInFlight at
// once, until Close. It sleeps until the earliest time a lane may go on,
// or until an accept, a settle or a pause wakes it.
func (o *Outbox) schedule() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := o.startDue(time.Now())
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-o.stop:
			return
		case <-o.wake:
		case <-timer.C:
		}
	}
}

// startDue starts every attempt the lanes allow at now and returns when
// one may next go on (zero: only an event can change that).
func (o *Outbox) startDue(now time.Time) time.Time {
	targets := map[string]*core.Target{}
	for _, t := range o.src.Targets() {
		targets[t.Name] = t
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return time.Time{}
	}
	var next time.Time
	for name, l := range o.lanes {
		o.configure(l, targets[name])
		for o.running < o.opts.MaxInFlight {
			ok, at := l.ready(now)
			if !ok {
				if !at.IsZero() && (next.IsZero() || at.Before(next)) {
					next = at
				}
				break
			}
			e := l.take()
			e.slot.busy, e.slot.next = e, nil
			d := o.uncache(e)
			o.running++
			o.attempts.Add(1)
			go func() {
				defer o.attempts.Done()
				o.attempt(e, d)
			}()
		}
	}
	return next
}

// configure applies the target's settings to its lane; o.mu must be held.
// A target no longer configured keeps a lane that lets its deliveries
// out one by one, each to be dead-lettered as gone.
func (o *Outbox) configure(l *lane, t *core.Target) {
	l.maxInFlight = o.opts.LaneInFlight
	if t == nil {
		return
	}
	l.openFor, l.fallback = t.Breaker.OpenFor, t.Fallback
	if t.RateLimit != l.limit || (l.limiter == nil) != t.RateLimit.Unlimited() {
		l.limit = t.RateLimit
		l.limiter = o.limiter(t)
	}
}

// limiter returns the token bucket of t's rate scope, shared by the
// targets of that scope; nil when t is unlimited. o.mu must be held.
func (o *Outbox) limiter(t *core.Target) *bucket {
	r := t.RateLimit
	if r.Unlimited() {
		return nil
	}
	scope := r.Scope
	if scope == "" {
		scope = "target\x00" + t.Name
	}
	burst := max(r.Burst, 1)
	if b, ok := o.limiters[scope]; ok && b.lim.Limit() == rate.Limit(r.PerSecond) && b.lim.Burst() == burst {
		return b
	}
	b := &bucket{lim: rate.NewLimiter(rate.Limit(r.PerSecond), burst)}
	o.limiters[scope] = b
	return b
}

// lane returns the lane of target name, making it; o.mu must be held.
func (o *Outbox) lane(name string) *lane {
	l := o.lanes[name]
	if l == nil {
		l = &lane{name: name, maxInFlight: o.opts.LaneInFlight}
		o.lanes[name] = l
	}
	return l
}

// attempt makes one attempt of a claimed delivery to the current target
// of its name and settles it. d is its record as accepted, when memory
// still held it (a first attempt soon after the webhook); otherwise it is
// read back from the store.
func (o *Outbox) attempt(e *entry, d *Delivery) {
	if d == nil {
		if d = o.record(e); d == nil {
			return
		}
	}
	var t *core.Target
	for _, c := range o.src.Targets() {
		if c.Name == d.Target {
			t = c
		}
	}
	if t == nil {
		o.settle(e, d, core.Outcome{Kind: core.OutcomePermanent, Err: errTargetGone}, false)
		return
	}
	if d.Attempts > 0 {
		// A first attempt that waited in its lane or was resumed after a
		// restart is not a retry.
		o.metrics.retries.WithLabelValues(d.Target).Inc()
	}
	prepared := o.prepare(d)
	alert := &d.Alert
	if d.Group != nil {
		alert = nil
	}
	o.settle(e, d, o.attempter.Attempt(d.traceContext(o.ctx), t, alert, d.Group), prepared)
}

// prepare runs Options.Prepare on the alerts of a delivery not attempted
// yet and reports whether it changed them, so that settle stores them
// even when the attempt is held.
func (o *Outbox) prepare(d *Delivery) bool {
	if o.opts.Prepare == nil || d.Prepared || d.Attempts > 0 {
		return false
	}
	d.Prepared = true
	if d.Group == nil {
		return o.opts.Prepare.Prepare(o.ctx, &d.Alert)
	}
	changed := false
	for i := range d.Group.Alerts {
		changed = o.opts.Prepare.Prepare(o.ctx, &d.Group.Alerts[i]) || changed
	}
	return changed
}

// record reads the pending record of a claimed entry. An entry whose
// record is gone (a newer state's commit deleted it) or unreadable gives
// nil and leaves memory; an unreadable one stays in the store for the
// next start.
func (o *Outbox) record(e *entry) *Delivery {
	d, err := o.store.Read(e.id)
	if d != nil {
		return d
	}
	if err != nil {
		o.logger.Error("reading a pending delivery failed; it stays in the store until the next start", "id", e.id, "err", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.running--
	e.lane.inFlight--
	if e.token != nil {
		e.token.end(time.Now(), false)
		e.token = nil
	}
	o.unbusy(e, settledGone, nil)
	return nil
}

var errTargetGone = errors.New("target is no longer configured")

// fate is what an attempt's outcome leads to for its delivery.
type fate int

const (
	settledDone fate = iota
	settledRetry
	settledDead
	// settledHeld: not attempted (a skip) or cut short (shutdown); it
	// waits in its lane as it was, nothing is written.
	settledHeld
	// settledGone: not attempted, as its record is no longer pending.
	settledGone
)

// settle records an attempt's outcome: in the lane, durably, then in the
// delivery's slot, where a retry goes back to its lane. A held delivery
// whose alerts were prepared is written back with them.
func (o *Outbox) settle(e *entry, d *Delivery, out core.Outcome, prepared bool) {
	now := time.Now()
	o.mu.Lock()
	l := e.lane
	was := l.held(now)
	l.settle(e, &out, now, o.backoff)
	next := now
	st, until := l.state(now)
	if st != LaneOpen && until.After(now) {
		next = until
	}
	failures := l.failures
	o.running--
	o.mu.Unlock()
	o.poke()
	o.logLane(l.name, was, st, until, failures, &out)

	what := o.judge(d, &out, now, next)
	if what != settledHeld || prepared {
		st := &Settlement{Delivery: d, Fate: FateRetry, Attempt: &out}
		switch what {
		case settledDone:
			st.Fate = FateDone
		case settledDead:
			st.Fate = FateDead
			st.Handover = o.handover(d, o.fallbackNames(l), now)
		case settledHeld:
			st.Attempt = nil // updated in place, as a retry is, with no attempt to note
		}
		if err := o.store.Record(now, st); err != nil {
			o.logger.Error("recording a delivery attempt failed; it stays as it was in the store", "target", d.Target, "id", d.ID, "err", err)
		} else {
			o.admitHanded(d.Target, st.Handover)
		}
		o.log(d, what)
	}
	if what == settledDone {
		o.metrics.delivered(d.Target, now.Sub(d.AcceptedAt))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.unbusy(e, what, &out)
}

// logLane logs a lane's changes between sending and holding its
// backlog: once when it starts holding, once when it recovers; not per
// delivery.
func (o *Outbox) logLane(target string, was bool, st LaneState, until time.Time, failures int, out *core.Outcome) {
	held := st == LanePaused || st == LaneProbing || st == LaneBreakerOpen
	switch {
	case held && !was:
		o.logger.Warn("target lane holds its backlog", "target", target, "state", st, "until", until,
			"consecutive_failures", failures, "status_code", out.StatusCode, "err", out.Err)
	case !held && was:
		o.logger.Info("target lane recovered: its backlog drains now", "target", target)
	}
}

// judge decides what an attempt's outcome leads to and updates d for it;
// next is when its lane goes on.
func (o *Outbox) judge(d *Delivery, out *core.Outcome, now, next time.Time) fate {
	switch out.Kind {
	case core.OutcomeCancelled:
		return settledHeld
	case core.OutcomeSkipped:
		if out.SkipReason != core.SkipTargetGone {
			return settledHeld
		}
		d.DeadAt, d.DeadReason, d.LastError = now, "target is gone", describe(out)
		return settledDead
	}
	d.Attempts++
	d.LastError = describe(out)
	switch {
	case out.Kind == core.OutcomeDelivered:
		return settledDone
	case out.Kind == core.OutcomePermanent:
		d.DeadAt, d.DeadReason = now, "permanent failure"
		switch {
		case errors.Is(out.Err, errTargetGone):
			d.DeadReason = errTargetGone.Error()
		case out.Gone:
			d.DeadReason = "target is gone"
		}
		return settledDead
	case now.Sub(d.AcceptedAt) >= o.opts.MaxAge:
		d.DeadAt, d.DeadReason = now, "maximum age reached"
		return settledDead
	}
	d.NextAttempt = next
	return settledRetry
}

// backoff is the wait before the next probe of a lane after n consecutive
// failures: an exponential ceiling capped at RetryCap, the wait drawn
// from its upper half so probes of many lanes spread out.
func (o *Outbox) backoff(n int) time.Duration {
	return backoff(n, o.opts.RetryBase, o.opts.RetryCap, rand.Int64N)
}

func backoff(n int, base, ceiling time.Duration, rnd func(n int64) int64) time.Duration {
	limit := ceiling
	if shift := n - 1; shift < 32 && base<<shift > 0 && base<<shift < ceiling {
		limit = base << shift
	}
	half := limit / 2
	return half + time.Duration(rnd(int64(limit-half)+1))
}

// unbusy frees the slot of a settled delivery, puts a retry back in its
// lane, queues what comes next in the slot, and answers a waiting
// webhook; o.mu must be held. out is nil when there was no attempt.
func (o *Outbox) unbusy(e *entry, what fate, out *core.Outcome) {
	s := e.slot
	s.busy = nil
	back := what == settledRetry || what == settledHeld
	if back && !e.superseded && s.next == nil {
		s.next = e
	} else {
		o.forget(e)
	}
	if what == settledDead && !e.superseded {
		o.metrics.deadLetters.WithLabelValues(e.lane.name).Inc()
	}
	if out != nil {
		e.answer(*out)
	} else {
		e.answer(core.Skip(SkipQueued))
	}
	if s.next != nil {
		s.next.lane.push(s.next)
		o.poke()
	}
}

func (o *Outbox) log(d *Delivery, what fate) {
	attrs := []any{"target", d.Target, "id", d.ID, "fingerprint", d.Fingerprint(),
		"status", d.Status(), "attempts", d.Attempts}
	switch what {
	case settledDone:
		o.logger.Debug("delivery done", attrs...)
	case settledRetry:
		o.logger.Debug("delivery will be retried", append(attrs, "next_attempt", d.NextAttempt, "err", d.LastError)...)
	case settledDead:
		o.logger.Warn("delivery dead-lettered", append(attrs, "reason", d.DeadReason, "err", d.LastError, "fallback_to", d.FallbackTo)...)
	}
}

// describe is the error of an outcome, or its skip reason.
func describe(o *core.Outcome) string {
	switch {
	case o.Err != nil:
		return o.Err.Error()
	case o.Kind == core.OutcomeSkipped:
		return "skipped: " + o.SkipReason
	}
	return ""
}

// DropTarget dead-letters the waiting deliveries of a target that is no
// longer configured, in one commit, and deletes its lane and its series.
// An attempt in flight settles as usual, and its next retry finds the
// target gone.
func (o *Outbox) DropTarget(name string) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	var claimed []*entry
	var fallback []string
	if l := o.lanes[name]; l != nil {
		fallback = l.fallback
		for _, q := range []*laneQueue{&l.queue, &l.urgent} {
			for q.Len() > 0 {
				e := heap.Pop(q).(*entry)
				e.urgent = false
				e.slot.busy, e.slot.next = e, nil
				claimed = append(claimed, e)
			}
		}
	}
	o.attempts.Add(1)
	o.mu.Unlock()
	defer o.attempts.Done()

	now := time.Now()
	buried := make([]*Settlement, 0, len(claimed))
	read := make([]bool, len(claimed))
	for i, e := range claimed {
		d, err := o.store.Read(e.id)
		if err != nil {
			o.logger.Error("reading a pending delivery failed; it stays in the store until the next start", "id", e.id, "err", err)
		}
		if d != nil {
			d.DeadAt, d.DeadReason, d.LastError = now, "target is gone", errTargetGone.Error()
			buried = append(buried, &Settlement{Delivery: d, Fate: FateDead, Handover: o.handover(d, fallback, now)})
			read[i] = true
		}
	}
	err := o.store.Record(now, buried...)
	if err != nil {
		o.logger.Error("dead-lettering the deliveries of a removed target failed; they stay pending", "target", name, "err", err)
	} else {
		for _, st := range buried {
			o.admitHanded(name, st.Handover)
		}
	}
	o.mu.Lock()
	for i, e := range claimed {
		what := settledDead
		if !read[i] || err != nil {
			what = settledGone
		}
		o.unbusy(e, what, nil)
	}
	if l := o.lanes[name]; l != nil && l.queue.Len() == 0 && l.inFlight == 0 {
		delete(o.lanes, name)
	}
	o.mu.Unlock()
	o.metrics.forget(name)
	if len(claimed) > 0 {
		o.logger.Warn("target removed: its pending deliveries are dead letters now", "target", name, "dead_lettered", len(claimed))
	}
}
