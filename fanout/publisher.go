// Package fanout delivers one alert to many targets in parallel: it selects
// the targets, consults health and breakers, bounds the deliveries in
// flight, enforces deadlines and aggregates the results.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// ParallelPublisher publishes alerts to many targets in parallel. All
// methods are safe for concurrent use and return only after every delivery
// they started has finished.
type ParallelPublisher interface {
	// PublishToMultiple delivers the alert to the given targets.
	PublishToMultiple(ctx context.Context, a *core.EnrichedAlert, targets []*core.Target) (*core.ParallelPublishResult, error)
	// PublishToAll delivers the alert to every target that selects it,
	// whatever their health.
	PublishToAll(ctx context.Context, a *core.EnrichedAlert) (*core.ParallelPublishResult, error)
	// PublishToHealthy delivers the alert to every target that selects it,
	// skipping targets by the configured health strategy.
	PublishToHealthy(ctx context.Context, a *core.EnrichedAlert) (*core.ParallelPublishResult, error)
}

// Dispatcher is the ParallelPublisher of am-fanout.
type Dispatcher struct {
	source   TargetSource
	health   HealthMonitor
	recorder OutcomeRecorder
	dedup    Deduplicator
	gone     *GoneTargets
	metrics  *Metrics
	logger   *slog.Logger
	opts     ParallelPublishOptions
	// failureLogs rate-limits the log lines of failures that repeat.
	failureLogs *repeatLimiter
}

// Dependencies are the collaborators of a Dispatcher; Source and Metrics
// are required, the others may be nil.
type Dependencies struct {
	Source   TargetSource
	Health   HealthMonitor
	Recorder OutcomeRecorder
	Dedup    Deduplicator
	// Gone keeps the targets that reported themselves gone across
	// dispatchers; nil keeps them for this dispatcher only.
	Gone    *GoneTargets
	Metrics *Metrics
	Logger  *slog.Logger
}

// NewDispatcher returns a Dispatcher; zero options take their defaults.
func NewDispatcher(deps Dependencies, opts ParallelPublishOptions) *Dispatcher {
	opts.normalise()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Gone == nil {
		deps.Gone = &GoneTargets{}
	}
	return &Dispatcher{
		source: deps.Source, health: deps.Health, recorder: deps.Recorder, dedup: deps.Dedup,
		gone: deps.Gone, metrics: deps.Metrics, logger: deps.Logger, opts: opts,
		failureLogs: newRepeatLimiter(failureLogInterval),
	}
}

// PublishToAll implements ParallelPublisher.
func (d *Dispatcher) PublishToAll(ctx context.Context, a *core.EnrichedAlert) (*core.ParallelPublishResult, error) {
	return d.publishSelected(ctx, a, core.StrategyPublishToAll)
}

// PublishToHealthy implements ParallelPublisher.
func (d *Dispatcher) PublishToHealthy(ctx context.Context, a *core.EnrichedAlert) (*core.ParallelPublishResult, error) {
	return d.publishSelected(ctx, a, d.opts.HealthStrategy)
}

// PublishToMultiple implements ParallelPublisher. It consults health only
// when the options say CheckHealth.
func (d *Dispatcher) PublishToMultiple(ctx context.Context, a *core.EnrichedAlert, targets []*core.Target) (*core.ParallelPublishResult, error) {
	if a == nil || len(targets) == 0 {
		return nil, core.ErrInvalidInput
	}
	strategy := core.StrategyPublishToAll
	if d.opts.CheckHealth {
		strategy = d.opts.HealthStrategy
	}
	return d.publish(ctx, a, targets, strategy)
}

func (d *Dispatcher) publishSelected(ctx context.Context, a *core.EnrichedAlert, strategy core.HealthStrategy) (*core.ParallelPublishResult, error) {
	if a == nil {
		return nil, core.ErrInvalidInput
	}
	var selected []*core.Target
	for _, t := range d.source.Targets() {
		if t.Selects(a) {
			selected = append(selected, t)
		}
	}
	if len(selected) == 0 {
		return core.NewParallelPublishResult(nil, 0), core.ErrNoEnabledTargets
	}
	return d.publish(ctx, a, selected, strategy)
}

