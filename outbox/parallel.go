package outbox

import (
	"context"
	"fmt"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/fanout"
)

var _ fanout.ParallelPublisher = (*Outbox)(nil)

// PublishToMultiple implements fanout.ParallelPublisher on the pipeline:
// the alert's deliveries to targets are persisted and queued in their
// lanes, and the call returns after their first attempts, a held-back
// lane answering as a skip.
func (o *Outbox) PublishToMultiple(ctx context.Context, a *core.EnrichedAlert, targets []*core.Target) (*core.ParallelPublishResult, error) {
	if a == nil || len(targets) == 0 {
		return nil, core.ErrInvalidInput
	}
	return o.publish(ctx, a, targets, o.opts.HealthStrategy != core.StrategyPublishToAll)
}

// PublishToAll implements fanout.ParallelPublisher: every target that
// selects the alert, each waited for whatever its lane's state, until the
// fan-out deadline.
func (o *Outbox) PublishToAll(ctx context.Context, a *core.EnrichedAlert) (*core.ParallelPublishResult, error) {
	return o.publishSelected(ctx, a, false)
}

// PublishToHealthy implements fanout.ParallelPublisher: every target that
// selects the alert; those whose lanes are held back (failing, paused,
// breaker open) are answered as skipped, and their deliveries wait in the
// lanes until the target is back.
func (o *Outbox) PublishToHealthy(ctx context.Context, a *core.EnrichedAlert) (*core.ParallelPublishResult, error) {
	return o.publishSelected(ctx, a, true)
}

func (o *Outbox) publishSelected(ctx context.Context, a *core.EnrichedAlert, holdBack bool) (*core.ParallelPublishResult, error) {
	if a == nil {
		return nil, core.ErrInvalidInput
	}
	var selected []*core.Target
	for _, t := range o.src.Targets() {
		if t.Selects(a) {
			selected = append(selected, t)
		}
	}
	if len(selected) == 0 {
		return core.NewParallelPublishResult(nil, 0), core.ErrNoEnabledTargets
	}
	return o.publish(ctx, a, selected, holdBack)
}

func (o *Outbox) publish(ctx context.Context, a *core.EnrichedAlert, targets []*core.Target, holdBack bool) (*core.ParallelPublishResult, error) {
	out, err := o.accept(ctx, []*core.EnrichedAlert{a}, targets, true, holdBack)
	if err != nil {
		return nil, err
	}
	res := out[0].Result
	o.metrics.fanout(res)
	switch {
	case res.Delivered():
		return res, nil
	case res.FailureCount > 0:
		return res, fmt.Errorf("%w: %d of %d targets failed", core.ErrAllTargetsFailed, res.FailureCount, res.TotalTargets)
	}
	return res, nil
}
