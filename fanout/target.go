package fanout

import (
	"context"

	"github.com/am-fanout/am-fanout/core"
)

// CircuitBreaker runs a delivery unless the target's breaker rejects it, in
// which case it returns core.ErrCircuitOpen or core.ErrCircuitHalfOpen.
type CircuitBreaker interface {
	Execute(ctx context.Context, deliver func(context.Context) error) error
}

// HealthMonitor answers a target's health from cached state.
type HealthMonitor interface {
	GetHealthByName(ctx context.Context, name string) (*core.TargetHealth, error)
}

// OutcomeRecorder observes every delivery outcome; the health monitor
// implements it.
type OutcomeRecorder interface {
	Record(name string, r *core.TargetPublishResult)
}

// Target is a target ready for delivery: its identity and selection, its
// publisher and its breaker (nil for none).
type Target struct {
	core.Target
	Publisher core.Publisher
	Breaker   CircuitBreaker
}

// TargetSource returns the current set of targets. The slice it returns is
// never modified afterwards, so a fan-out can keep using it while a reload
// installs a new set.
type TargetSource interface {
	Targets() []*Target
}