func (d *Dispatcher) publish(ctx context.Context, a *core.EnrichedAlert, targets []*core.Target, strategy core.HealthStrategy) (*core.ParallelPublishResult, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	d.logger.Debug("fan-out starting", "fingerprint", a.Alert.Fingerprint, "status", a.Alert.Status, "targets", len(targets))

	results := make([]core.TargetPublishResult, len(targets))
	pending := make([]int, 0, len(targets))
	for i, t := range targets {
		if skip := d.preSkip(ctx, a, t, strategy); skip != "" {
			results[i] = core.TargetPublishResult{
				TargetName: t.Name, TargetType: t.Type, Skipped: true, SkipReason: skip,
				Retryable: skip != core.SkipAlreadyDelivered && skip != core.SkipTargetGone,
			}
			d.observe(&results[i])
			continue
		}
		pending = append(pending, i)
	}
	d.run(ctx, a, targets, pending, results)

	res := core.NewParallelPublishResult(results, time.Since(start))
	d.metrics.recordFanout(res)
	d.logResult(a, res)
	if res.Delivered() {
		return res, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && res.FailureCount > 0 {
		return res, fmt.Errorf("%w: %w", core.ErrAllTargetsFailed, fanoutError(ctxErr))
	}
	if res.FailureCount > 0 {
		return res, core.ErrAllTargetsFailed
	}
	return res, nil
}

// run delivers to the targets at the pending indexes with at most
// MaxConcurrent deliveries in flight, and returns when all have finished.
func (d *Dispatcher) run(ctx context.Context, a *core.EnrichedAlert, targets []*core.Target, pending []int, results []core.TargetPublishResult) {
	obs := observerFrom(ctx)
	deliver := func(i int, deadline context.Context) {
		results[i] = d.deliver(ctx, deadline, a, targets[i])
		// Recording here, while other deliveries are still in flight,
		// keeps it off the fan-out's critical path.
		d.observe(&results[i])
		if obs != nil {
			obs(targets[i], results[i])
		}
	}
	var wg sync.WaitGroup
	if len(pending) <= d.opts.MaxConcurrent {
		// Every delivery starts now, so deliveries with the same timeout
		// share one deadline: one timer instead of one per target, which
		// matters with a hundred targets on two cores.
		deadlines := map[time.Duration]context.Context{}
		for _, i := range pending {
			timeout := targets[i].Timeout
			dl, ok := deadlines[timeout]
			if !ok {
				var cancel context.CancelFunc
				dl, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
				deadlines[timeout] = dl
			}
			wg.Go(func() { deliver(i, dl) })
		}
		wg.Wait()
		return
	}
	jobs := make(chan int, len(pending))
	for _, i := range pending {
		jobs <- i
	}
	close(jobs)
	for range d.opts.MaxConcurrent {
		wg.Go(func() {
			for i := range jobs {
				deliver(i, nil)
			}
		})
	}
	wg.Wait()
}

// preSkip returns why a target is skipped before any delivery is tried, or
// "" to try it.
func (d *Dispatcher) preSkip(ctx context.Context, a *core.EnrichedAlert, t *core.Target, strategy core.HealthStrategy) string {
	if d.dedup != nil && d.dedup.Delivered(DeliveryKey(t.Name, a)) {
		return core.SkipAlreadyDelivered
	}
	if _, gone := d.gone.Lookup(t); gone {
		// Whatever the health strategy: a request could only fail again.
		return core.SkipTargetGone
	}
	if strategy == core.StrategyPublishToAll || d.health == nil {
		return ""
	}
	h, err := d.health.GetHealthByName(ctx, t.Name)
	if err != nil || h == nil {
		// Fail open: a health monitor that cannot answer must not stop
		// deliveries.
		d.logger.Warn("health unknown, delivering anyway", "target", t.Name, "err", err)
		return ""
	}
	switch {
	case h.TrialDue:
		return ""
	case h.Status == core.HealthUnhealthy:
		return core.SkipUnhealthy
	case h.Status == core.HealthDegraded && strategy == core.StrategySkipUnhealthyAndDegraded:
		return core.SkipDegraded
	}
	return ""
}

// deliver makes one delivery attempt through the target's breaker. The
// attempt ends at deadline, or after the target's timeout from now when
// deadline is nil.
func (d *Dispatcher) deliver(ctx, deadline context.Context, a *core.EnrichedAlert, t *core.Target) core.TargetPublishResult {
	res := core.TargetPublishResult{TargetName: t.Name, TargetType: t.Type}
	if err := ctx.Err(); err != nil {
		// The fan-out deadline passed while this delivery waited for a slot.
		res.Error = fmt.Errorf("not started: %w", fanoutError(err))
		res.Retryable = true
		return res
	}
	start := time.Now()
	dctx := deadline
	if dctx == nil {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	publish := func(ctx context.Context) error {
		d.metrics.inFlight.Inc()
		defer d.metrics.inFlight.Dec()
		return t.Publisher.Publish(ctx, a)
	}
	var err error
	if t.Circuit != nil && d.opts.RespectCircuitBreakers {
		err = t.Circuit.Execute(dctx, publish)
	} else {
		err = publish(dctx)
	}
	res.Duration = time.Since(start)
	switch {
	case err == nil:
		res.Success = true
		if d.dedup != nil {
			d.dedup.MarkDelivered(DeliveryKey(t.Name, a))
		}
	case errors.Is(err, core.ErrCircuitOpen):
		res.Skipped, res.SkipReason, res.Retryable = true, core.SkipCircuitOpen, true
	case errors.Is(err, core.ErrCircuitHalfOpen):
		res.Skipped, res.SkipReason, res.Retryable = true, core.SkipCircuitHalfOpen, true
	default:
		if core.IsGone(err) && d.gone.mark(t, err, time.Now()) {
			d.logger.Warn("target is gone: it is skipped until its configuration changes", "target", t.Name, "err", err)
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", fanoutError(ctx.Err()), err)
		}
		res.Error, res.StatusCode = err, core.StatusCode(err)
		res.Retryable = core.IsRetryable(err) || ctx.Err() != nil
	}
	return res
}

// fanoutError names a fan-out context's end with the package's sentinels.
func fanoutError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return core.ErrContextTimeout
	}
	return core.ErrContextCancelled
}

