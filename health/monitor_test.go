package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/am-fanout/am-fanout/core"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable time source for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func success() *core.Outcome {
	return &core.Outcome{Kind: core.OutcomeDelivered, StatusCode: 200}
}

// failed is the outcome of an attempt that failed with err, classified
// as an attempt classifies it when the caller's context has ended, so
// that cancellations are seen as such.
func failed(err error) *core.Outcome {
	o := core.Classify(err, true, 0)
	return &o
}

// retryable is a failure classified as one the target may recover from.
func retryable(err error) *core.Outcome {
	return failed(core.Retryable(0, 0, err))
}

func skipped(reason string) *core.Outcome {
	o := core.Skip(reason)
	return &o
}

// connectionRefused returns the real error of dialing a loopback port
// nobody listens on.
func connectionRefused(t *testing.T) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c, err := net.Dial("tcp", addr)
	if err == nil {
		_ = c.Close()
	}
	require.Error(t, err, "dialing closed port %s succeeded", addr)
	return err
}

// cancelledRequest returns the real error of an HTTP request whose caller
// has cancelled it; it is a net.Error, so it looks retryable.
func cancelledRequest(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:9/", http.NoBody)
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	require.Error(t, err, "a cancelled request succeeded")
	require.True(t, core.IsRetryable(err), "the cancelled request's error should look retryable: %v", err)
	return err
}

type step struct {
	result   *core.Outcome
	status   core.HealthStatus
	failures int
}

func TestMonitorTransitions(t *testing.T) {
	unavailable := failed(core.Retryable(503, 0, errors.New("unavailable")))
	badRequest := failed(core.Permanent(400, errors.New("bad payload")))
	refused := failed(connectionRefused(t))
	throttled := failed(core.Retryable(429, 2*time.Second, errors.New("slow down")))
	tests := []struct {
		name  string
		opts  Options
		steps []step
	}{
		{"retryable failures degrade, then make unhealthy", Options{}, []step{
			{unavailable, core.HealthDegraded, 1},
			{unavailable, core.HealthDegraded, 2},
			{unavailable, core.HealthUnhealthy, 3},
			{unavailable, core.HealthUnhealthy, 4},
		}},
		// A window that is never judged isolates the consecutive failures.
		{"a success makes an unhealthy target healthy", Options{MinSamples: 100}, []step{
			{refused, core.HealthDegraded, 1},
			{refused, core.HealthDegraded, 2},
			{refused, core.HealthUnhealthy, 3},
			{success(), core.HealthHealthy, 0},
			{refused, core.HealthDegraded, 1},
		}},
		{"permanent 4xx does not degrade", Options{}, []step{
			{badRequest, core.HealthHealthy, 0},
			{badRequest, core.HealthHealthy, 0},
			{badRequest, core.HealthHealthy, 0},
		}},
		{"permanent 4xx counts as alive after failures", Options{}, []step{
			{unavailable, core.HealthDegraded, 1},
			{unavailable, core.HealthDegraded, 2},
			{unavailable, core.HealthUnhealthy, 3},
			{badRequest, core.HealthHealthy, 0},
		}},
		{"429s are ignored: a throttling target is up", Options{}, []step{
			{throttled, core.HealthUnknown, 0},
			{throttled, core.HealthUnknown, 0},
			{throttled, core.HealthUnknown, 0},
			{throttled, core.HealthUnknown, 0},
			{unavailable, core.HealthDegraded, 1},
			{throttled, core.HealthDegraded, 1},
		}},
		{"skipped results are ignored", Options{}, []step{
			{skipped(core.SkipCircuitOpen), core.HealthUnknown, 0},
			{unavailable, core.HealthDegraded, 1},
			{skipped(core.SkipCircuitOpen), core.HealthDegraded, 1},
			{skipped(core.SkipUnhealthy), core.HealthDegraded, 1},
		}},
		{"cancelled deliveries are ignored", Options{}, []step{
			{failed(cancelledRequest(t)), core.HealthUnknown, 0},
			{retryable(fmt.Errorf("post: %w", core.ErrContextCancelled)), core.HealthUnknown, 0},
			{success(), core.HealthHealthy, 0},
			{failed(cancelledRequest(t)), core.HealthHealthy, 0},
			{failed(context.Canceled), core.HealthHealthy, 0},
		}},
		{"timeouts count as failures", Options{}, []step{
			{failed(context.DeadlineExceeded), core.HealthDegraded, 1},
			{failed(core.ErrContextTimeout), core.HealthDegraded, 2},
			{failed(core.ErrContextTimeout), core.HealthUnhealthy, 3},
		}},
		{"failures before the target is reached are ignored", Options{}, []step{
			{failed(errors.New("template: undefined variable")), core.HealthUnknown, 0},
			{success(), core.HealthHealthy, 0},
			{failed(errors.New("template: undefined variable")), core.HealthHealthy, 0},
		}},
		{"failures below DegradedAfter stay healthy", Options{DegradedAfter: 2, UnhealthyAfter: 4}, []step{
			{unavailable, core.HealthHealthy, 1},
			{unavailable, core.HealthDegraded, 2},
			{unavailable, core.HealthDegraded, 3},
			{unavailable, core.HealthUnhealthy, 4},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(tt.opts)
			for i, s := range tt.steps {
				p.Record("t1", s.result)
				h, err := p.GetHealthByName(context.Background(), "t1")
				require.NoError(t, err)
				assert.Equal(t, s.status, h.Status, "step %d (%s): status; reason %q", i, s.result.Kind, h.Reason)
				assert.Equal(t, s.failures, h.ConsecutiveFailures, "step %d: consecutive failures", i)
			}
		})
	}
}

