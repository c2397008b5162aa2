package outbox

import (
	"container/heap"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/am-fanout/am-fanout/core"
)

// dueQueue orders the deliveries that may be attempted (their slot is
// free) by their next attempt time.
type dueQueue []*entry

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due < q[j].due }
func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *dueQueue) Push(x any) {
	e := x.(*entry)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	e.index = -1
	return e
}

func (q *dueQueue) push(e *entry) {
	if e.index < 0 {
		heap.Push(q, e)
	}
}

func (q *dueQueue) remove(e *entry) {
	if e.index >= 0 {
		heap.Remove(q, e.index)
	}
}

// schedule starts the attempts that are due, at most MaxInFlight at once,
// until Close.
func (o *Outbox) schedule() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e, wait := o.nextDue(time.Now())
		if e == nil {
			timer.Reset(wait)
			select {
			case <-o.stop:
				return
			case <-o.wake:
			case <-timer.C:
			}
			continue
		}
		select {
		case o.sem <- struct{}{}:
		case <-o.stop:
			o.mu.Lock()
			o.release(e)
			o.mu.Unlock()
			return
		}
		o.mu.Lock()
		o.attempts.Add(1)
		o.mu.Unlock()
		go func() {
			defer o.attempts.Done()
			defer func() { <-o.sem }()
			o.retry(e)
		}()
	}
}

// nextDue claims the delivery due first, or says how long until one is.
func (o *Outbox) nextDue(now time.Time) (*entry, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.due) == 0 {
		return nil, time.Hour
	}
	e := o.due[0]
	if wait := time.Unix(0, e.due).Sub(now); wait > 0 {
		return nil, wait
	}
	heap.Pop(&o.due)
	e.slot.busy, e.slot.next = e, nil
	return e, 0
}

// release puts a claimed delivery back without attempting it; o.mu must
// be held.
func (o *Outbox) release(e *entry) {
	s := e.slot
	s.busy = nil
	if s.next == nil {
		s.next = e
	} else {
		o.forget(e)
	}
	o.due.push(s.next)
}

// retry makes one more attempt of a pending delivery to the current
// target of its name, with its record read back from the store.
func (o *Outbox) retry(e *entry) {
	ds := o.records([]*entry{e})
	d := ds[0]
	if d == nil {
		return
	}
	var t *core.Target
	for _, c := range o.src.Targets() {
		if c.Name == d.Target {
			t = c
		}
	}
	if d.Attempts > 0 {
		// A first attempt that waited for a slot (max_in_flight) or was
		// resumed after a restart is not a retry.
		o.metrics.retries.WithLabelValues(d.Target).Inc()
	}
	if t == nil {
		o.settle(e, d, &core.TargetPublishResult{TargetName: d.Target, Error: errTargetGone})
		return
	}
	res, err := o.pub.PublishToMultiple(o.ctx, &d.Alert, []*core.Target{t})
	r := core.TargetPublishResult{TargetName: t.Name, Error: err, Retryable: true}
	if res != nil && len(res.Results) == 1 {
		r = res.Results[0]
	}
	o.settle(e, d, &r)
}

// records reads the pending records of claimed entries. An entry whose
// record is gone (a newer state's commit deleted it) or unreadable is
// nil in the answer and leaves memory; an unreadable one stays in the
// store for the next start.
func (o *Outbox) records(es []*entry) []*Delivery {
	ds := make([]*Delivery, len(es))
	errs := make([]error, len(es))
	err := o.store.view(func(tx *bolt.Tx) error {
		pending := tx.Bucket(bucketPending)
		for i, e := range es {
			v := pending.Get(encodeID(e.id))
			if v == nil {
				continue
			}
			d := &Delivery{}
			if errs[i] = json.Unmarshal(v, d); errs[i] == nil {
				d.ID, ds[i] = e.id, d
			}
		}
		return nil
	})
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, e := range es {
		if ds[i] != nil {
			continue
		}
		if err := errors.Join(err, errs[i]); err != nil {
			o.logger.Error("reading a pending delivery failed; it stays in the store until the next start", "id", e.id, "err", err)
		}
		o.unbusy(&settled{e: e, what: outcomeGone})
	}
	return ds
}