func (d *Dispatcher) observe(r *core.TargetPublishResult) {
	d.metrics.recordTarget(r)
	if d.recorder != nil && !r.Skipped {
		d.recorder.Record(r.TargetName, r)
	}
	// The check spares every delivery the boxing of its log attributes
	// when debug logging is off, as it usually is.
	if !d.logger.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	if r.Skipped {
		d.logger.Debug("target skipped", "target", r.TargetName, "reason", r.SkipReason)
		return
	}
	d.logger.Debug("target delivered", "target", r.TargetName, "success", r.Success,
		"duration", r.Duration, "status_code", r.StatusCode, "err", r.Error)
}

func (d *Dispatcher) logResult(a *core.EnrichedAlert, r *core.ParallelPublishResult) {
	attrs := []any{
		"fingerprint", a.Alert.Fingerprint, "alertname", a.Alert.Labels["alertname"],
		"status", a.Alert.Status, "targets", r.TotalTargets, "success", r.SuccessCount,
		"failure", r.FailureCount, "skipped", r.SkippedCount, "duration", r.Duration,
	}
	if !r.IsPartialSuccess && r.FailureCount == 0 && r.Delivered() {
		d.logger.Debug("fan-out done", attrs...)
		return
	}
	failed, key := failedTargets(r)
	ok, held := d.failureLogs.allow(key, time.Now())
	if !ok {
		return
	}
	attrs = append(attrs, "failed", failed)
	if held > 0 {
		attrs = append(attrs, "similar_failures_not_logged", held)
	}
	if r.IsPartialSuccess {
		d.logger.Warn("fan-out partially succeeded", attrs...)
		return
	}
	d.logger.Error("fan-out failed", attrs...)
}

// failedTargets lists "name: error" for each failed target.
// The names of those targets, with the result's state, are key: the same
// targets failing again for other alerts are one repeating failure.
func failedTargets(r *core.ParallelPublishResult) (failed []string, key string) {
	var names strings.Builder
	for i := range r.Results {
		res := &r.Results[i]
		switch {
		case !res.Success && !res.Skipped:
			failed = append(failed, fmt.Sprintf("%s: %v", res.TargetName, res.Error))
		case res.Skipped && res.SkipReason != core.SkipAlreadyDelivered:
			failed = append(failed, res.TargetName+": skipped, "+res.SkipReason)
		default:
			continue
		}
		names.WriteString(res.TargetName)
		names.WriteByte('\n')
	}
	if r.IsPartialSuccess {
		names.WriteString("partial")
	}
	return failed, names.String()
}
