package fanout

import (
	"context"
	"fmt"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// Skip reasons of the results answered with wait, for deliveries that
// were not attempted in this request; SkipFollower (leader.go) is one too.
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

// candidate is one delivery being accepted: what the store decides for
// it, and what the webhook's answer needs.
type candidate struct {
	*outbox.Candidate
	alerts []int // of the notification it carries: one, or a group's
	target *core.Target
	e      *entry // once admitted
	// outcome is the first attempt's, or the skip answered for it; wait
	// gets it while the webhook waits.
	outcome *core.Outcome
	wait    chan core.Outcome
}

// Accept persists a delivery for every target that selects each alert
// (one per alert, or one per notification for targets with group_by:
// notification), in one group commit, and queues them in their targets'
// lanes (on a replica without the lease, it leaves them to the one that
// holds it, and a waiting call answers them as skipped: follower). With wait it returns after their first attempts, with their
// results; without, as soon as the deliveries are durable. ErrFull,
// ErrClosing and store errors mean that nothing of this call was
// accepted.
func (p *Pipeline) Accept(ctx context.Context, alerts []*core.EnrichedAlert, wait bool) ([]AlertOutcome, error) {
	return p.accept(ctx, alerts, p.src.Targets(), wait, p.opts.skipUnhealthy())
}

// accept is Accept to the given targets. A waiting call answers a
// delivery whose lane is paused or whose breaker is open as skipped at
// once; one whose lane is failing too with holdBack (skip_unhealthy),
// while without it that delivery is tried at once, past the lane's one
// probe at a time (publish_to_all).
func (p *Pipeline) accept(ctx context.Context, alerts []*core.EnrichedAlert, targets []*core.Target, wait, holdBack bool) ([]AlertOutcome, error) {
	picked := picks(alerts, targets)
	if len(picked) > 0 {
		// Deliveries that do not fit are refused before the work of
		// encoding them, as a storm's resends are; their bytes are
		// counted once they are encoded (reserve).
		p.mu.Lock()
		err := p.room(len(picked), 1)
		p.noteRefused(err, len(picked), 0)
		p.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	now := time.Now()
	cands := candidates(alerts, picked, now, traceParent(ctx))
	var size int64
	offered := make([]*outbox.Candidate, len(cands))
	for i, c := range cands {
		size += int64(c.Size())
		offered[i] = c.Candidate
	}
	if err := p.reserve(len(cands), size); err != nil {
		return nil, err
	}
	var err error
	if len(cands) > 0 {
		err = p.store.Accept(offered, now)
	}
	p.mu.Lock()
	p.reserved -= len(cands)
	p.bytes -= size
	if err != nil {
		p.freed()
		p.mu.Unlock()
		return nil, fmt.Errorf("persisting deliveries: %w", err)
	}
	p.need = shortage{}
	var waiting []*candidate
	nAccepted := 0
	// The first attempts of one alert's deliveries share it.
	kept := make([]*accepted, len(alerts))
	for _, c := range cands {
		if c.State != outbox.StateAccepted {
			continue
		}
		nAccepted++
		if p.term == nil {
			// Persisted for the replica that runs the lanes.
			if wait {
				skip := core.Skip(SkipFollower)
				c.outcome = &skip
			}
			continue
		}
		var replaced bool
		c.e, replaced = p.admitOnce(c.Candidate)
		var sh *accepted
		if c.Shared() > 0 {
			i := c.alerts[0]
			if kept[i] == nil {
				kept[i] = newAccepted(c.Candidate)
			}
			sh = kept[i]
		}
		p.cache(c.e, c.Delivery, sh)
		if replaced && c.Delivery.Group != nil {
			p.metrics.coalesced.WithLabelValues(c.target.Name).Inc()
		}
		if c.e == nil || !wait {
			continue
		}
		if reason := c.e.lane.heldBack(now, holdBack); reason != "" {
			skip := core.Skip(reason)
			c.outcome = &skip
			continue
		}
		if !holdBack && c.e.lane.cautious() {
			// publish_to_all: tried now, past the failing lane's probe.
			c.e.lane.hurry(c.e)
		}
		c.wait = make(chan core.Outcome, 1)
		c.e.waiter = c.wait
		waiting = append(waiting, c)
	}
	p.noteAccepted(nAccepted)
	// Deliveries not accepted (already delivered, stale) leave their
	// reservation's room.
	p.freed()
	p.mu.Unlock()
	p.poke()

	out := outcomes(alerts, cands)
	if wait {
		p.await(ctx, waiting)
		fill(out, cands)
		for i := range out {
			p.metrics.fanout(out[i].Result)
		}
	}
	return out, nil
}

// pick is what one delivery of a notification takes: the alerts (by
// index) that target t selects, as one message when the target is
// grouped, else one alert.
type pick struct {
	target *core.Target
	alerts []int
	group  bool
}

// picks are the deliveries of alerts to targets: a grouped target's one
// message of the alerts it selects, firing first (none when it selects
// none), else one per alert it selects.
func picks(alerts []*core.EnrichedAlert, targets []*core.Target) []pick {
	// One allocation: a target takes one pick per alert, or one for all.
	n := 0
	for _, t := range targets {
		if grouped(t) {
			n++
		} else {
			n += len(alerts)
		}
	}
	out := make([]pick, 0, n)
	// The one-alert picks share their index slices.
	var index []int
	for _, t := range targets {
		if !grouped(t) {
			for i, a := range alerts {
				if t.Selects(a) {
					if index == nil {
						index = make([]int, len(alerts))
						for j := range index {
							index[j] = j
						}
					}
					out = append(out, pick{target: t, alerts: index[i : i+1 : i+1]})
				}
			}
			continue
		}
		var picked []int
		for _, status := range []core.AlertStatus{core.StatusFiring, core.StatusResolved} {
			for i, a := range alerts {
				if a.Alert.Status == status && t.Selects(a) {
					picked = append(picked, i)
				}
			}
		}
		if len(picked) > 0 {
			out = append(out, pick{target: t, alerts: picked, group: true})
		}
	}
	return out
}

// candidates encodes the deliveries picked, accepted at now.
func candidates(alerts []*core.EnrichedAlert, picked []pick, now time.Time, tp string) []*candidate {
	cands := make([]*candidate, 0, len(picked))
	all := make([]candidate, len(picked)) // one allocation for them all
	enc := outbox.NewEncoder(alerts, now, tp)
	for k, pk := range picked {
		c := &all[k]
		c.alerts, c.target = pk.alerts, pk.target
		if pk.group {
			n := &core.Notification{Group: alerts[pk.alerts[0]].Group, ReceivedAt: now, Alerts: make([]core.EnrichedAlert, len(pk.alerts))}
			for j, i := range pk.alerts {
				n.Alerts[j] = *alerts[i]
			}
			c.Candidate = enc.Group(pk.target.Name, n)
		} else {
			c.Candidate = enc.Alert(pk.target.Name, pk.alerts[0])
		}
		cands = append(cands, c)
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

func outcomes(alerts []*core.EnrichedAlert, cands []*candidate) []AlertOutcome {
	out := make([]AlertOutcome, len(alerts))
	// Every alert's deliveries in one array, each alert's its own part.
	n := make([]int, len(alerts))
	total := 0
	for _, c := range cands {
		for _, i := range c.alerts {
			n[i]++
			total++
		}
	}
	all := make([]Accepted, 0, total)
	for i, a := range alerts {
		out[i].Alert = a
		out[i].Deliveries = all[len(all) : len(all) : len(all)+n[i]]
		all = all[:len(all)+n[i]]
	}
	for _, c := range cands {
		for _, i := range c.alerts {
			out[i].Deliveries = append(out[i].Deliveries,
				Accepted{Target: c.Delivery.Target, ID: c.Delivery.ID, State: c.State, Group: c.Delivery.Group != nil})
		}
	}
	return out
}

// await waits for the first attempts of the waiting candidates, until
// ctx ends, the fan-out deadline passes or the waits end (EndWaits); the
// ones not attempted by then are answered as queued.
func (p *Pipeline) await(ctx context.Context, waiting []*candidate) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.WaitTimeout)
	defer cancel()
	defer context.AfterFunc(p.waits, cancel)()
	for _, c := range waiting {
		select {
		case got := <-c.wait:
			c.outcome = &got
		case <-ctx.Done():
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
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

// notAccepted is the skip reason answered for a delivery the store did
// not accept in state: already delivered, stale, or pending.
func notAccepted(state string) string {
	switch state {
	case outbox.StateAlreadyDelivered:
		return core.SkipAlreadyDelivered
	case outbox.StateStale:
		return SkipStale
	}
	return SkipQueued
}

// fill sets each alert's result from its deliveries' first attempts.
func fill(out []AlertOutcome, cands []*candidate) {
	results := make([][]core.TargetPublishResult, len(out))
	took := make([]time.Duration, len(out))
	for _, c := range cands {
		o := c.outcome
		if o == nil {
			skip := core.Skip(notAccepted(c.State))
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
