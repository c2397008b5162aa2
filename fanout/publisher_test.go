package fanout

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/am-fanout/am-fanout/core"
)

func TestPublishToMultipleOutcomes(t *testing.T) {
	perm := core.Permanent(400, errors.New("bad request"))
	tests := []struct {
		name          string
		errs          []error
		wantErr       error
		wantSuccess   int
		wantFailure   int
		wantPartial   bool
		wantResult    string
		wantNeedRetry bool
	}{
		{name: "all succeed", errs: []error{nil, nil, nil}, wantSuccess: 3, wantResult: "success"},
		{name: "partial success", errs: []error{nil, errServer, perm}, wantSuccess: 1, wantFailure: 2, wantPartial: true, wantResult: "partial_success"},
		{name: "all fail retryable", errs: []error{errServer, errServer}, wantErr: core.ErrAllTargetsFailed, wantFailure: 2, wantResult: "failure", wantNeedRetry: true},
		{name: "all fail permanent", errs: []error{perm}, wantErr: core.ErrAllTargetsFailed, wantFailure: 1, wantResult: "failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ts []*core.Target
			for i, err := range tt.errs {
				ts = append(ts, target(fmt.Sprintf("t%d", i), &fakePublisher{err: err}))
			}
			reg := prometheus.NewRegistry()
			d := newTestDispatcher(ts, Dependencies{Metrics: NewMetrics(reg)}, DefaultParallelPublishOptions())
			res, err := d.PublishToMultiple(context.Background(), testAlert(), ts)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if res.TotalTargets != len(tt.errs) || len(res.Results) != len(tt.errs) {
				t.Fatalf("total %d, results %d, want %d each", res.TotalTargets, len(res.Results), len(tt.errs))
			}
			if res.SuccessCount != tt.wantSuccess || res.FailureCount != tt.wantFailure || res.IsPartialSuccess != tt.wantPartial {
				t.Errorf("success %d failure %d partial %t, want %d %d %t", res.SuccessCount, res.FailureCount,
					res.IsPartialSuccess, tt.wantSuccess, tt.wantFailure, tt.wantPartial)
			}
			if got := res.Result(); got != tt.wantResult {
				t.Errorf("Result() = %q, want %q", got, tt.wantResult)
			}
			if got := res.NeedsRetry(); got != tt.wantNeedRetry {
				t.Errorf("NeedsRetry() = %t, want %t", got, tt.wantNeedRetry)
			}
			for i, r := range res.Results {
				if r.TargetName != fmt.Sprintf("t%d", i) {
					t.Errorf("result %d is for %q: results must keep the targets' order", i, r.TargetName)
				}
				if tt.errs[i] != nil && r.StatusCode != core.StatusCode(tt.errs[i]) {
					t.Errorf("result %d status code %d, want %d", i, r.StatusCode, core.StatusCode(tt.errs[i]))
				}
			}
			if got := testutil.ToFloat64(d.metrics.total.WithLabelValues(tt.wantResult)); got != 1 {
				t.Errorf("am_fanout_fanout_total{result=%q} = %v, want 1", tt.wantResult, got)
			}
		})
	}
}

func TestPublishInvalidInput(t *testing.T) {
	d := newTestDispatcher(nil, Dependencies{}, DefaultParallelPublishOptions())
	ts := []*core.Target{target("a", &fakePublisher{})}
	if _, err := d.PublishToMultiple(context.Background(), nil, ts); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("nil alert: error = %v, want ErrInvalidInput", err)
	}
	if _, err := d.PublishToMultiple(context.Background(), testAlert(), nil); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("no targets: error = %v, want ErrInvalidInput", err)
	}
	if _, err := d.PublishToHealthy(context.Background(), nil); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("PublishToHealthy nil alert: error = %v, want ErrInvalidInput", err)
	}
	res, err := d.PublishToAll(context.Background(), testAlert())
	if !errors.Is(err, core.ErrNoEnabledTargets) {
		t.Errorf("no configured targets: error = %v, want ErrNoEnabledTargets", err)
	}
	if res == nil || res.TotalTargets != 0 || !res.Delivered() || res.NeedsRetry() {
		t.Errorf("no targets: result %+v must be empty, delivered and need no retry", res)
	}
}

type selectorFunc func(map[string]string) bool

func (f selectorFunc) Selects(ls map[string]string) bool { return f(ls) }

