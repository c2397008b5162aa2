package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/am-fanout/am-fanout/core"
)

// The states of a delivery in a webhook answer.
const (
	// StateAccepted: persisted now; it will be delivered.
	StateAccepted = "accepted"
	// StateAlreadyDelivered: the same state reached the target within
	// the dedup window.
	StateAlreadyDelivered = "already_delivered"
	// StateAlreadyPending: the same state is pending from an earlier
	// notification.
	StateAlreadyPending = "already_pending"
	// StateStale: a newer state of the alert was accepted for the target
	// already, so this one is never delivered.
	StateStale = "stale"
)

// Skip reasons of the results answered with wait, for deliveries that
// were not attempted in this request.
const (
	SkipQueued = "queued" // pending: behind an attempt of the same alert, or not attempted in time
	SkipStale  = "stale"
	SkipPaused = "paused" // its target asked for a wait (429 with Retry-After)
)

// Accepted is the fate of one (alert or group, target) delivery in a
// notification.
type Accepted struct {
	Target string `json:"target"`
	ID     uint64 `json:"id,omitempty"`
	State  string `json:"state"`
	// Group is true for a group delivery (group_by: notification),
	// shared by the notification's alerts.
	Group bool `json:"group,omitempty"`
}

// AlertOutcome is what became of one alert of a notification.
type AlertOutcome struct {
	Alert      *core.EnrichedAlert
	Deliveries []Accepted
	// Result holds the first attempts' results when Accept waited, nil
	// otherwise.
	Result *core.ParallelPublishResult
}

// candidate is one delivery being accepted.
type candidate struct {
	alerts []int // of the notification it carries: one, or a group's
	target *core.Target
	d      *Delivery
	data   []byte
	state  string
	old    uint64 // pending delivery it supersedes
	seq    uint64 // commit order, once accepted
	e      *entry // once admitted
	// outcome is the first attempt's, or the skip answered for it; wait
	// gets it while the webhook waits.
	outcome *core.Outcome
	wait    chan core.Outcome
}

// Accept persists a delivery for every target that selects each alert
// (one per alert, or one per notification for targets with group_by:
// notification), in one group commit, and queues them in their targets'
// lanes. With wait it returns after their first attempts, with their
// results; without, as soon as the deliveries are durable. ErrFull,
// ErrClosing and store errors mean that nothing of this call was
// accepted.
func (o *Outbox) Accept(ctx context.Context, alerts []*core.EnrichedAlert, wait bool) ([]AlertOutcome, error) {
	return o.accept(ctx, alerts, o.src.Targets(), wait, o.opts.HealthStrategy != core.StrategyPublishToAll)
}

// accept is Accept to the given targets. A waiting call answers a
// delivery whose lane is paused or whose breaker is open as skipped at
// once; one whose lane is failing too with holdBack (skip_unhealthy),
// while without it that delivery is tried at once, past the lane's one
// probe at a time (publish_to_all).
func (o *Outbox) accept(ctx context.Context, alerts []*core.EnrichedAlert, targets []*core.Target, wait, holdBack bool) ([]AlertOutcome, error) {
	now := time.Now()
	cands := candidates(alerts, targets, now, traceParent(ctx))
	var size int64
	for _, c := range cands {
		size += int64(len(c.data))
	}
	if err := o.reserve(len(cands), size); err != nil {
		return nil, err
	}
	var err error
	if len(cands) > 0 {
		err = o.store.update(func(tx *bolt.Tx) error { return o.decide(tx, cands, now) })
	}
	o.mu.Lock()
	o.reserved -= len(cands)
	o.bytes -= size
	if err != nil {
		o.mu.Unlock()
		return nil, fmt.Errorf("persisting deliveries: %w", err)
	}
	var waiting []*candidate
	for _, c := range cands {
		if c.state != StateAccepted {
			continue
		}
		var replaced bool
		c.e, replaced = o.admit(c.d, len(c.data), c.seq, c.old)
		o.cache(c.e, c.d)
		if replaced && c.d.Group != nil {
			o.metrics.coalesced.WithLabelValues(c.target.Name).Inc()
		}
		if c.e == nil || !wait {
			continue
		}
		if reason := c.e.lane.heldBack(now, holdBack); reason != "" {
			skip := core.Skip(reason)
			c.outcome = &skip
			continue
		}
		if !holdBack && c.e.index >= 0 && c.e.lane.cautious() {
			// publish_to_all: tried now, past the failing lane's probe.
			c.e.lane.queue.remove(c.e)
			c.e.urgent = true
			c.e.lane.urgent.push(c.e)
		}
		c.wait = make(chan core.Outcome, 1)
		c.e.waiter = c.wait
		waiting = append(waiting, c)
	}
	o.mu.Unlock()
	o.poke()

	out := outcomes(alerts, cands)
	if wait {
		o.await(ctx, waiting)
		fill(out, cands)
	}
	return out, nil
}

