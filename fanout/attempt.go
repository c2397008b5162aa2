package fanout

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/am-fanout/am-fanout/core"
)

// OutcomeRecorder observes every attempt's outcome; the health monitor
// implements it.
type OutcomeRecorder interface {
	Record(name string, o *core.Outcome)
}

// Attempter makes single delivery attempts: the one place where a
// target's breaker, its publisher and the classification of what the
// publisher answered meet. Health, metrics and gone targets are recorded
// here from the outcome; the caller (the pipeline's lanes) reads the same
// outcome to decide what comes next.
type Attempter struct {
	Health  OutcomeRecorder
	Gone    *GoneTargets
	Metrics *Metrics
	Logger  *slog.Logger
	// Tracer, when set, starts a span for each attempt of a delivery
	// that carries the context of its accept span (see tracing.go).
	Tracer trace.Tracer
	// failureLogs rate-limits the log lines of failures that repeat.
	failureLogs *RepeatLimiter
}

// NewAttempter returns an Attempter; health may be nil.
func NewAttempter(health OutcomeRecorder, gone *GoneTargets, m *Metrics, logger *slog.Logger) *Attempter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if gone == nil {
		gone = &GoneTargets{}
	}
	return &Attempter{Health: health, Gone: gone, Metrics: m, Logger: logger, failureLogs: NewRepeatLimiter(failureLogInterval)}
}

// Attempt delivers one alert (a) or one notification (n, when a is nil)
// to t within t's timeout, once, and returns its outcome.
func (at *Attempter) Attempt(ctx context.Context, t *core.Target, a *core.EnrichedAlert, n *core.Notification) core.Outcome {
	ctx, span := at.startSpan(ctx, t, a)
	o := at.attempt(ctx, t, a, n)
	endSpan(span, &o)
	return o
}

func (at *Attempter) attempt(ctx context.Context, t *core.Target, a *core.EnrichedAlert, n *core.Notification) core.Outcome {
	if _, gone := at.Gone.Lookup(t); gone {
		// A request could only fail again until the configuration changes.
		o := core.Skip(core.SkipTargetGone)
		at.observe(ctx, t, &o)
		return o
	}
	attempt := func(ctx context.Context) core.Outcome {
		ctx, cancel := context.WithTimeout(ctx, t.Timeout)
		defer cancel()
		start := time.Now()
		at.Metrics.inFlight.Inc()
		err := send(ctx, t, a, n)
		at.Metrics.inFlight.Dec()
		// Canceled, not DeadlineExceeded: the caller ended it (shutdown),
		// not the target's timeout.
		return core.Classify(err, errors.Is(ctx.Err(), context.Canceled), time.Since(start))
	}
	var o core.Outcome
	if t.Circuit != nil {
		o = t.Circuit.Run(ctx, attempt)
	} else {
		o = attempt(ctx)
	}
	if o.Gone && at.Gone.mark(t, o.Err, time.Now()) {
		at.Logger.Warn("target is gone: it is skipped until its configuration changes", "target", t.Name, "err", o.Err)
	}
	at.observe(ctx, t, &o)
	return o
}

// send calls the publisher: the group form for a notification.
func send(ctx context.Context, t *core.Target, a *core.EnrichedAlert, n *core.Notification) error {
	if a != nil {
		return t.Publisher.Publish(ctx, a)
	}
	gp, ok := t.Publisher.(core.GroupPublisher)
	if !ok {
		return core.Permanent(0, errors.New("target type "+t.Type+" cannot send a whole notification (group_by: notification)"))
	}
	return gp.PublishGroup(ctx, n)
}

func (at *Attempter) observe(ctx context.Context, t *core.Target, o *core.Outcome) {
	r := o.Result(t)
	at.Metrics.recordTarget(&r)
	if at.Health != nil && o.Kind != core.OutcomeSkipped {
		at.Health.Record(t.Name, o)
	}
	switch o.Kind {
	case core.OutcomeRetry, core.OutcomePermanent:
		// One line per target and kind of failure per interval: a dead
		// target must not write a line per alert.
		key := t.Name + "\x00" + o.Kind.String() + "\x00" + core.ErrorType(o.Err)
		if ok, held := at.failureLogs.Allow(key, time.Now()); ok {
			attrs := []any{"target", t.Name, "outcome", o.Kind.String(), "status_code", o.StatusCode,
				"duration", o.Duration, "err", o.Err}
			if held > 0 {
				attrs = append(attrs, "similar_failures_not_logged", held)
			}
			attrs = withTraceID(ctx, attrs)
			at.Logger.Warn("delivery attempt failed", attrs...)
		}
	default:
		if l := at.Logger; l.Enabled(context.Background(), slog.LevelDebug) {
			l.Debug("delivery attempt", withTraceID(ctx, []any{"target", t.Name, "outcome", o.Kind.String(), "skip_reason", o.SkipReason,
				"duration", o.Duration, "status_code", o.StatusCode})...)
		}
	}
}
