package fanout

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/am-fanout/am-fanout/core"
)

// AttemptSpan is the name of the span of one delivery attempt.
const AttemptSpan = "delivery.attempt"

// The attributes of attempt spans. Neither the alert's labels nor the
// publisher's error are recorded: either may hold what a target's
// configuration keeps secret.
const (
	AttrTarget      = attribute.Key("am_fanout.target.name")
	AttrTargetType  = attribute.Key("am_fanout.target.type")
	AttrFingerprint = attribute.Key("am_fanout.alert.fingerprint")
	AttrGroup       = attribute.Key("am_fanout.group")
	AttrOutcome     = attribute.Key("am_fanout.outcome")
	AttrSkipReason  = attribute.Key("am_fanout.skip_reason")
	AttrErrorType   = attribute.Key("am_fanout.error_type")
	AttrStatusCode  = attribute.Key("http.response.status_code")
)

// startSpan starts the attempt's span as a child of the accept span whose
// context the delivery carries, as the pipeline puts it in ctx. A delivery
// without one (accepted while tracing was off) gets no span, so that
// tracing off costs nothing per attempt.
func (at *Attempter) startSpan(ctx context.Context, t *core.Target, a *core.EnrichedAlert) (context.Context, trace.Span) {
	if at.Tracer == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{AttrTarget.String(t.Name), AttrTargetType.String(t.Type), AttrGroup.Bool(a == nil)}
	if a != nil {
		attrs = append(attrs, AttrFingerprint.String(a.Alert.Fingerprint))
	}
	return at.Tracer.Start(ctx, AttemptSpan, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endSpan records the outcome on the span and ends it.
func endSpan(span trace.Span, o *core.Outcome) {
	if span == nil {
		return
	}
	span.SetAttributes(AttrOutcome.String(o.Kind.String()))
	if o.StatusCode != 0 {
		span.SetAttributes(AttrStatusCode.Int(o.StatusCode))
	}
	switch o.Kind {
	case core.OutcomeSkipped:
		span.SetAttributes(AttrSkipReason.String(o.SkipReason))
	case core.OutcomeRetry, core.OutcomePermanent:
		errType := core.ErrorType(o.Err)
		span.SetAttributes(AttrErrorType.String(errType))
		span.SetStatus(codes.Error, errType)
	}
	span.End()
}

// withTraceID adds the trace id of ctx's span to a log line's attributes,
// when there is one.
func withTraceID(ctx context.Context, attrs []any) []any {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return append(attrs, "trace_id", sc.TraceID().String())
	}
	return attrs
}
