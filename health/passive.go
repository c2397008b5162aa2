package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// ReasonRecheck is the reason of a degraded or unhealthy target whose last
// failure is older than Options.RecheckAfter. Such a target reports
// degraded, so a skip_unhealthy fan-out tries it again instead of avoiding
// it forever; a fan-out that skips degraded targets must let a target with
// this reason through for the same end.
const ReasonRecheck = "recheck: letting a trial delivery through"

// Passive derives each target's health from the outcomes of real
// deliveries: consecutive retryable failures degrade it, a delivery the
// target answered makes it healthy again. It is safe for concurrent use.
type Passive struct {
	opts Options

	mu      sync.RWMutex
	targets map[string]*record
}

// record is what Passive remembers of one target; the status is derived
// from it when read, so a recheck needs no timer.
type record struct {
	failures    int
	lastSuccess time.Time
	lastFailure time.Time
	lastError   string
	// rejected says the last outcome was a permanent failure: the target
	// answered but refused the delivery.
	rejected bool
}

// NewPassive returns a monitor that knows no target yet.
func NewPassive(o Options) *Passive {
	return &Passive{opts: o.withDefaults(), targets: make(map[string]*record)}
}

// outcome is what a delivery result says about the target's health.
type outcome int

const (
	ignored   outcome = iota // says nothing about the target
	succeeded                // delivered
	answered                 // refused for good, but the target is up
	failing                  // the target is down, slow or overloaded
)

func classify(r *core.TargetPublishResult) outcome {
	switch {
	case r == nil || r.Skipped:
		return ignored
	case r.Success:
		return succeeded
	case errors.Is(r.Error, context.Canceled), errors.Is(r.Error, core.ErrContextCancelled):
		return ignored
	case r.Retryable, core.IsRetryable(r.Error), errors.Is(r.Error, core.ErrContextTimeout):
		return failing
	case r.StatusCode != 0 || core.StatusCode(r.Error) != 0:
		return answered
	default:
		// A permanent failure before the target was reached, such as a
		// template error, is the configuration's fault, not the target's.
		return ignored
	}
}

// Record updates the target's health with the outcome of one delivery.
// Skipped and cancelled deliveries are ignored; a permanent failure the
// target answered (a 4xx) counts as alive, since the target is up.
func (p *Passive) Record(name string, r *core.TargetPublishResult) {
	o := classify(r)
	if o == ignored {
		return
	}
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.targets[name]
	if t == nil {
		t = &record{}
		p.targets[name] = t
	}
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

func errorText(r *core.TargetPublishResult) string {
	if r.Error != nil {
		return r.Error.Error()
	}
	if r.StatusCode != 0 {
		return fmt.Sprintf("HTTP %d", r.StatusCode)
	}
	return "delivery failed"
}

// GetHealthByName returns a copy of the target's health. A target with no
// recorded delivery is HealthUnknown. The error is always nil: passive
// health is read from memory.
func (p *Passive) GetHealthByName(_ context.Context, name string) (*core.TargetHealth, error) {
	now := p.opts.Now()
	p.mu.RLock()
	t := p.targets[name]
	var h core.TargetHealth
	if t != nil {
		h = t.health(p.opts, now)
	}
	p.mu.RUnlock()
	if t == nil {
		h = core.TargetHealth{Status: core.HealthUnknown, Reason: "no delivery recorded yet"}
	}
	return &h, nil
}

// Snapshot returns the health of every target with a recorded delivery.
func (p *Passive) Snapshot() map[string]core.TargetHealth {
	now := p.opts.Now()
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[string]core.TargetHealth, len(p.targets))
	for name, t := range p.targets {
		out[name] = t.health(p.opts, now)
	}
	return out
}

// Forget drops what the monitor knows of a target, such as one removed by
// a config reload; it reads as unknown afterwards.
func (p *Passive) Forget(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.targets, name)
}

func (t *record) health(o Options, now time.Time) core.TargetHealth {
	h := core.TargetHealth{
		Status:              core.HealthHealthy,
		ConsecutiveFailures: t.failures,
		LastSuccess:         t.lastSuccess,
		LastFailure:         t.lastFailure,
		LastError:           t.lastError,
	}
	switch {
	case t.failures == 0 && t.rejected:
		h.Reason = "target answered but rejected the last delivery: " + t.lastError
		return h
	case t.failures == 0:
		h.Reason = "last delivery succeeded"
		return h
	}
	h.Reason = fmt.Sprintf("%d consecutive %s, last: %s", t.failures, plural(t.failures, "failure"), t.lastError)
	switch {
	case t.failures >= o.DegradedAfter && now.Sub(t.lastFailure) >= o.RecheckAfter:
		h.Status, h.Reason, h.TrialDue = core.HealthDegraded, ReasonRecheck, true
	case t.failures >= o.UnhealthyAfter:
		h.Status = core.HealthUnhealthy
	case t.failures >= o.DegradedAfter:
		h.Status = core.HealthDegraded
	}
	return h
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