func TestPublishToAllSelectsTargets(t *testing.T) {
	critical := target("critical-only", &fakePublisher{})
	critical.Selector = selectorFunc(func(ls map[string]string) bool { return ls["severity"] == "critical" })
	warning := target("warning-only", &fakePublisher{})
	warning.Selector = selectorFunc(func(ls map[string]string) bool { return ls["severity"] == "warning" })
	noResolved := target("firing-only", &fakePublisher{})
	noResolved.SendResolved = false
	all := target("all", &fakePublisher{})
	d := newTestDispatcher([]*core.Target{critical, warning, noResolved, all}, Dependencies{}, DefaultParallelPublishOptions())

	tests := []struct {
		name   string
		status core.AlertStatus
		want   []string
	}{
		{"firing critical", core.StatusFiring, []string{"critical-only", "firing-only", "all"}},
		{"resolved critical", core.StatusResolved, []string{"critical-only", "all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testAlert()
			a.Alert.Status = tt.status
			res, err := d.PublishToAll(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range res.Results {
				got = append(got, r.TargetName)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("delivered to %v, want %v", got, tt.want)
			}
		})
	}
}

// The tests below that wait for deadlines run in a synctest bubble: the
// fakes block on channels and timers only, so time advances exactly to
// each deadline and no test depends on how fast the machine is.

func TestFanoutDeadlineReportsEveryTarget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fast := &fakePublisher{}
		ts := []*core.Target{target("fast", fast), target("hung-1", &fakePublisher{block: true}), target("hung-2", &fakePublisher{block: true})}
		opts := DefaultParallelPublishOptions()
		opts.Timeout = 50 * time.Millisecond
		d := newTestDispatcher(ts, Dependencies{}, opts)
		start := time.Now()
		res, err := d.PublishToMultiple(context.Background(), testAlert(), ts)
		if err != nil {
			t.Fatalf("one target succeeded, error = %v, want nil", err)
		}
		if took := time.Since(start); took != opts.Timeout {
			t.Errorf("the fan-out took %v, want it to end at its deadline %v", took, opts.Timeout)
		}
		if len(res.Results) != 3 {
			t.Fatalf("%d results, want one per target (3)", len(res.Results))
		}
		for _, r := range res.Results[1:] {
			if r.Success || r.Skipped || !errors.Is(r.Error, core.ErrContextTimeout) || !r.Retryable {
				t.Errorf("%s: %+v, want a retryable failure wrapping ErrContextTimeout", r.TargetName, r)
			}
		}
	})
}

func TestFanoutCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := []*core.Target{target("hung", &fakePublisher{block: true})}
		d := newTestDispatcher(ts, Dependencies{}, DefaultParallelPublishOptions())
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		res, err := d.PublishToMultiple(ctx, testAlert(), ts)
		if !errors.Is(err, core.ErrAllTargetsFailed) || !errors.Is(err, core.ErrContextCancelled) {
			t.Fatalf("error = %v, want ErrAllTargetsFailed and ErrContextCancelled", err)
		}
		if r := res.Results[0]; !errors.Is(r.Error, core.ErrContextCancelled) {
			t.Errorf("result error = %v, want ErrContextCancelled", r.Error)
		}
	})
}

func TestPerDeliveryTimeoutIsSeparateFromFanoutDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := target("slow", &fakePublisher{block: true})
		slow.Timeout = 30 * time.Millisecond
		ts := []*core.Target{slow, target("ok", &fakePublisher{delay: 60 * time.Millisecond})}
		d := newTestDispatcher(ts, Dependencies{}, DefaultParallelPublishOptions())
		res, err := d.PublishToMultiple(context.Background(), testAlert(), ts)
		if err != nil {
			t.Fatal(err)
		}
		r := res.Results[0]
		if r.Success || errors.Is(r.Error, core.ErrContextTimeout) || core.ErrorType(r.Error) != core.ErrorTypeTimeout {
			t.Errorf("slow target: %+v, want its own timeout (error type timeout), not the fan-out deadline", r)
		}
		if r.Duration != slow.Timeout {
			t.Errorf("slow target's attempt took %v, want it cut at its timeout %v", r.Duration, slow.Timeout)
		}
		if !res.Results[1].Success {
			t.Errorf("a target slower than another's timeout but within its own must succeed: %+v", res.Results[1])
		}
	})
}

func TestMaxConcurrentIsNeverExceeded(t *testing.T) {
	for _, limit := range []int{1, 3, 10} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				running := &concurrency{}
				var ts []*core.Target
				for i := range 25 {
					ts = append(ts, target(fmt.Sprintf("t%d", i), &fakePublisher{delay: 5 * time.Millisecond, running: running}))
				}
				opts := DefaultParallelPublishOptions()
				opts.MaxConcurrent = limit
				d := newTestDispatcher(ts, Dependencies{}, opts)
				res, err := d.PublishToMultiple(context.Background(), testAlert(), ts)
				if err != nil || !res.AllSucceeded() {
					t.Fatalf("err %v, result %+v: every target should succeed", err, res)
				}
				// Every delivery sleeps in the bubble until all its peers
				// have started, so the limit is reached exactly.
				if got := running.max.Load(); got != int64(limit) {
					t.Errorf("at most %d deliveries ran at once, want exactly the limit %d", got, limit)
				}
			})
		})
	}
}

func TestDeadlineWhileWaitingForASlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := []*core.Target{target("hung", &fakePublisher{block: true}), target("queued", &fakePublisher{})}
		opts := DefaultParallelPublishOptions()
		opts.MaxConcurrent, opts.Timeout = 1, 30*time.Millisecond
		d := newTestDispatcher(ts, Dependencies{}, opts)
		res, _ := d.PublishToMultiple(context.Background(), testAlert(), ts)
		r := res.Results[1]
		if r.Success || !errors.Is(r.Error, core.ErrContextTimeout) {
			t.Errorf("queued target: %+v, want a failure wrapping ErrContextTimeout", r)
		}
		if calls := ts[1].Publisher.(*fakePublisher).calls.Load(); calls != 0 {
			t.Errorf("queued target was called %d times after the deadline, want 0", calls)
		}
	})
}

func TestBreakerRejectionIsASkip(t *testing.T) {
	tests := []struct {
		err    error
		reason string
	}{
		{core.ErrCircuitOpen, core.SkipCircuitOpen},
		{core.ErrCircuitHalfOpen, core.SkipCircuitHalfOpen},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			p := &fakePublisher{}
			tg := target("guarded", p)
			tg.Circuit = rejectingBreaker{err: fmt.Errorf("target guarded: %w", tt.err)}
			ts := []*core.Target{tg}
			d := newTestDispatcher(ts, Dependencies{}, DefaultParallelPublishOptions())
			res, err := d.PublishToMultiple(context.Background(), testAlert(), ts)
			if err != nil {
				t.Errorf("error = %v: a skip is not a failure", err)
			}
			r := res.Results[0]
			if !r.Skipped || r.SkipReason != tt.reason || !r.Retryable {
				t.Errorf("result %+v, want a retryable skip with reason %s", r, tt.reason)
			}
			if !res.NeedsRetry() {
				t.Error("an alert whose only target is behind an open breaker must be retried")
			}
			if got := testutil.ToFloat64(d.metrics.targetSkipped.WithLabelValues("guarded", "webhook", tt.reason)); got != 1 {
				t.Errorf("skipped metric = %v, want 1", got)
			}
		})
	}
}

