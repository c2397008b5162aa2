package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/fanout"
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
	SkipQueued = "queued" // pending, behind an attempt of the same alert
	SkipStale  = "stale"
)

// alertsInParallel bounds the first attempts of one request that run at
// once when the request waits for them.
const alertsInParallel = 8

// Accepted is the fate of one (alert, target) delivery in a notification.
type Accepted struct {
	Target string `json:"target"`
	ID     uint64 `json:"id,omitempty"`
	State  string `json:"state"`
	typ    string // the target's type, for results answered with wait
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
	alert  int
	target *core.Target
	d      *Delivery
	data   []byte
	state  string
	old    uint64 // pending delivery it supersedes
	seq    uint64 // commit order, once accepted
	e      *entry // once admitted
}

// Accept persists a delivery for every target that selects each alert,
// in one group commit, and starts the first attempts. With wait it
// returns after them, with their results; without, as soon as the
// deliveries are durable. ErrFull, ErrClosing and store errors mean that
// nothing of this call was accepted.
func (o *Outbox) Accept(ctx context.Context, alerts []*core.EnrichedAlert, wait bool) ([]AlertOutcome, error) {
	now := time.Now()
	cands := o.candidates(alerts, now)
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
	for _, c := range cands {
		if c.state == StateAccepted {
			c.e = o.admit(c.d, len(c.data), c.seq, c.old)
		}
	}
	var claims []*claim
	if !o.closed {
		// Once closing, accepted deliveries wait in the store for the
		// next start.
		claims = o.claimFirst(cands)
	}
	o.attempts.Add(len(claims))
	o.mu.Unlock()

	out := outcomes(alerts, cands)
	if wait {
		o.attemptAll(ctx, claims, out)
		return out, nil
	}
	o.startFirst(claims)
	return out, nil
}

// startFirst runs each first attempt in the background while a slot of
// MaxInFlight is free at once; the others wait for the scheduler, so that
// the webhook never waits for slow targets and a notification of many
// alerts starts no more goroutines than there are slots.
func (o *Outbox) startFirst(claims []*claim) {
	for i, cl := range claims {
		select {
		case o.sem <- struct{}{}:
			go func() {
				defer o.attempts.Done()
				defer func() { <-o.sem }()
				o.first(o.ctx, cl)
			}()
			continue
		default:
		}
		o.mu.Lock()
		for _, cl := range claims[i:] {
			for _, e := range cl.entries {
				o.release(e)
			}
		}
		o.mu.Unlock()
		o.attempts.Add(-len(claims[i:]))
		o.poke()
		return
	}
}

