package receiver

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/enrich"
	"github.com/am-fanout/am-fanout/fanout"
	"github.com/am-fanout/am-fanout/outbox"
)

// A traceparent as Alertmanager sends it with a notification.
const (
	amTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	amSpanID      = "00f067aa0ba902b7"
	amTraceParent = "00-" + amTraceID + "-" + amSpanID + "-01"
)

type okPublisher struct{}

func (okPublisher) Publish(context.Context, *core.EnrichedAlert) error { return nil }

// tracedPipeline is the webhook on a real outbox and attempter, with
// spans recorded; tracing off, the webhook has no tracer.
func tracedPipeline(t *testing.T, on bool) (*Webhook, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	store, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.StoreOptions{})
	require.NoError(t, err)
	targets := fanout.NewTargetSet([]*core.Target{
		{Name: "pd-prod", Type: "pagerduty", SendResolved: true, Timeout: 5 * time.Second, Publisher: okPublisher{}},
		{Name: "audit", Type: "file", SendResolved: true, Timeout: 5 * time.Second, Publisher: okPublisher{}},
	})
	at := fanout.NewAttempter(nil, nil, fanout.NewMetrics(prometheus.NewRegistry()), nil)
	at.Tracer = tp.Tracer("test")
	box, err := fanout.New(store, targets, at, fanout.Options{})
	require.NoError(t, err)
	box.Start()
	t.Cleanup(func() {
		box.Close(context.Background())
		_ = store.Close()
	})
	s := Settings{Enricher: enrich.New(nil, nil), Outbox: box}
	if on {
		s.Tracer = tp.Tracer("test")
	}
	return NewWebhook(s, Limits{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry()), rec
}

func postTraced(t *testing.T, w *Webhook) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhook?wait=true", bytes.NewReader(payload(t)))
	req.Header.Set("traceparent", amTraceParent)
	rw := httptest.NewRecorder()
	w.ServeHTTP(rw, req)
	require.Equal(t, http.StatusOK, rw.Code, "answer: %s", rw.Body)
	msg, err := enrich.Decode(bytes.NewReader(payload(t)))
	require.NoError(t, err)
	return len(msg.Alerts)
}

// TestWebhookContinuesAlertmanagersTrace: the accept span is a child of
// the traceparent Alertmanager sent, and every delivery attempt a child
// of the accept span, in the same trace.
func TestWebhookContinuesAlertmanagersTrace(t *testing.T) {
	w, rec := tracedPipeline(t, true)
	alerts := postTraced(t, w)

	var accept sdktrace.ReadOnlySpan
	var attempts []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.Name() {
		case AcceptSpan:
			accept = s
		case fanout.AttemptSpan:
			attempts = append(attempts, s)
		}
	}
	require.NotNil(t, accept, "no accept span ended")
	assert.Equal(t, amTraceID, accept.SpanContext().TraceID().String(), "the accept span continues Alertmanager's trace")
	assert.Equal(t, amSpanID, accept.Parent().SpanID().String(), "the accept span's parent is Alertmanager's span")
	assert.True(t, accept.Parent().IsRemote(), "the parent came with the request")
	attrs := attributes(accept)
	assert.Equal(t, int64(alerts), attrs[AttrAlerts].AsInt64(), "alerts")
	assert.Equal(t, "am-fanout", attrs[AttrReceiver].AsString(), "receiver")
	assert.Len(t, attrs[AttrGroupKeyHash].AsString(), 16, "group key hash")
	assert.Equal(t, int64(2*alerts), attrs[AttrDeliveries].AsInt64(), "deliveries accepted")
	assert.Equal(t, int64(200), attrs[AttrStatusCode].AsInt64(), "status code")

	require.Len(t, attempts, 2*alerts, "one attempt span per delivery")
	perTarget := map[string]int{}
	for _, s := range attempts {
		assert.Equal(t, amTraceID, s.SpanContext().TraceID().String(), "attempt in the notification's trace")
		assert.Equal(t, accept.SpanContext().SpanID(), s.Parent().SpanID(), "attempt is a child of the accept span")
		a := attributes(s)
		perTarget[a[fanout.AttrTarget].AsString()+"/"+a[fanout.AttrTargetType].AsString()]++
		assert.Equal(t, "delivered", a[fanout.AttrOutcome].AsString(), "outcome")
	}
	assert.Equal(t, map[string]int{"pd-prod/pagerduty": alerts, "audit/file": alerts}, perTarget, "attempts per target")
}

// TestWebhookWithTracingOffRecordsNothing: off, not even the traceparent
// Alertmanager sends reaches the deliveries, so attempts start no span.
func TestWebhookWithTracingOffRecordsNothing(t *testing.T) {
	w, rec := tracedPipeline(t, false)
	postTraced(t, w)
	assert.Empty(t, rec.Started(), "spans started with tracing off")
}

func attributes(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}
