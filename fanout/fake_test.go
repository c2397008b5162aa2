package fanout

import (
	"context"
	"errors"
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
type fakeHealth struct {
	status map[string]core.HealthStatus
	err    error
}

func (h *fakeHealth) GetHealthByName(_ context.Context, name string) (*core.TargetHealth, error) {
	if h.err != nil {
		return nil, h.err
	}
	s, ok := h.status[name]
	if !ok {
		s = core.HealthUnknown
	}
	return &core.TargetHealth{Status: s}, nil
}

// recorder keeps every outcome it is told.
type recorder struct {
	mu      sync.Mutex
	results map[string]core.TargetPublishResult
}

func (r *recorder) Record(name string, res *core.TargetPublishResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.results == nil {
		r.results = map[string]core.TargetPublishResult{}
	}
	r.results[name] = *res
}

// rejectingBreaker returns a fixed rejection without running the delivery.
type rejectingBreaker struct{ err error }

func (b rejectingBreaker) Execute(context.Context, func(context.Context) error) error { return b.err }

var errServer = core.Retryable(503, time.Second, errors.New("service unavailable"))

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

func newTestDispatcher(ts []*core.Target, deps Dependencies, opts ParallelPublishOptions) *Dispatcher {
	deps.Source = NewTargetSet(ts)
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	return NewDispatcher(deps, opts)
}

// mapDedup is a Deduplicator that remembers forever.
type mapDedup struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (d *mapDedup) Delivered(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seen[key]
}

func (d *mapDedup) MarkDelivered(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	d.seen[key] = true
}
