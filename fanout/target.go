package fanout

import (
	"context"

	"github.com/am-fanout/am-fanout/core"
)

// HealthMonitor answers a target's health from cached state.
type HealthMonitor interface {
	GetHealthByName(ctx context.Context, name string) (*core.TargetHealth, error)
}

// TargetSource returns the current set of targets. The slice it returns is
// never modified afterwards, so a fan-out can keep using it while a reload
// installs a new set.
type TargetSource interface {
	Targets() []*core.Target
}