var errTargetGone = errors.New("target is no longer configured")

// outcome is what an attempt leads to.
type outcome int

const (
	outcomeDone outcome = iota
	outcomeRetry
	outcomeDead
	// outcomeGone: not attempted, as its record is no longer pending.
	outcomeGone
)

// settled is an attempt's outcome for one delivery.
type settled struct {
	e    *entry
	d    Delivery
	data []byte // d encoded, for a retry or a dead letter
	what outcome
}

// settle records an attempt's result durably, then in memory.
func (o *Outbox) settle(e *entry, d *Delivery, r *core.TargetPublishResult) {
	o.settleAll([]*entry{e}, []*Delivery{d}, []core.TargetPublishResult{*r})
}

// settleAll records the results of one attempt to several targets in one
// commit, so that the window in which a kill repeats a delivery stays one
// fsync long. ds are the entries' records as attempted.
func (o *Outbox) settleAll(es []*entry, ds []*Delivery, rs []core.TargetPublishResult) {
	now := time.Now()
	out := make([]settled, len(es))
	for i, e := range es {
		out[i] = settled{e: e, d: *ds[i]}
		out[i].what = o.judge(&out[i].d, &rs[i], now)
		if out[i].what != outcomeDone {
			// Encoded here, not in the transaction all writers share.
			out[i].data, _ = json.Marshal(&out[i].d)
		}
	}
	err := o.store.update(func(tx *bolt.Tx) error {
		for i := range out {
			if err := o.store.record(tx, &out[i].d, out[i].data, out[i].what, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		o.logger.Error("recording delivery attempts failed; they stay as they were in the store", "deliveries", len(out), "err", err)
	}
	for i := range out {
		o.log(&out[i].d, out[i].what)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range out {
		o.unbusy(&out[i])
	}
}

// judge decides what an attempt's result leads to and updates d for it.
func (o *Outbox) judge(d *Delivery, r *core.TargetPublishResult, now time.Time) outcome {
	d.Attempts++
	what := outcomeRetry
	switch {
	case r.Success, r.Skipped && r.SkipReason == core.SkipAlreadyDelivered:
		what = outcomeDone
	case errors.Is(r.Error, errTargetGone):
		what, d.DeadReason = outcomeDead, errTargetGone.Error()
	case !r.Retryable:
		what, d.DeadReason = outcomeDead, "permanent failure"
	case now.Sub(d.AcceptedAt) >= o.opts.MaxAge:
		what, d.DeadReason = outcomeDead, "maximum age reached"
	}
	d.LastError = describe(r)
	switch what {
	case outcomeRetry:
		d.NextAttempt = now.Add(backoff(d.Attempts, o.opts.RetryBase, o.opts.RetryCap, core.RetryAfter(r.Error), rand.Int64N))
	case outcomeDead:
		d.DeadAt = now
	}
	return what
}

// unbusy frees the slot of a settled delivery and queues what comes next
// in it; o.mu must be held.
func (o *Outbox) unbusy(st *settled) {
	e, s := st.e, st.e.slot
	s.busy = nil
	if st.what == outcomeRetry && !e.superseded && s.next == nil {
		e.due = st.d.NextAttempt.UnixNano()
		s.next = e
	} else {
		o.forget(e)
	}
	if st.what == outcomeDead && !e.superseded {
		o.metrics.deadLetters.WithLabelValues(st.d.Target).Inc()
	}
	if s.next != nil {
		o.due.push(s.next)
		o.poke()
	}
}

func (o *Outbox) log(d *Delivery, what outcome) {
	attrs := []any{"target", d.Target, "id", d.ID, "fingerprint", d.Alert.Alert.Fingerprint,
		"status", d.Alert.Alert.Status, "attempts", d.Attempts}
	switch what {
	case outcomeDone:
		o.logger.Debug("delivery done", attrs...)
	case outcomeRetry:
		o.logger.Debug("delivery will be retried", append(attrs, "next_attempt", d.NextAttempt, "err", d.LastError)...)
	case outcomeDead:
		o.logger.Warn("delivery dead-lettered", append(attrs, "reason", d.DeadReason, "err", d.LastError)...)
	}
}

// describe is the error of a result, or its skip reason.
func describe(r *core.TargetPublishResult) string {
	switch {
	case r.Error != nil:
		return r.Error.Error()
	case r.Skipped:
		return "skipped: " + r.SkipReason
	}
	return ""
}

// record writes an attempt's outcome: a done delivery leaves the pending
// bucket for the dedup log, a dead one moves to the dead letters, a retry
// is updated in place. A delivery that a newer state superseded is no
// longer in the pending bucket and is not written back.
func (s *Store) record(tx *bolt.Tx, d *Delivery, data []byte, what outcome, now time.Time) error {
	pending, id := tx.Bucket(bucketPending), encodeID(d.ID)
	exists := pending.Get(id) != nil
	switch what {
	case outcomeRetry:
		if !exists {
			return nil
		}
		return pending.Put(id, data)
	case outcomeDone:
		if err := tx.Bucket(bucketDone).Put([]byte(d.key()), encodeTime(now)); err != nil {
			return err
		}
	case outcomeDead:
		if !exists {
			return nil
		}
		if err := tx.Bucket(bucketDead).Put(id, data); err != nil {
			return err
		}
	}
	if err := pending.Delete(id); err != nil {
		return err
	}
	return clearPending(tx, d, now)
}

// clearPending notes that the slot's newest state is no longer pending.
func clearPending(tx *bolt.Tx, d *Delivery, now time.Time) error {
	latest := tx.Bucket(bucketLatest)
	st, ok := decodeSlot(latest.Get([]byte(d.slot())))
	if !ok || st.Pending != d.ID {
		return nil
	}
	st.Pending, st.At = 0, now
	return latest.Put([]byte(d.slot()), st.encode())
}

// backoff is the wait before the next attempt after attempts: full
// jitter over an exponential ceiling, and never less than the target's
// Retry-After. rnd returns a number in [0, n).
func backoff(attempts int, base, ceiling, retryAfter time.Duration, rnd func(n int64) int64) time.Duration {
	limit := ceiling
	if shift := attempts - 1; shift < 32 && base<<shift > 0 && base<<shift < ceiling {
		limit = base << shift
	}
	return max(time.Duration(rnd(int64(limit)+1)), retryAfter)
}

// DropTarget dead-letters the waiting deliveries of a target that is no
// longer configured, and deletes its retry and dead-letter series. An
// attempt in flight settles as usual, and its next retry finds the
// target gone.
func (o *Outbox) DropTarget(name string) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	var claimed []*entry
	for _, s := range o.slots {
		if e := s.next; e != nil && s.busy == nil && s.target() == name {
			o.due.remove(e)
			s.busy, s.next = e, nil
			claimed = append(claimed, e)
		}
	}
	o.attempts.Add(len(claimed))
	o.mu.Unlock()
	var es []*entry
	var ds []*Delivery
	for i, d := range o.records(claimed) {
		if d != nil {
			es, ds = append(es, claimed[i]), append(ds, d)
		}
	}
	rs := make([]core.TargetPublishResult, len(es))
	for i := range rs {
		rs[i] = core.TargetPublishResult{TargetName: name, Error: errTargetGone}
	}
	o.settleAll(es, ds, rs)
	o.attempts.Add(-len(claimed))
	o.metrics.retries.DeleteLabelValues(name)
	o.metrics.deadLetters.DeleteLabelValues(name)
	if len(claimed) > 0 {
		o.logger.Warn("target removed: its pending deliveries are dead letters now", "target", name, "dead_lettered", len(claimed))
	}
}