// candidates are the deliveries of a notification to targets; tp is the
// traceparent of the accept span, if any.
func candidates(alerts []*core.EnrichedAlert, targets []*core.Target, now time.Time, tp string) []*candidate {
	var cands []*candidate
	encoded := make([][]byte, len(alerts))
	alertJSON := func(i int) []byte {
		if encoded[i] == nil {
			encoded[i], _ = json.Marshal(alerts[i])
		}
		return encoded[i]
	}
	for _, t := range targets {
		if grouped(t) {
			if c := groupCandidate(alerts, t, now, tp); c != nil {
				cands = append(cands, c)
			}
			continue
		}
		for i, a := range alerts {
			if !t.Selects(a) {
				continue
			}
			d := &Delivery{Target: t.Name, Alert: *a, AcceptedAt: now, NextAttempt: now, TraceParent: tp}
			data := (&newDelivery{Target: t.Name, Alert: alertJSON(i), AcceptedAt: now, NextAttempt: now, TraceParent: tp}).encode()
			cands = append(cands, &candidate{alerts: []int{i}, target: t, d: d, data: data})
		}
	}
	return cands
}

// grouped reports whether t receives whole notifications.
func grouped(t *core.Target) bool {
	if t.GroupBy != core.GroupByNotification {
		return false
	}
	_, ok := t.Publisher.(core.GroupPublisher)
	return ok || t.Publisher == nil
}

// groupCandidate is the one delivery of a notification to a grouped
// target: the alerts it selects, firing first; nil when it selects none.
func groupCandidate(alerts []*core.EnrichedAlert, t *core.Target, now time.Time, tp string) *candidate {
	var picked []int
	for _, status := range []core.AlertStatus{core.StatusFiring, core.StatusResolved} {
		for i, a := range alerts {
			if a.Alert.Status == status && t.Selects(a) {
				picked = append(picked, i)
			}
		}
	}
	if len(picked) == 0 {
		return nil
	}
	n := &core.Notification{Group: alerts[picked[0]].Group, ReceivedAt: now, Alerts: make([]core.EnrichedAlert, len(picked))}
	for j, i := range picked {
		n.Alerts[j] = *alerts[i]
	}
	group, _ := json.Marshal(n)
	d := &Delivery{Target: t.Name, Group: n, AcceptedAt: now, NextAttempt: now, TraceParent: tp}
	data := (&newDelivery{Target: t.Name, Group: group, AcceptedAt: now, NextAttempt: now, TraceParent: tp}).encode()
	return &candidate{alerts: picked, target: t, d: d, data: data}
}

// reserve counts deliveries against the bounds before they are persisted.
func (o *Outbox) reserve(n int, size int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.closed:
		return ErrClosing
	case len(o.entries)+o.reserved+n > o.opts.MaxPending:
		return fmt.Errorf("%w: %d deliveries pending, the bound is %d", ErrFull, len(o.entries)+o.reserved, o.opts.MaxPending)
	case o.bytes+size > o.opts.MaxBytes:
		return fmt.Errorf("%w: %d bytes pending, the bound is %d", ErrFull, o.bytes, o.opts.MaxBytes)
	}
	o.reserved += n
	o.bytes += size
	return nil
}