func TestHealthStrategies(t *testing.T) {
	statuses := map[string]core.HealthStatus{
		"healthy": core.HealthHealthy, "degraded": core.HealthDegraded,
		"unhealthy": core.HealthUnhealthy, "unknown": core.HealthUnknown,
	}
	tests := []struct {
		strategy core.HealthStrategy
		skipped  map[string]string
	}{
		{core.StrategySkipUnhealthy, map[string]string{"unhealthy": core.SkipUnhealthy}},
		{core.StrategySkipUnhealthyAndDegraded, map[string]string{"unhealthy": core.SkipUnhealthy, "degraded": core.SkipDegraded}},
		{core.StrategyPublishToAll, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(string(tt.strategy), func(t *testing.T) {
			var ts []*core.Target
			for _, name := range []string{"healthy", "degraded", "unhealthy", "unknown"} {
				ts = append(ts, target(name, &fakePublisher{}))
			}
			opts := DefaultParallelPublishOptions()
			opts.HealthStrategy = tt.strategy
			d := newTestDispatcher(ts, Dependencies{Health: &fakeHealth{status: statuses}}, opts)
			res, err := d.PublishToHealthy(context.Background(), testAlert())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Results {
				want := tt.skipped[r.TargetName]
				if r.SkipReason != want || r.Skipped != (want != "") {
					t.Errorf("%s: skipped=%t reason=%q, want reason %q", r.TargetName, r.Skipped, r.SkipReason, want)
				}
			}
		})
	}
}

func TestTrialDueTargetIsTriedUnderEveryStrategy(t *testing.T) {
	for _, strategy := range []core.HealthStrategy{core.StrategySkipUnhealthy, core.StrategySkipUnhealthyAndDegraded} {
		p := &fakePublisher{}
		ts := []*core.Target{target("recovering", p)}
		h := trialHealth{core.TargetHealth{Status: core.HealthDegraded, TrialDue: true}}
		opts := DefaultParallelPublishOptions()
		opts.HealthStrategy = strategy
		d := newTestDispatcher(ts, Dependencies{Health: h}, opts)
		if _, err := d.PublishToHealthy(context.Background(), testAlert()); err != nil || p.calls.Load() != 1 {
			t.Errorf("%s: err %v, calls %d: a target due for a trial must get the delivery", strategy, err, p.calls.Load())
		}
	}
}

type trialHealth struct{ h core.TargetHealth }

func (t trialHealth) GetHealthByName(context.Context, string) (*core.TargetHealth, error) {
	h := t.h
	return &h, nil
}

func TestPublishToHealthyAllUnhealthyNeedsRetry(t *testing.T) {
	ts := []*core.Target{target("a", &fakePublisher{}), target("b", &fakePublisher{})}
	h := &fakeHealth{status: map[string]core.HealthStatus{"a": core.HealthUnhealthy, "b": core.HealthUnhealthy}}
	d := newTestDispatcher(ts, Dependencies{Health: h}, DefaultParallelPublishOptions())
	res, err := d.PublishToHealthy(context.Background(), testAlert())
	if err != nil {
		t.Fatal(err)
	}
	if res.SkippedCount != 2 || !res.NeedsRetry() {
		t.Errorf("result %+v: both targets skipped as unhealthy and the alert must be retried", res)
	}
}

func TestHealthMonitorErrorFailsOpen(t *testing.T) {
	p := &fakePublisher{}
	ts := []*core.Target{target("a", p)}
	d := newTestDispatcher(ts, Dependencies{Health: &fakeHealth{err: errors.New("monitor down")}}, DefaultParallelPublishOptions())
	res, err := d.PublishToHealthy(context.Background(), testAlert())
	if err != nil || !res.AllSucceeded() || p.calls.Load() != 1 {
		t.Errorf("err %v, result %+v, calls %d: a failing monitor must not stop deliveries", err, res, p.calls.Load())
	}
}

func TestPublishToMultipleChecksHealthOnlyWhenAsked(t *testing.T) {
	ts := []*core.Target{target("a", &fakePublisher{})}
	h := &fakeHealth{status: map[string]core.HealthStatus{"a": core.HealthUnhealthy}}
	for _, check := range []bool{true, false} {
		opts := DefaultParallelPublishOptions()
		opts.CheckHealth = check
		d := newTestDispatcher(ts, Dependencies{Health: h}, opts)
		res, _ := d.PublishToMultiple(context.Background(), testAlert(), ts)
		if res.Results[0].Skipped != check {
			t.Errorf("CheckHealth=%t: skipped=%t", check, res.Results[0].Skipped)
		}
	}
}

func TestResentAlertIsNotDeliveredTwice(t *testing.T) {
	ok, failing := &fakePublisher{}, &fakePublisher{err: errServer}
	ts := []*core.Target{target("ok", ok), target("failing", failing)}
	rec := &recorder{}
	d := newTestDispatcher(ts, Dependencies{Dedup: &mapDedup{}, Recorder: rec}, DefaultParallelPublishOptions())
	for range 2 {
		if _, err := d.PublishToAll(context.Background(), testAlert()); err != nil {
			t.Fatal(err)
		}
	}
	if ok.calls.Load() != 1 || failing.calls.Load() != 2 {
		t.Errorf("calls ok=%d failing=%d, want 1 and 2: only failed deliveries are tried again", ok.calls.Load(), failing.calls.Load())
	}
	resolved := testAlert()
	resolved.Alert.Status = core.StatusResolved
	res, _ := d.PublishToAll(context.Background(), resolved)
	if ok.calls.Load() != 2 || res.Results[0].Skipped {
		t.Errorf("the resolved state is a new delivery: calls %d, result %+v", ok.calls.Load(), res.Results[0])
	}
	if r := rec.results["failing"]; r.Success || r.StatusCode != 503 {
		t.Errorf("recorder saw %+v for the failing target", r)
	}
}

func TestInFlightGaugeReturnsToZero(t *testing.T) {
	var ts []*core.Target
	for i := range 5 {
		ts = append(ts, target(fmt.Sprint("t", i), &fakePublisher{delay: time.Millisecond}))
	}
	d := newTestDispatcher(ts, Dependencies{}, DefaultParallelPublishOptions())
	synctest.Test(t, func(t *testing.T) {
		if _, err := d.PublishToMultiple(context.Background(), testAlert(), ts); err != nil {
			t.Fatal(err)
		}
	})
	if got := testutil.ToFloat64(d.metrics.inFlight); got != 0 {
		t.Errorf("in-flight gauge = %v after the fan-out, want 0", got)
	}
	if got := testutil.CollectAndCount(d.metrics.targetSuccess); got != 5 {
		t.Errorf("%d success series, want 5", got)
	}
	d.metrics.DeleteTarget("t0")
	if got := testutil.CollectAndCount(d.metrics.targetSuccess); got != 4 {
		t.Errorf("%d success series after deleting one target, want 4", got)
	}
}
