package health

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// ReasonRecheck is the reason of a degraded or unhealthy target whose last
// outcome is older than Options.RecheckAfter. Such a target reports
// degraded and TrialDue, so a fan-out tries it again instead of avoiding
// it forever.
const ReasonRecheck = "recheck: letting a trial delivery through"

// Monitor derives each target's health from the outcomes of real
// deliveries and, where configured, of active probes: consecutive
// failures, the success ratio and the latency over a sliding window. Reads
// are O(1) from the state the outcomes left. It is safe for concurrent
// use.
type Monitor struct {
	mu      sync.RWMutex
	opts    Options
	targets map[string]*record
}

// record is what Monitor remembers of one target; the status is derived
// from it when read, so a recheck needs no timer.
type record struct {
	failures    int
	lastSuccess time.Time
	lastFailure time.Time
	lastError   string
	// rejected says the last outcome was a permanent failure: the target
	// answered but refused the delivery.
	rejected bool
	window   window
	probe    *ProbeStatus
}

// New returns a monitor that knows no target yet.
func New(o Options) *Monitor {
	return &Monitor{opts: o.withDefaults(), targets: make(map[string]*record)}
}

// SetOptions changes the thresholds, as a config reload does. What the
// monitor knows of each target is kept, except the windows when their
// length changes, since their buckets no longer line up.
func (m *Monitor) SetOptions(o Options) {
	o = o.withDefaults()
	m.mu.Lock()
	defer m.mu.Unlock()
	if o.Window != m.opts.Window {
		for _, t := range m.targets {
			t.window = window{}
		}
	}
	m.opts = o
}

// outcome is what a delivery result says about the target's health.
type outcome int

const (
	ignored   outcome = iota // says nothing about the target
	succeeded                // delivered
	answered                 // refused for good, but the target is up
	failing                  // the target is down, slow or overloaded
)

func classify(o *core.Outcome) outcome {
	switch {
	case o == nil:
		return ignored
	case o.Kind == core.OutcomeDelivered:
		return succeeded
	case o.Failing():
		return failing
	case o.Kind == core.OutcomePermanent && o.StatusCode != 0:
		return answered
	default:
		// Skips, cancellations and throttling say nothing against the
		// target, nor does a permanent failure before it was reached,
		// such as a template error: that is the configuration's fault.
		return ignored
	}
}

// Record updates the target's health with the outcome of one delivery.
// Skipped and cancelled deliveries are ignored; a permanent failure the
// target answered (a 4xx) counts as alive, since the target is up.
func (m *Monitor) Record(name string, r *core.Outcome) {
	o := classify(r)
	if o == ignored {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	t := m.record(name)
	t.window.add(now, m.opts.Window, o != failing, o != failing, r.Duration)
	switch o {
	case succeeded:
		t.failures, t.rejected, t.lastSuccess = 0, false, now
	case answered:
		t.failures, t.rejected = 0, true
		t.lastFailure, t.lastError = now, errorText(r)
	case failing:
		t.failures++
		t.rejected = false
		t.lastFailure, t.lastError = now, errorText(r)
	}
}

// record returns the target's record, making it; m.mu must be held.
func (m *Monitor) record(name string) *record {
	t := m.targets[name]
	if t == nil {
		t = &record{}
		m.targets[name] = t
	}
	return t
}

func errorText(r *core.Outcome) string {
	if r.Err != nil {
		return r.Err.Error()
	}
	if r.StatusCode != 0 {
		return fmt.Sprintf("HTTP %d", r.StatusCode)
	}
	return "delivery failed"
}

// GetHealthByName returns a copy of the target's health. A target with no
// recorded outcome is HealthUnknown. The error is always nil: health is
// read from memory.
func (m *Monitor) GetHealthByName(_ context.Context, name string) (*core.TargetHealth, error) {
	m.mu.RLock()
	t := m.targets[name]
	var h core.TargetHealth
	if t != nil {
		h = t.health(m.opts, m.opts.Now())
	}
	m.mu.RUnlock()
	if t == nil {
		h = core.TargetHealth{Status: core.HealthUnknown, Reason: "no delivery recorded yet"}
	}
	return &h, nil
}

// Snapshot returns the health of every target with a recorded outcome.
func (m *Monitor) Snapshot() map[string]core.TargetHealth {
	m.mu.RLock()
	defer m.mu.RUnlock()
	now := m.opts.Now()
	out := make(map[string]core.TargetHealth, len(m.targets))
	for name, t := range m.targets {
		out[name] = t.health(m.opts, now)
	}
	return out
}

// Forget drops what the monitor knows of a target, such as one removed by
// a config reload; it reads as unknown afterwards.
func (m *Monitor) Forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.targets, name)
}