func TestMonitorReasonSaysWhy(t *testing.T) {
	p := New(Options{})
	for range 3 {
		p.Record("t1", failed(core.Retryable(503, 0, errors.New("unavailable"))))
	}
	h, err := p.GetHealthByName(context.Background(), "t1")
	require.NoError(t, err)
	assert.Equal(t, "3 consecutive failures, last: HTTP 503: unavailable", h.Reason)
	assert.Equal(t, "HTTP 503: unavailable", h.LastError)

	p.Record("t1", failed(core.Permanent(404, errors.New("no such hook"))))
	h, err = p.GetHealthByName(context.Background(), "t1")
	require.NoError(t, err)
	assert.Contains(t, h.Reason, "HTTP 404: no such hook", "a healthy target that rejects deliveries must say so")
}

func healthOf(t *testing.T, p *Monitor, name string) core.TargetHealth {
	t.Helper()
	h, err := p.GetHealthByName(context.Background(), name)
	require.NoError(t, err)
	return *h
}

func TestMonitorRechecksUnhealthyTarget(t *testing.T) {
	clk := newClock()
	p := New(Options{RecheckAfter: time.Minute, MinSamples: 100, Now: clk.Now})
	fail := func() { p.Record("t1", failed(core.Retryable(502, 0, errors.New("bad gateway")))) }
	for range 3 {
		fail()
	}
	require.Equal(t, core.HealthUnhealthy, healthOf(t, p, "t1").Status)

	clk.Advance(time.Minute - time.Nanosecond)
	assert.Equal(t, core.HealthUnhealthy, healthOf(t, p, "t1").Status, "recheck came before RecheckAfter")

	clk.Advance(time.Nanosecond)
	h := healthOf(t, p, "t1")
	assert.Equal(t, core.HealthDegraded, h.Status, "an unhealthy target must be offered a trial after RecheckAfter")
	assert.Equal(t, ReasonRecheck, h.Reason)
	assert.True(t, h.TrialDue, "a recheck must mark the target due for a trial")
	assert.Equal(t, 3, h.ConsecutiveFailures, "a recheck must not forget the failures")

	fail()
	assert.Equal(t, core.HealthUnhealthy, healthOf(t, p, "t1").Status, "a failed trial must make the target unhealthy again")
	clk.Advance(time.Minute - time.Nanosecond)
	assert.Equal(t, core.HealthUnhealthy, healthOf(t, p, "t1").Status, "a failed trial must restart the recheck clock")
	clk.Advance(time.Nanosecond)
	assert.Equal(t, core.HealthDegraded, healthOf(t, p, "t1").Status)

	p.Record("t1", success())
	assert.Equal(t, core.HealthHealthy, healthOf(t, p, "t1").Status, "a successful trial must make the target healthy")
}

