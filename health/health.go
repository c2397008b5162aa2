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
	// RecheckAfter is how long after its last failure a degraded or
	// unhealthy target is offered a trial delivery; default 30s.
	RecheckAfter time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// The defaults of Options.
const (
	DefaultUnhealthyAfter = 3
	DefaultDegradedAfter  = 1
	DefaultRecheckAfter   = 30 * time.Second
)

func (o Options) withDefaults() Options {
	if o.UnhealthyAfter <= 0 {
		o.UnhealthyAfter = DefaultUnhealthyAfter
	}
	if o.DegradedAfter <= 0 {
		o.DegradedAfter = DefaultDegradedAfter
	}
	if o.RecheckAfter <= 0 {
		o.RecheckAfter = DefaultRecheckAfter
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
