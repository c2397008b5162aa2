package fanout

import (
	"context"
	"fmt"

	"github.com/am-fanout/am-fanout/core"
)

// ParallelPublisher publishes alerts to many targets in parallel: the
// seed design's API of the fan-out engine. Pipeline implements it on the
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

var _ ParallelPublisher = (*Pipeline)(nil)

// PublishToMultiple implements ParallelPublisher on the pipeline:
// the alert's deliveries to targets are persisted and queued in their
// lanes, and the call returns after their first attempts, a held-back
// lane answering as a skip.
func (p *Pipeline) PublishToMultiple(ctx context.Context, a *core.EnrichedAlert, targets []*core.Target) (*core.ParallelPublishResult, error) {
	if a == nil || len(targets) == 0 {
		return nil, core.ErrInvalidInput
	}
	return p.publish(ctx, a, targets, p.opts.skipUnhealthy())
}

// PublishToAll implements ParallelPublisher: every target that
// selects the alert, each waited for whatever its lane's state, until the
// fan-out deadline.
func (p *Pipeline) PublishToAll(ctx context.Context, a *core.EnrichedAlert) (*core.ParallelPublishResult, error) {
	return p.publishSelected(ctx, a, false)
}

// PublishToHealthy implements ParallelPublisher: every target that
// selects the alert; those whose lanes are held back (failing, paused,
// breaker open) are answered as skipped, and their deliveries wait in the
// lanes until the target is back.
func (p *Pipeline) PublishToHealthy(ctx context.Context, a *core.EnrichedAlert) (*core.ParallelPublishResult, error) {
	return p.publishSelected(ctx, a, true)
}

func (p *Pipeline) publishSelected(ctx context.Context, a *core.EnrichedAlert, holdBack bool) (*core.ParallelPublishResult, error) {
	if a == nil {
		return nil, core.ErrInvalidInput
	}
	var selected []*core.Target
	for _, t := range p.src.Targets() {
		if t.Selects(a) {
			selected = append(selected, t)
		}
	}
	if len(selected) == 0 {
		return core.NewParallelPublishResult(nil, 0), core.ErrNoEnabledTargets
	}
	return p.publish(ctx, a, selected, holdBack)
}

func (p *Pipeline) publish(ctx context.Context, a *core.EnrichedAlert, targets []*core.Target, holdBack bool) (*core.ParallelPublishResult, error) {
	out, err := p.accept(ctx, []*core.EnrichedAlert{a}, targets, true, holdBack)
	if err != nil {
		return nil, err
	}
	res := out[0].Result
	switch {
	case res.Delivered():
		return res, nil
	case res.FailureCount > 0:
		return res, fmt.Errorf("%w: %d of %d targets failed", core.ErrAllTargetsFailed, res.FailureCount, res.TotalTargets)
	}
	return res, nil
}
