package fanout

import (
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// ParallelPublishOptions configures the fan-out of one alert.
type ParallelPublishOptions struct {
	// Timeout bounds the whole fan-out; each delivery also has its
	// target's own, usually shorter, timeout.
	Timeout time.Duration
	// CheckHealth makes PublishToMultiple consult the health monitor.
	CheckHealth bool
	// HealthStrategy decides which targets are skipped by health.
	HealthStrategy core.HealthStrategy
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
		HealthStrategy:         core.StrategySkipUnhealthy,
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
	if o.HealthStrategy == "" {
		o.HealthStrategy = d.HealthStrategy
	}
}
