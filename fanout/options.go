package fanout

import (
	"fmt"
	"time"
)

// HealthStrategy decides which targets a fan-out skips by their health.
type HealthStrategy int

const (
	// SkipUnhealthy skips unhealthy targets; it delivers to healthy,
	// degraded and unknown ones.
	SkipUnhealthy HealthStrategy = iota
	// PublishToAll ignores health.
	PublishToAll
	// SkipUnhealthyAndDegraded delivers to healthy and unknown targets only.
	SkipUnhealthyAndDegraded
)

func (s HealthStrategy) String() string {
	switch s {
	case SkipUnhealthy:
		return "skip_unhealthy"
	case PublishToAll:
		return "publish_to_all"
	case SkipUnhealthyAndDegraded:
		return "skip_unhealthy_and_degraded"
	}
	return fmt.Sprintf("HealthStrategy(%d)", int(s))
}

// ParseHealthStrategy reads a strategy by its config name.
func ParseHealthStrategy(s string) (HealthStrategy, error) {
	for _, hs := range []HealthStrategy{SkipUnhealthy, PublishToAll, SkipUnhealthyAndDegraded} {
		if hs.String() == s {
			return hs, nil
		}
	}
	return 0, fmt.Errorf("unknown health strategy %q", s)
}

// ParallelPublishOptions configures the fan-out of one alert.
type ParallelPublishOptions struct {
	// Timeout bounds the whole fan-out; each delivery also has its
	// target's own, usually shorter, timeout.
	Timeout time.Duration
	// CheckHealth makes PublishToMultiple consult the health monitor.
	CheckHealth bool
	// HealthStrategy decides which targets are skipped by health.
	HealthStrategy HealthStrategy
	// MaxConcurrent bounds the deliveries of one alert in flight at once.
	MaxConcurrent int
	// RespectCircuitBreakers runs every delivery through its target's
	// breaker; an open breaker becomes a skipped result.
	RespectCircuitBreakers bool
}

// DefaultParallelPublishOptions returns the seed design's defaults.
func DefaultParallelPublishOptions() ParallelPublishOptions {
	return ParallelPublishOptions{
		Timeout:                30 * time.Second,
		CheckHealth:            true,
		HealthStrategy:         SkipUnhealthy,
		MaxConcurrent:          10,
		RespectCircuitBreakers: true,
	}
}

func (o *ParallelPublishOptions) normalise() {
	d := DefaultParallelPublishOptions()
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
	if o.MaxConcurrent < 1 {
		o.MaxConcurrent = d.MaxConcurrent
	}
}
