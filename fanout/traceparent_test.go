package fanout

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// TestAttemptsAfterARestartStayInTheAcceptTrace: a delivery keeps the
// traceparent of the request that accepted it, so that its retries, after
// a restart too, are children of that request's span.
func TestAttemptsAfterARestartStayInTheAcceptTrace(t *testing.T) {
	tg := newServer(t, 503)
	h := newHarness(t, map[string]*server{"t1": tg}, fastRetries(), 100)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	h.pub.Tracer = tp.Tracer("test")

	ctx, accept := tp.Tracer("test").Start(context.Background(), "webhook.accept")
	if _, err := h.box.Accept(ctx, []*core.EnrichedAlert{alert("a", core.StatusFiring, 0)}, false); err != nil {
		t.Fatalf("accept: %v", err)
	}
	accept.End()
	tg.waitArrivals(2)
	h.close()
	tg.answer(200)
	h.open()
	waitUntil(t, "the delivery to be done after the restart", func() bool { return h.box.Pending() == 0 })

	var attempts, delivered int
	for _, s := range rec.Ended() {
		if s.Name() != "delivery.attempt" {
			continue
		}
		attempts++
		if s.Parent().SpanID() != accept.SpanContext().SpanID() || s.SpanContext().TraceID() != accept.SpanContext().TraceID() {
			t.Errorf("attempt span in trace %s with parent %s, want a child of the accept span %s in trace %s",
				s.SpanContext().TraceID(), s.Parent().SpanID(), accept.SpanContext().SpanID(), accept.SpanContext().TraceID())
		}
		for _, kv := range s.Attributes() {
			if kv.Key == "am_fanout.outcome" && kv.Value.AsString() == "delivered" {
				delivered++
			}
		}
	}
	if attempts < 3 || delivered != 1 {
		t.Errorf("%d attempt spans, %d delivered; want the failed attempts and the one after the restart", attempts, delivered)
	}
}

func TestTraceParentRoundTrip(t *testing.T) {
	if tp := traceParent(context.Background()); tp != "" {
		t.Errorf("a request without a span stores traceparent %q, want none", tp)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
	})
	d := &outbox.Delivery{TraceParent: traceParent(trace.ContextWithSpanContext(context.Background(), sc))}
	if want := "00-01020300000000000000000000000000-0405060000000000-01"; d.TraceParent != want {
		t.Errorf("traceparent %q, want %q", d.TraceParent, want)
	}
	got := trace.SpanContextFromContext(traceContext(context.Background(), d.TraceParent))
	if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsSampled() || !got.IsRemote() {
		t.Errorf("the attempt's parent is %+v, want the accept span %+v as a remote parent", got, sc)
	}
}
