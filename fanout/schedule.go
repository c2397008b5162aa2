package fanout

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// schedule starts the attempts the lanes allow, at most MaxInFlight at
// once, until Close. It sleeps until the earliest time a lane may go on,
// or until an accept, a settle or a pause wakes it.
func (p *Pipeline) schedule() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []claim
	for {
		var next time.Time
		next, due = p.startDue(time.Now(), due[:0])
		// Started once the lock is released: a worker woken while the
		// scheduler held it would only wait for it, and so would every
		// webhook and outcome behind it.
		for i, c := range due {
			p.workers.run(func() { p.makeAttempts(c) })
			due[i] = claim{}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-p.stop:
			return
		case <-p.wake:
		case <-timer.C:
		}
	}
}

// claim is an attempt claimed from its lane: its delivery's entry, its
// record when memory still holds it, the target as configured when it
// was claimed (nil: gone), and the term it runs in.
type claim struct {
	e  *entry
	d  *outbox.Delivery
	t  *core.Target
	tm *term
}

// startDue claims every attempt the lanes allow at now, appends them to
// due for the caller to start, and says when one may next go on (zero:
// only an event can change that). At MaxInFlight the lanes take turns:
// each pass begins after the lane that took the last room in the pass
// before. Taken in the order of a map, two lanes were not taken first
// equally often, and under MaxInFlight one could send its whole queue
// before the other sent anything.
func (p *Pipeline) startDue(now time.Time, due []claim) (time.Time, []claim) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starved = false
	if p.closed || p.term == nil || !p.term.ready {
		return time.Time{}, due
	}
	var next time.Time
	n := len(p.turns)
	for i := range n {
		k := (p.turn + i) % n
		l := p.turns[k]
		t := p.targetNamed(l.name)
		p.configure(l, t)
		for {
			if p.running >= p.opts.MaxInFlight {
				// Its turn comes when an attempt ends (see chain).
				p.starved = p.starved || l.queue.Len()+l.urgent.Len() > 0
				break
			}
			c, ok, at := p.take(l, t, now)
			if !ok {
				if !at.IsZero() && (next.IsZero() || at.Before(next)) {
					next = at
				}
				break
			}
			due = append(due, c)
			if p.running >= p.opts.MaxInFlight {
				// The next pass begins after the lane that took the last
				// room, so that the lanes waiting for it take turns.
				p.turn = k + 1
			}
		}
	}
	return next, due
}

// take claims the next attempt of lane l, whose target is t, when the
// lane allows one at now; otherwise it says when the lane may go on
// (zero: only an event can change that). p.mu must be held, the
// pipeline open and its term ready.
func (p *Pipeline) take(l *lane, t *core.Target, now time.Time) (claim, bool, time.Time) {
	ok, at := l.ready(now)
	if !ok {
		return claim{}, false, at
	}
	e := l.take()
	e.slot.busy, e.slot.next = e, nil
	d := p.uncache(e)
	p.running++
	p.attempts.Add(1)
	tm := p.term
	tm.attempts.Add(1)
	return claim{e: e, d: d, t: t, tm: tm}, true, time.Time{}
}

// chain claims the next attempt of the lane an attempt just left, for
// the worker that made it to run at once, when the lane allows one and
// no other lane waits for MaxInFlight to let its attempts out: in a
// steady stream of deliveries an attempt then starts without the
// scheduler waking and handing it to a worker. p.mu must be held.
func (p *Pipeline) chain(l *lane, now time.Time) (claim, bool) {
	if p.starved || p.closed || p.term == nil || !p.term.ready || p.running >= p.opts.MaxInFlight {
		return claim{}, false
	}
	t := p.targetNamed(l.name)
	p.configure(l, t)
	c, ok, _ := p.take(l, t, now)
	return c, ok
}

// makeAttempts makes the attempt of c, then those chain hands it, one
// after the other. Each ends when its outcome is recorded, which may be
// after its worker went on (Pipeline.write).
func (p *Pipeline) makeAttempts(c claim) {
	for ok := true; ok; {
		c, ok = p.attempt(c)
	}
}

// targetNamed returns the current target called name, nil when there is
// none; p.mu must be held. Its index by name is rebuilt when the source
// holds another set of targets (a reload).
func (p *Pipeline) targetNamed(name string) *core.Target {
	ts := p.src.Targets()
	if len(ts) != len(p.named.of) || len(ts) > 0 && &ts[0] != &p.named.of[0] {
		p.named.of = ts
		p.named.by = make(map[string]*core.Target, len(ts))
		for _, t := range ts {
			p.named.by[t.Name] = t
		}
	}
	return p.named.by[name]
}

