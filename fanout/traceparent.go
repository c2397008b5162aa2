package fanout

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// A delivery carries the trace context of the webhook request that
// accepted it as the W3C traceparent string, the form Alertmanager sends:
// it is plain data in the record, survives restarts, and its attempts
// are started from it, however much later they run.

const traceParentHeader = "traceparent"

// traceParent is the traceparent of ctx's span; "" when it has none, as
// when tracing is off.
func traceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c[traceParentHeader]
}

// traceContext is ctx with the accept span of traceparent tp as its
// remote parent, for an attempt's span; ctx itself when tp is "".
func traceContext(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{traceParentHeader: tp})
}
