package health

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/am-fanout/am-fanout/core"
)

func timed(r *core.Outcome, d time.Duration) *core.Outcome {
	r.Duration = d
	return r
}

func TestMonitorWindow(t *testing.T) {
	unavailable := func() *core.Outcome { return failed(core.Retryable(503, 0, errors.New("unavailable"))) }
	ok := func() *core.Outcome { return success() }
	slow := func() *core.Outcome { return timed(success(), 6*time.Second) }
	fast := func() *core.Outcome { return timed(success(), 100*time.Millisecond) }
	repeat := func(n int, f func() *core.Outcome) []*core.Outcome {
		out := make([]*core.Outcome, n)
		for i := range out {
			out[i] = f()
		}
		return out
	}
	cat := func(parts ...[]*core.Outcome) (out []*core.Outcome) {
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name       string
		results    []*core.Outcome
		want       core.HealthStatus
		wantReason string
	}{
		{"flapping target is degraded by its success ratio",
			cat(repeat(4, ok), []*core.Outcome{unavailable(), ok(), unavailable(), ok()}),
			core.HealthDegraded, "success ratio 75% over 8 outcomes in the last 5m0s is below 90%"},
		{"mostly failing target that fails again is unhealthy",
			[]*core.Outcome{ok(), unavailable(), ok(), unavailable(), ok(), unavailable(), unavailable()},
			core.HealthUnhealthy, "success ratio 43% over 7 outcomes"},
		{"mostly failing target that just succeeded is only degraded",
			cat([]*core.Outcome{unavailable(), ok(), unavailable(), ok(), unavailable(), ok()}),
			core.HealthDegraded, "success ratio 50%"},
		{"too few outcomes are not judged", []*core.Outcome{unavailable(), ok()},
			core.HealthHealthy, "last delivery succeeded"},
		{"slow answers degrade", repeat(5, slow), core.HealthDegraded, "mean latency 6s over 5 deliveries"},
		{"fast answers are healthy", repeat(5, fast), core.HealthHealthy, "last delivery succeeded"},
		{"a few slow answers among fast ones are healthy",
			cat(repeat(1, slow), repeat(9, fast)), core.HealthHealthy, "last delivery succeeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			m := New(Options{Now: clk.Now})
			for _, r := range tt.results {
				m.Record("t1", r)
				clk.Advance(time.Second)
			}
			h := healthOf(t, m, "t1")
			assert.Equal(t, tt.want, h.Status, "status; reason %q", h.Reason)
			assert.Contains(t, h.Reason, tt.wantReason, "the reason must say why")
		})
	}
}

func TestMonitorWindowForgetsOldOutcomes(t *testing.T) {
	clk := newClock()
	m := New(Options{Window: time.Minute, Now: clk.Now})
	for range 5 {
		m.Record("t1", success())
		m.Record("t1", failed(core.Retryable(503, 0, errors.New("x"))))
		m.Record("t1", success())
	}
	h := healthOf(t, m, "t1")
	assert.Equal(t, core.HealthDegraded, h.Status, "two in three succeeded within the window; reason %q", h.Reason)

	clk.Advance(time.Minute + time.Minute/windowBuckets)
	m.Record("t1", success())
	h = healthOf(t, m, "t1")
	assert.Equal(t, core.HealthHealthy, h.Status, "outcomes older than the window must not count; reason %q", h.Reason)
}

func TestMonitorSetOptions(t *testing.T) {
	clk := newClock()
	m := New(Options{Now: clk.Now})
	m.Record("t1", failed(core.Retryable(503, 0, errors.New("x"))))
	m.Record("t1", failed(core.Retryable(503, 0, errors.New("x"))))
	assert.Equal(t, core.HealthDegraded, healthOf(t, m, "t1").Status)

	m.SetOptions(Options{UnhealthyAfter: 2, Now: clk.Now})
	h := healthOf(t, m, "t1")
	assert.Equal(t, core.HealthUnhealthy, h.Status, "new thresholds must apply to what the monitor already knows")
	assert.Equal(t, 2, h.ConsecutiveFailures, "changing thresholds must keep the failures")

	for range 3 {
		m.Record("t1", success())
	}
	m.SetOptions(Options{UnhealthyAfter: 2, Window: time.Hour, MinSamples: 1, Now: clk.Now})
	assert.Equal(t, core.HealthHealthy, healthOf(t, m, "t1").Status, "a new window length starts an empty window")
}

func TestWindowDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	assert.Equal(t, DefaultWindow, o.Window)
	assert.Equal(t, DefaultMinSamples, o.MinSamples)
	assert.InDelta(t, DefaultDegradedSuccessRatio, o.DegradedSuccessRatio, 0)
	assert.InDelta(t, DefaultUnhealthySuccessRatio, o.UnhealthySuccessRatio, 0)
	assert.Equal(t, DefaultDegradedLatency, o.DegradedLatency)
	bad := Options{DegradedSuccessRatio: 1.5, UnhealthySuccessRatio: -1}.withDefaults()
	assert.InDelta(t, DefaultDegradedSuccessRatio, bad.DegradedSuccessRatio, 0, "a ratio above 1 takes the default")
	assert.InDelta(t, DefaultUnhealthySuccessRatio, bad.UnhealthySuccessRatio, 0, "a negative ratio takes the default")
}