// configure applies the target's settings to its lane; p.mu must be held.
// A target no longer configured keeps a lane that lets its deliveries
// out one by one, each to be dead-lettered as gone.
func (p *Pipeline) configure(l *lane, t *core.Target) {
	l.maxInFlight = p.opts.LaneInFlight
	if t == nil {
		return
	}
	l.openFor, l.fallback = t.Breaker.OpenFor, t.Fallback
	if t.RateLimit != l.limit || (l.limiter == nil) != t.RateLimit.Unlimited() {
		l.limit = t.RateLimit
		l.limiter = p.limiter(t)
	}
}

// limiter returns the token bucket of t's rate scope, shared by the
// targets of that scope; nil when t is unlimited. p.mu must be held.
func (p *Pipeline) limiter(t *core.Target) *bucket {
	r := t.RateLimit
	if r.Unlimited() {
		return nil
	}
	scope := r.Scope
	if scope == "" {
		scope = "target\x00" + t.Name
	}
	burst := max(r.Burst, 1)
	if b, ok := p.limiters[scope]; ok && b.lim.Limit() == rate.Limit(r.PerSecond) && b.lim.Burst() == burst {
		return b
	}
	b := &bucket{lim: rate.NewLimiter(rate.Limit(r.PerSecond), burst)}
	p.limiters[scope] = b
	return b
}

// lane returns the lane of target name, making it; p.mu must be held.
func (p *Pipeline) lane(name string) *lane {
	l := p.lanes[name]
	if l == nil {
		l = &lane{name: name, maxInFlight: p.opts.LaneInFlight}
		p.lanes[name] = l
		p.turns = append(p.turns, l)
	}
	return l
}

// attempt makes the attempt of c to its target, as configured when it
// was claimed (nil: gone), in its term's context, and settles it; the
// attempt ends (ended) once it is settled and recorded. c's record is
// the one accepted when memory still held it (a first attempt soon after
// the webhook); otherwise it is read back from the store. It returns
// the lane's next attempt when settle chained one.
func (p *Pipeline) attempt(c claim) (claim, bool) {
	e, d, t, ctx := c.e, c.d, c.t, c.tm.ctx
	if d == nil {
		if d = p.record(e); d == nil {
			p.ended(c.tm)
			return claim{}, false
		}
	}
	if t == nil {
		return p.settle(e, d, core.Outcome{Kind: core.OutcomePermanent, Err: errTargetGone}, false, c.tm)
	}
	if d.Attempts > 0 {
		// A first attempt that waited in its lane or was resumed after a
		// restart is not a retry.
		p.metrics.retries.WithLabelValues(d.Target).Inc()
	}
	prepared := p.prepare(ctx, d)
	memo := d.Memo
	d.Memo = nil
	if prepared {
		// Its alert is no longer the one the memo's bodies came from.
		memo = nil
	}
	alert := &d.Alert
	if d.Group != nil {
		alert = nil
	}
	ctx = core.WithRenderMemo(traceContext(ctx, d.TraceParent), memo)
	return p.settle(e, d, p.attempter.Attempt(ctx, t, alert, d.Group), prepared, c.tm)
}

// ended ends an attempt of term tm whose outcome is recorded.
func (p *Pipeline) ended(tm *term) {
	tm.attempts.Done()
	p.attempts.Done()
}

// prepare runs Options.Prepare on the alerts of a delivery not attempted
// yet and reports whether it changed them, so that settle stores them
// even when the attempt is held.
func (p *Pipeline) prepare(ctx context.Context, d *outbox.Delivery) bool {
	if p.opts.Prepare == nil || d.Prepared || d.Attempts > 0 {
		return false
	}
	d.Prepared = true
	if a, ok := p.opts.Prepare.(ActivePreparer); ok && !a.Active() {
		return false
	}
	if d.Group == nil {
		if d.Memo != nil {
			// As accepted: the alert's maps are its other deliveries' too.
			ownMaps(d)
		}
		return p.opts.Prepare.Prepare(ctx, &d.Alert)
	}
	changed := false
	for i := range d.Group.Alerts {
		changed = p.opts.Prepare.Prepare(ctx, &d.Group.Alerts[i]) || changed
	}
	return changed
}