func (o *Outbox) candidates(alerts []*core.EnrichedAlert, now time.Time) []*candidate {
	var cands []*candidate
	targets := o.src.Targets()
	for i, a := range alerts {
		var alertJSON []byte
		for _, t := range targets {
			if !t.Selects(a) {
				continue
			}
			if alertJSON == nil {
				alertJSON, _ = json.Marshal(a)
			}
			d := &Delivery{Target: t.Name, Alert: *a, AcceptedAt: now, NextAttempt: now}
			data, _ := json.Marshal(newDelivery{Target: t.Name, Alert: alertJSON, AcceptedAt: now, NextAttempt: now})
			cands = append(cands, &candidate{alert: i, target: t, d: d, data: data})
		}
	}
	return cands
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
	pending, latest := tx.Bucket(bucketPending), tx.Bucket(bucketLatest)
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
			case cmp == 0 && st.Pending != 0:
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

// claim is a first attempt: one alert to the targets whose slots were
// free.
type claim struct {
	alert      int
	entries    []*entry
	deliveries []*Delivery // the entries' records, as accepted
	targets    []*core.Target
}

// claimFirst takes the slots of accepted deliveries that can be attempted
// at once; the others wait for the attempt ahead of them. o.mu must be
// held.
func (o *Outbox) claimFirst(cands []*candidate) []*claim {
	var out []*claim
	byAlert := map[int]*claim{}
	for _, c := range cands {
		if c.e == nil || c.e.slot.busy != nil || c.e.slot.next != c.e {
			continue
		}
		o.due.remove(c.e)
		c.e.slot.busy, c.e.slot.next = c.e, nil
		cl := byAlert[c.alert]
		if cl == nil {
			cl = &claim{alert: c.alert}
			byAlert[c.alert] = cl
			out = append(out, cl)
		}
		cl.entries = append(cl.entries, c.e)
		cl.deliveries = append(cl.deliveries, c.d)
		cl.targets = append(cl.targets, c.target)
	}
	return out
}

func outcomes(alerts []*core.EnrichedAlert, cands []*candidate) []AlertOutcome {
	out := make([]AlertOutcome, len(alerts))
	for i, a := range alerts {
		out[i].Alert = a
	}
	for _, c := range cands {
		out[c.alert].Deliveries = append(out[c.alert].Deliveries,
			Accepted{Target: c.d.Target, ID: c.d.ID, State: c.state, typ: c.target.Type})
	}
	return out
}

// attemptAll runs the first attempts of a waiting request and fills in
// each alert's result.
func (o *Outbox) attemptAll(ctx context.Context, claims []*claim, out []AlertOutcome) {
	results := make(map[int]*core.ParallelPublishResult, len(claims))
	var mu sync.Mutex
	sem := make(chan struct{}, alertsInParallel)
	var wg sync.WaitGroup
	for _, cl := range claims {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			defer o.attempts.Done()
			res := o.first(ctx, cl)
			mu.Lock()
			results[cl.alert] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	for i := range out {
		out[i].Result = waitedResult(&out[i], results[i])
	}
}

// first attempts one alert to its claimed targets through the publisher
// and settles every delivery.
func (o *Outbox) first(ctx context.Context, cl *claim) *core.ParallelPublishResult {
	// Each delivery is recorded as soon as it ends, so that a slow target
	// does not hold a fast one's success out of the store.
	var mu sync.Mutex
	settled := make([]bool, len(cl.entries))
	ctx = fanout.WithDeliveryObserver(ctx, func(t *core.Target, r core.TargetPublishResult) {
		i := slices.Index(cl.targets, t)
		if i < 0 {
			return
		}
		mu.Lock()
		settled[i] = true
		mu.Unlock()
		o.settle(cl.entries[i], cl.deliveries[i], &r)
	})
	res, err := o.pub.PublishToMultiple(ctx, &cl.deliveries[0].Alert, cl.targets)
	var rest []*entry
	var restD []*Delivery
	var rs []core.TargetPublishResult
	mu.Lock()
	defer mu.Unlock()
	for i, e := range cl.entries {
		if settled[i] {
			continue
		}
		r := core.TargetPublishResult{TargetName: cl.targets[i].Name, Error: err, Retryable: true}
		if res != nil && i < len(res.Results) {
			r = res.Results[i]
		}
		rest, restD, rs = append(rest, e), append(restD, cl.deliveries[i]), append(rs, r)
	}
	if len(rest) > 0 {
		o.settleAll(rest, restD, rs)
	}
	return res
}

// waitedResult merges the attempted targets' results with the
// deliveries that were not attempted in this request.
func waitedResult(out *AlertOutcome, attempted *core.ParallelPublishResult) *core.ParallelPublishResult {
	var results []core.TargetPublishResult
	var took time.Duration
	done := map[string]bool{}
	if attempted != nil {
		results = append(results, attempted.Results...)
		took = attempted.Duration
		for _, r := range attempted.Results {
			done[r.TargetName] = true
		}
	}
	for _, d := range out.Deliveries {
		if done[d.Target] {
			continue
		}
		r := core.TargetPublishResult{TargetName: d.Target, TargetType: d.typ, Skipped: true}
		switch d.State {
		case StateAlreadyDelivered:
			r.SkipReason = core.SkipAlreadyDelivered
		case StateStale:
			r.SkipReason = SkipStale
		default:
			// Pending behind another attempt: not delivered yet.
			r.SkipReason, r.Retryable = SkipQueued, true
		}
		results = append(results, r)
	}
	return core.NewParallelPublishResult(results, took)
}
