package receiver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/am-fanout/am-fanout/enrich"
	"github.com/am-fanout/am-fanout/fanout"
	"github.com/am-fanout/am-fanout/outbox"
)

// AcceptSpan is the name of the span of one webhook request.
const AcceptSpan = "webhook.accept"

// The attributes of accept spans. The group key is hashed: it holds the
// label values Alertmanager grouped by. Nothing of the request's
// credentials is recorded.
const (
	AttrReceiver     = attribute.Key("am_fanout.receiver")
	AttrAlerts       = attribute.Key("am_fanout.alerts")
	AttrStatus       = attribute.Key("am_fanout.status")
	AttrGroupKeyHash = attribute.Key("am_fanout.group_key_hash")
	AttrDeliveries   = attribute.Key("am_fanout.deliveries.accepted")
	AttrStatusCode   = attribute.Key("http.response.status_code")
)

// startAccept continues the W3C trace context of the request (Alertmanager
// v0.30+ sends it) with the accept span, which the outbox hands on to
// every delivery. With tracing off it leaves the request as it is, so
// that no trace context reaches the deliveries.
func startAccept(r *http.Request, tracer trace.Tracer) (*http.Request, trace.Span) {
	if tracer == nil {
		return r, nil
	}
	ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := tracer.Start(ctx, AcceptSpan, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
	return r.WithContext(ctx), span
}

// endAccept records the answer's status code and ends the span; a 5xx,
// which makes Alertmanager resend, is an error.
func endAccept(span trace.Span, code int) {
	if span == nil {
		return
	}
	span.SetAttributes(AttrStatusCode.Int(code))
	if code >= http.StatusInternalServerError {
		span.SetStatus(codes.Error, http.StatusText(code))
	}
	span.End()
}

// describeAccept records what the notification holds on the accept span.
func describeAccept(ctx context.Context, msg *enrich.Message) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	sum := sha256.Sum256([]byte(msg.GroupKey))
	span.SetAttributes(AttrReceiver.String(msg.Receiver), AttrAlerts.Int(len(msg.Alerts)),
		AttrStatus.String(msg.Status), AttrGroupKeyHash.String(hex.EncodeToString(sum[:8])))
}

// countAccepted records on the accept span how many deliveries were
// persisted.
func countAccepted(ctx context.Context, got []fanout.AlertOutcome) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	// A group delivery is listed under each of its alerts: count it once.
	seen := map[uint64]bool{}
	for _, o := range got {
		for _, d := range o.Deliveries {
			if d.State == outbox.StateAccepted {
				seen[d.ID] = true
			}
		}
	}
	span.SetAttributes(AttrDeliveries.Int(len(seen)))
}