// record reads the pending record of a claimed entry. An entry whose
// record is gone (a newer state's commit deleted it) or unreadable gives
// nil and leaves memory; an unreadable one stays in the store for the
// next start.
func (p *Pipeline) record(e *entry) *outbox.Delivery {
	d, err := p.store.Read(e.id)
	if d != nil {
		return d
	}
	if err != nil {
		p.logger.Error("reading a pending delivery failed; it stays in the store until the next start", "id", e.id, "err", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running--
	e.lane.inFlight--
	if e.token != nil {
		e.token.end(time.Now(), false)
		e.token = nil
	}
	p.unbusy(e, settledGone, nil)
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
// whose alerts were prepared is written back with them. The attempt, of
// term tm, ends once all of that is done. It returns the lane's next
// attempt when chain claimed one for the caller to make.
func (p *Pipeline) settle(e *entry, d *outbox.Delivery, outcome core.Outcome, prepared bool, tm *term) (claim, bool) {
	now := time.Now()
	// The outcome and the settlement that notes it, in one allocation:
	// both outlive the call, in the write's callback.
	sr := &struct {
		rec outbox.Settlement
		out core.Outcome
	}{out: outcome}
	out := &sr.out
	p.mu.Lock()
	l := e.lane
	was, _ := l.state(now)
	l.settle(e, out, now, p.backoff)
	resume := now
	st, until := l.state(now)
	if st != LaneOpen && until.After(now) {
		resume = until
	}
	failures := l.failures
	var keep *outbox.LaneMemory
	if m := l.memory(); m != l.kept {
		l.kept, keep = m, &m
	}
	p.running--
	next, chained := p.chain(l, now)
	p.mu.Unlock()
	if !chained {
		// The room this attempt leaves may be another lane's, or its own
		// later (a pause's end, a backoff).
		p.poke()
	}
	p.logLane(l.name, was, st, until, failures, out)
	p.keepLane(keep)

	what := p.judge(d, out, now, resume)
	if what == settledHeld && !prepared {
		p.finish(e, d, what, out, now)
		p.ended(tm)
		return next, chained
	}
	rec := &sr.rec
	*rec = outbox.Settlement{Delivery: d, Fate: outbox.FateRetry, Attempt: out, At: now}
	switch what {
	case settledDone:
		rec.Fate = outbox.FateDone
	case settledDead:
		rec.Fate = outbox.FateDead
		rec.Handover = p.handover(d, p.fallbackNames(l), now)
	case settledHeld:
		rec.Attempt = nil // updated in place, as a retry is, with no attempt to note
	}
	p.write(rec, func(err error) {
		if err != nil {
			p.logger.Error("recording a delivery attempt failed; it stays as it was in the store", "target", d.Target, "id", d.ID, "err", err)
		} else {
			p.admitHanded(d.Target, rec.Handover)
		}
		p.log(d, what)
		p.finish(e, d, what, out, now)
		p.ended(tm)
	})
	return next, chained
}

// finish ends a settled attempt once its outcome is recorded: its
// latency, and its slot freed for what comes next.
func (p *Pipeline) finish(e *entry, d *outbox.Delivery, what fate, out *core.Outcome, now time.Time) {
	if what == settledDone {
		p.metrics.delivered(d.Target, now.Sub(d.AcceptedAt))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unbusy(e, what, out)
}

// keepLane saves a lane's changed state to a store that replicas share,
// for the replica that takes the lanes over next.
func (p *Pipeline) keepLane(m *outbox.LaneMemory) {
	ls, ok := p.store.(LaneStore)
	if m == nil || !ok || p.opts.Lease == nil {
		return
	}
	if err := ls.SaveLane(*m); err != nil {
		p.logger.Warn("keeping a lane's state in the shared store failed; the next lane holder starts it afresh", "target", m.Target, "err", err)
	}
}

// logLane logs a lane's changes between sending and holding its
// backlog: once when it starts holding, once when it recovers; not per
// delivery.
func (p *Pipeline) logLane(target string, was, st LaneState, until time.Time, failures int, out *core.Outcome) {
	held, wasHeld := st.holds(), was.holds()
	switch {
	case held && !wasHeld:
		p.logger.Warn("target lane holds its backlog", "target", target, "state", st, "until", until,
			"consecutive_failures", failures, "status_code", out.StatusCode, "err", out.Err)
	case !held && wasHeld:
		p.logger.Info("target lane recovered: its backlog drains now", "target", target)
	}
}

// judge decides what an attempt's outcome leads to and updates d for it;
// next is when its lane goes on.
func (p *Pipeline) judge(d *outbox.Delivery, out *core.Outcome, now, next time.Time) fate {
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
	case now.Sub(d.AcceptedAt) >= p.opts.MaxAge:
		d.DeadAt, d.DeadReason = now, "maximum age reached"
		return settledDead
	}
	d.NextAttempt = next
	return settledRetry
}

// backoff is the wait before the next probe of a lane after n consecutive
// failures: an exponential ceiling capped at RetryCap, the wait drawn
// from its upper half so probes of many lanes spread out.
func (p *Pipeline) backoff(n int) time.Duration {
	return backoff(n, p.opts.RetryBase, p.opts.RetryCap, rand.Int64N)
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
// webhook; p.mu must be held. out is nil when there was no attempt.
func (p *Pipeline) unbusy(e *entry, what fate, out *core.Outcome) {
	s := e.slot
	s.busy = nil
	back := what == settledRetry || what == settledHeld
	if back && !e.superseded && s.next == nil {
		s.next = e
	} else {
		p.forget(e)
	}
	if what == settledDead && !e.superseded {
		p.metrics.deadLetters.WithLabelValues(e.lane.name).Inc()
	}
	if out != nil {
		e.answer(*out)
	} else {
		e.answer(core.Skip(SkipQueued))
	}
	if s.next != nil {
		s.next.lane.push(s.next)
		p.poke()
	}
}

func (p *Pipeline) log(d *outbox.Delivery, what fate) {
	level := slog.LevelDebug
	if what == settledDead {
		level = slog.LevelWarn
	}
	if !p.logger.Enabled(context.Background(), level) {
		// Spares every delivery the attributes of a line not written.
		return
	}
	attrs := []any{"target", d.Target, "id", d.ID, "fingerprint", d.Fingerprint(),
		"status", d.Status(), "attempts", d.Attempts}
	switch what {
	case settledDone:
		p.logger.Debug("delivery done", attrs...)
	case settledRetry:
		p.logger.Debug("delivery will be retried", append(attrs, "next_attempt", d.NextAttempt, "err", d.LastError)...)
	case settledDead:
		p.logger.Warn("delivery dead-lettered", append(attrs, "reason", d.DeadReason, "err", d.LastError, "fallback_to", d.FallbackTo)...)
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
func (p *Pipeline) DropTarget(name string) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	var claimed []*entry
	var fallback []string
	if l := p.lanes[name]; l != nil {
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
	p.attempts.Add(1)
	if tm := p.term; tm != nil {
		// Losing the lease waits for it, as for an attempt.
		tm.attempts.Add(1)
		defer tm.attempts.Done()
	}
	p.mu.Unlock()
	defer p.attempts.Done()

	now := time.Now()
	buried := make([]*outbox.Settlement, 0, len(claimed))
	read := make([]bool, len(claimed))
	for i, e := range claimed {
		d, err := p.store.Read(e.id)
		if err != nil {
			p.logger.Error("reading a pending delivery failed; it stays in the store until the next start", "id", e.id, "err", err)
		}
		if d != nil {
			d.DeadAt, d.DeadReason, d.LastError = now, "target is gone", errTargetGone.Error()
			buried = append(buried, &outbox.Settlement{Delivery: d, Fate: outbox.FateDead, Handover: p.handover(d, fallback, now)})
			read[i] = true
		}
	}
	err := p.store.Record(now, buried...)
	if err != nil {
		p.logger.Error("dead-lettering the deliveries of a removed target failed; they stay pending", "target", name, "err", err)
	} else {
		for _, st := range buried {
			p.admitHanded(name, st.Handover)
		}
	}
	p.mu.Lock()
	for i, e := range claimed {
		what := settledDead
		if !read[i] || err != nil {
			what = settledGone
		}
		p.unbusy(e, what, nil)
	}
	if l := p.lanes[name]; l != nil && l.queue.Len() == 0 && l.inFlight == 0 {
		delete(p.lanes, name)
		p.turns = slices.DeleteFunc(p.turns, func(x *lane) bool { return x == l })
	}
	p.mu.Unlock()
	p.metrics.forget(name)
	if len(claimed) > 0 {
		p.logger.Warn("target removed: its pending deliveries are dead letters now", "target", name, "dead_lettered", len(claimed))
	}
}
