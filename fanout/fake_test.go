package fanout

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/am-fanout/am-fanout/core"
)

// fakePublisher answers after a delay with a fixed error, honouring ctx,
// and measures how many of its calls run at once (shared across targets
// through the gauge it is given).
type fakePublisher struct {
	delay   time.Duration
	err     error
	calls   atomic.Int64
	running *concurrency
	// block makes Publish wait for ctx to end, like a black-holed target.
	block bool
}

// concurrency tracks the highest number of calls in flight at once.
type concurrency struct {
	now, max atomic.Int64
}

func (c *concurrency) enter() {
	n := c.now.Add(1)
	for {
		m := c.max.Load()
		if n <= m || c.max.CompareAndSwap(m, n) {
			return
		}
	}
}

func (c *concurrency) leave() { c.now.Add(-1) }

func (p *fakePublisher) Publish(ctx context.Context, _ *core.EnrichedAlert) error {
	p.calls.Add(1)
	if p.running != nil {
		p.running.enter()
		defer p.running.leave()
	}
	if p.block {
		<-ctx.Done()
		return ctx.Err()
	}
	if p.delay > 0 {
		t := time.NewTimer(p.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return p.err
}

// fakeHealth answers from a fixed map; err makes every lookup fail.
// recorder keeps the last outcome it is told per target.
type recorder struct {
	mu       sync.Mutex
	outcomes map[string]core.Outcome
}

func (r *recorder) Record(name string, o *core.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.outcomes == nil {
		r.outcomes = map[string]core.Outcome{}
	}
	r.outcomes[name] = *o
}

func (r *recorder) get(name string) (core.Outcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.outcomes[name]
	return o, ok
}

// rejectingBreaker rejects every attempt without running it.
type rejectingBreaker struct{ reason string }

func (b rejectingBreaker) Run(context.Context, func(context.Context) core.Outcome) core.Outcome {
	return core.Skip(b.reason)
}

func target(name string, p core.Publisher) *core.Target {
	return &core.Target{Name: name, Type: "webhook", SendResolved: true, Timeout: 5 * time.Second, Publisher: p}
}

func testAlert() *core.EnrichedAlert {
	return &core.EnrichedAlert{Alert: core.Alert{
		Fingerprint: "abc123", Status: core.StatusFiring,
		Labels:   map[string]string{"alertname": "HighLatency", "severity": "critical"},
		StartsAt: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC),
	}}
}

func newTestAttempter(h OutcomeRecorder, gone *GoneTargets) *Attempter {
	return NewAttempter(h, gone, NewMetrics(prometheus.NewRegistry()), nil)
}
