// Package health tracks how healthy each target is, so the fan-out can
// keep alerts away from a target that is down without waiting on it.
package health

import (
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// Options configures a health monitor. Zero fields take their defaults.
type Options struct {
	// UnhealthyAfter is how many consecutive failures make a target
	// unhealthy; default 3.
	UnhealthyAfter int
	// DegradedAfter is how many consecutive failures make a target
	// degraded; default 1.
	DegradedAfter int
	// RecheckAfter is how long after its last outcome a degraded or
	// unhealthy target is offered a trial delivery; default 30s.
	RecheckAfter time.Duration
	// Window is how far back the success ratio and latency look; default
	// 5m.
	Window time.Duration
	// MinSamples is how many outcomes the window must hold before its
	// success ratio and latency are judged; default 5.
	MinSamples int
	// DegradedSuccessRatio and UnhealthySuccessRatio are the success
	// ratios over the window below which a target is degraded, or
	// unhealthy while it keeps failing; defaults 0.9 and 0.5.
	DegradedSuccessRatio  float64
	UnhealthySuccessRatio float64
	// DegradedLatency is the mean latency of answered deliveries over the
	// window above which a target is degraded; default 5s.
	DegradedLatency time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// The defaults of Options.
const (
	DefaultUnhealthyAfter        = 3
	DefaultDegradedAfter         = 1
	DefaultRecheckAfter          = 30 * time.Second
	DefaultWindow                = 5 * time.Minute
	DefaultMinSamples            = 5
	DefaultDegradedSuccessRatio  = 0.9
	DefaultUnhealthySuccessRatio = 0.5
	DefaultDegradedLatency       = 5 * time.Second
)

func (o Options) withDefaults() Options {
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt(&o.UnhealthyAfter, DefaultUnhealthyAfter)
	setInt(&o.DegradedAfter, DefaultDegradedAfter)
	setInt(&o.MinSamples, DefaultMinSamples)
	setDur(&o.RecheckAfter, DefaultRecheckAfter)
	setDur(&o.Window, DefaultWindow)
	setDur(&o.DegradedLatency, DefaultDegradedLatency)
	if o.DegradedSuccessRatio <= 0 || o.DegradedSuccessRatio > 1 {
		o.DegradedSuccessRatio = DefaultDegradedSuccessRatio
	}
	if o.UnhealthySuccessRatio <= 0 || o.UnhealthySuccessRatio > 1 {
		o.UnhealthySuccessRatio = DefaultUnhealthySuccessRatio
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// StatusValue is the value of the metric am_fanout_target_health for a
// status: unknown 0, healthy 1, degraded 2, unhealthy 3.
func StatusValue(s core.HealthStatus) float64 {
	switch s {
	case core.HealthHealthy:
		return 1
	case core.HealthDegraded:
		return 2
	case core.HealthUnhealthy:
		return 3
	default:
		return 0
	}
}