// decide settles each candidate's state inside the transaction, so that
// concurrent notifications of one alert are ordered by commit order.
func (o *Outbox) decide(tx *bolt.Tx, cands []*candidate, now time.Time) error {
	pending, latest := o.store.pending(tx), tx.Bucket(bucketLatest)
	for _, c := range cands {
		c.state, c.old, c.d.ID = StateAccepted, 0, 0
		d := c.d
		if o.store.deliveredIn(tx, d.key(), now) {
			c.state = StateAlreadyDelivered
			continue
		}
		slotKey := []byte(d.slot())
		st, known := decodeSlot(latest.Get(slotKey))
		x := d.order()
		if known {
			switch cmp := st.rank(x); {
			case cmp < 0:
				c.state = StateStale
				continue
			case cmp == 0 && st.Pending != 0, d.Group != nil && st.Pending != 0 && o.samePending(pending, st.Pending, d):
				c.state, d.ID = StateAlreadyPending, st.Pending
				continue
			case st.Pending != 0:
				c.old = st.Pending
				if err := pending.Delete(encodeID(st.Pending)); err != nil {
					return err
				}
			}
		}
		id, err := pending.NextSequence()
		if err != nil {
			return err
		}
		d.ID, c.seq = id, o.commits.Add(1)
		if err := pending.Put(encodeID(id), c.data); err != nil {
			return err
		}
		if err := latest.Put(slotKey, st.after(known, x, id, now).encode()); err != nil {
			return err
		}
	}
	return nil
}

// samePending reports whether the pending group delivery id carries the
// same notification as d (a resend of it), which is then not coalesced
// but answered as already pending.
func (o *Outbox) samePending(pending records, id uint64, d *Delivery) bool {
	v := pending.Get(encodeID(id))
	if v == nil {
		return false
	}
	var p Delivery
	if json.Unmarshal(v, &p) != nil {
		return false
	}
	return p.key() == d.key()
}

func outcomes(alerts []*core.EnrichedAlert, cands []*candidate) []AlertOutcome {
	out := make([]AlertOutcome, len(alerts))
	for i, a := range alerts {
		out[i].Alert = a
	}
	for _, c := range cands {
		for _, i := range c.alerts {
			out[i].Deliveries = append(out[i].Deliveries,
				Accepted{Target: c.d.Target, ID: c.d.ID, State: c.state, Group: c.d.Group != nil})
		}
	}
	return out
}

// await waits for the first attempts of the waiting candidates, until
// ctx ends or the fan-out deadline passes; the ones not attempted by then
// are answered as queued.
func (o *Outbox) await(ctx context.Context, waiting []*candidate) {
	ctx, cancel := context.WithTimeout(ctx, o.opts.WaitTimeout)
	defer cancel()
	for _, c := range waiting {
		select {
		case got := <-c.wait:
			c.outcome = &got
		case <-ctx.Done():
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range waiting {
		if c.outcome == nil {
			select {
			case got := <-c.wait:
				c.outcome = &got
			default:
				// Not attempted in time: it waits in its lane, and stops
				// waiting for an answer nobody reads.
				c.e.waiter = nil
				q := core.Skip(SkipQueued)
				c.outcome = &q
			}
		}
	}
}

// fill sets each alert's result from its deliveries' first attempts.
func fill(out []AlertOutcome, cands []*candidate) {
	results := make([][]core.TargetPublishResult, len(out))
	took := make([]time.Duration, len(out))
	for _, c := range cands {
		o := c.outcome
		if o == nil {
			// Not accepted: already delivered, pending or stale.
			skip := core.Skip(map[string]string{
				StateAlreadyDelivered: core.SkipAlreadyDelivered, StateStale: SkipStale,
			}[c.state])
			if skip.SkipReason == "" {
				skip.SkipReason = SkipQueued
			}
			o = &skip
		}
		r := o.Result(c.target)
		if r.Skipped && r.SkipReason == SkipStale {
			r.Retryable = false
		}
		for _, i := range c.alerts {
			results[i] = append(results[i], r)
			took[i] = max(took[i], o.Duration)
		}
	}
	for i := range out {
		out[i].Result = core.NewParallelPublishResult(results[i], took[i])
	}
}
