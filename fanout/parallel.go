package fanout

import (
	"context"

	"github.com/am-fanout/am-fanout/core"
)

// ParallelPublisher publishes alerts to many targets in parallel: the
// seed design's API of the fan-out engine. The outbox implements it on the
// one delivery pipeline: every delivery is persisted, goes through its
// target's lane and is attempted there; the methods return when the first
// attempts are done, with an open breaker or a held-back lane answered as
// a skipped result. All methods are safe for concurrent use.
type ParallelPublisher interface {
	// PublishToMultiple delivers the alert to the given targets.
	PublishToMultiple(ctx context.Context, a *core.EnrichedAlert, targets []*core.Target) (*core.ParallelPublishResult, error)
	// PublishToAll delivers the alert to every target that selects it,
	// whatever their health.
	PublishToAll(ctx context.Context, a *core.EnrichedAlert) (*core.ParallelPublishResult, error)
	// PublishToHealthy delivers the alert to every target that selects it,
	// answering the targets the health strategy holds back as skipped;
	// their deliveries wait in their lanes.
	PublishToHealthy(ctx context.Context, a *core.EnrichedAlert) (*core.ParallelPublishResult, error)
}