func TestMonitorRechecksDegradedTarget(t *testing.T) {
	clk := newClock()
	p := New(Options{RecheckAfter: time.Minute, Now: clk.Now})
	p.Record("t1", failed(core.Retryable(503, 0, errors.New("unavailable"))))
	h := healthOf(t, p, "t1")
	require.Equal(t, core.HealthDegraded, h.Status)
	require.NotEqual(t, ReasonRecheck, h.Reason, "recheck came before RecheckAfter")

	clk.Advance(time.Minute)
	h = healthOf(t, p, "t1")
	assert.Equal(t, core.HealthDegraded, h.Status)
	assert.Equal(t, ReasonRecheck, h.Reason, "a degraded target must be marked for a trial after RecheckAfter")
}

func TestMonitorDefaults(t *testing.T) {
	clk := newClock()
	p := New(Options{Now: clk.Now})
	p.Record("t1", failed(core.Retryable(503, 0, errors.New("x"))))
	assert.Equal(t, core.HealthDegraded, healthOf(t, p, "t1").Status, "default DegradedAfter is 1")
	p.Record("t1", failed(core.Retryable(503, 0, errors.New("x"))))
	p.Record("t1", failed(core.Retryable(503, 0, errors.New("x"))))
	assert.Equal(t, core.HealthUnhealthy, healthOf(t, p, "t1").Status, "default UnhealthyAfter is 3")
	clk.Advance(DefaultRecheckAfter - time.Nanosecond)
	assert.Equal(t, core.HealthUnhealthy, healthOf(t, p, "t1").Status)
	clk.Advance(time.Nanosecond)
	assert.Equal(t, ReasonRecheck, healthOf(t, p, "t1").Reason, "default RecheckAfter is 30s")
}

func TestMonitorUnknownAndForget(t *testing.T) {
	p := New(Options{})
	h := healthOf(t, p, "never")
	assert.Equal(t, core.HealthUnknown, h.Status, "a target never recorded is unknown")

	p.Record("t1", failed(core.Retryable(503, 0, errors.New("x"))))
	p.Record("t2", success())
	p.Forget("t1")
	assert.Equal(t, core.HealthUnknown, healthOf(t, p, "t1").Status, "a forgotten target is unknown")
	assert.Equal(t, core.HealthHealthy, healthOf(t, p, "t2").Status, "Forget must leave other targets alone")
	assert.Equal(t, []string{"t2"}, keys(p.Snapshot()))
}

func keys(m map[string]core.TargetHealth) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestMonitorReturnsCopies(t *testing.T) {
	p := New(Options{})
	p.Record("t1", success())
	h, err := p.GetHealthByName(context.Background(), "t1")
	require.NoError(t, err)
	h.Status = core.HealthUnhealthy
	snap := p.Snapshot()
	snap["t1"] = core.TargetHealth{Status: core.HealthUnhealthy}
	assert.Equal(t, core.HealthHealthy, healthOf(t, p, "t1").Status, "changing a returned value must not change the monitor")
}

func TestMonitorSnapshot(t *testing.T) {
	p := New(Options{})
	p.Record("up", success())
	p.Record("down", failed(core.Retryable(503, 0, errors.New("x"))))
	p.Record("skipped", skipped(core.SkipCircuitOpen))
	got := p.Snapshot()
	require.Len(t, got, 2, "only targets with a recorded outcome appear")
	assert.Equal(t, core.HealthHealthy, got["up"].Status)
	assert.Equal(t, core.HealthDegraded, got["down"].Status)
}

func TestMonitorConcurrentUse(t *testing.T) {
	p := New(Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("t%d", i%3)
			for j := range 200 {
				if j%2 == 0 {
					p.Record(name, success())
				} else {
					p.Record(name, failed(core.Retryable(503, 0, errors.New("x"))))
				}
				_, _ = p.GetHealthByName(context.Background(), name)
				_ = p.Snapshot()
				if j%50 == 0 {
					p.Forget(name)
				}
			}
		})
	}
	wg.Wait()
}

func TestStatusValue(t *testing.T) {
	tests := []struct {
		status core.HealthStatus
		want   float64
	}{
		{core.HealthUnknown, 0},
		{core.HealthHealthy, 1},
		{core.HealthDegraded, 2},
		{core.HealthUnhealthy, 3},
		{"", 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, StatusValue(tt.status), "metric value of %q", tt.status)
	}
}
