package fanout

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/am-fanout/am-fanout/core"
)

// acceptContext is a context whose span is a sampled remote accept span,
// as the pipeline makes it from a delivery's traceparent.
func acceptContext() (context.Context, trace.SpanContext) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled, Remote: true,
	})
	return trace.ContextWithRemoteSpanContext(context.Background(), sc), sc
}

func tracedAttempter(logger *slog.Logger) (*Attempter, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	at := NewAttempter(nil, nil, NewMetrics(prometheus.NewRegistry()), logger)
	at.Tracer = tp.Tracer("test")
	return at, rec
}

// TestAttemptSpan: an attempt of a delivery that carries its accept
// span's context is a child span of it that says what became of the
// attempt.
func TestAttemptSpan(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		circuit core.CircuitBreaker
		want    map[attribute.Key]attribute.Value
		status  codes.Code
	}{
		{"delivered", nil, nil, map[attribute.Key]attribute.Value{
			AttrOutcome: attribute.StringValue("delivered"),
		}, codes.Unset},
		{"retried", core.Retryable(503, 0, errors.New("unavailable")), nil, map[attribute.Key]attribute.Value{
			AttrOutcome: attribute.StringValue("retry"), AttrStatusCode: attribute.IntValue(503),
			AttrErrorType: attribute.StringValue(core.ErrorType(core.Retryable(503, 0, errors.New("unavailable")))),
		}, codes.Error},
		{"skipped by the breaker", nil, rejectingBreaker{core.SkipCircuitOpen}, map[attribute.Key]attribute.Value{
			AttrOutcome: attribute.StringValue("skipped"), AttrSkipReason: attribute.StringValue(core.SkipCircuitOpen),
		}, codes.Unset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, rec := tracedAttempter(nil)
			tg := target("pd-prod", &fakePublisher{err: tt.err})
			tg.Type, tg.Circuit = "pagerduty", tt.circuit
			ctx, parent := acceptContext()
			at.Attempt(ctx, tg, testAlert(), nil)
			spans := rec.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans ended, want one for the attempt", len(spans))
			}
			s := spans[0]
			if s.Name() != AttemptSpan || s.Parent().SpanID() != parent.SpanID() || s.SpanContext().TraceID() != parent.TraceID() {
				t.Errorf("span %q with parent %s in trace %s, want %q, a child of the accept span %s in trace %s",
					s.Name(), s.Parent().SpanID(), s.SpanContext().TraceID(), AttemptSpan, parent.SpanID(), parent.TraceID())
			}
			got := map[attribute.Key]attribute.Value{}
			for _, kv := range s.Attributes() {
				got[kv.Key] = kv.Value
			}
			want := map[attribute.Key]attribute.Value{
				AttrTarget: attribute.StringValue("pd-prod"), AttrTargetType: attribute.StringValue("pagerduty"),
				AttrGroup: attribute.BoolValue(false), AttrFingerprint: attribute.StringValue("abc123"),
			}
			for k, v := range tt.want {
				want[k] = v
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("attribute %s = %v, want %v", k, got[k].String(), v.String())
				}
			}
			if len(got) != len(want) {
				t.Errorf("attributes %v, want exactly %v", got, want)
			}
			if s.Status().Code != tt.status {
				t.Errorf("span status %v, want %v", s.Status().Code, tt.status)
			}
		})
	}
}

func TestAttemptWithoutAcceptSpanHasNoSpan(t *testing.T) {
	at, rec := tracedAttempter(nil)
	at.Attempt(context.Background(), target("t1", &fakePublisher{}), testAlert(), nil)
	if n := len(rec.Started()); n != 0 {
		t.Errorf("%d spans started for a delivery accepted without tracing, want none", n)
	}
}

func TestFailedAttemptLogsTraceID(t *testing.T) {
	var buf bytes.Buffer
	at, _ := tracedAttempter(slog.New(slog.NewTextHandler(&buf, nil)))
	ctx, parent := acceptContext()
	at.Attempt(ctx, target("bad", &fakePublisher{err: core.Retryable(503, time.Second, errors.New("unavailable"))}), testAlert(), nil)
	if !strings.Contains(buf.String(), "trace_id="+parent.TraceID().String()) {
		t.Errorf("the failure's log line does not name the trace %s:\n%s", parent.TraceID(), buf.String())
	}
	buf.Reset()
	at.Attempt(context.Background(), target("bad2", &fakePublisher{err: core.Retryable(503, time.Second, errors.New("unavailable"))}), testAlert(), nil)
	if strings.Contains(buf.String(), "trace_id") {
		t.Errorf("a delivery without a trace logs a trace_id:\n%s", buf.String())
	}
}
