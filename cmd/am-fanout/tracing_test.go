package main

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpCollector is a loopback OTLP/HTTP receiver recording the spans it
// gets as "name trace-id" and the tenant header of the exports.
type otlpCollector struct {
	srv     *httptest.Server
	mu      sync.Mutex
	spans   []string
	tenants []string
}

func newOTLPCollector(t *testing.T) *otlpCollector {
	c := &otlpCollector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			t.Errorf("export body: %v", err)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.tenants = append(c.tenants, r.Header.Get("X-Scope-OrgID"))
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					c.spans = append(c.spans, s.Name+" "+hex.EncodeToString(s.TraceId))
				}
			}
		}
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *otlpCollector) received() ([]string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.spans...), append([]string(nil), c.tenants...)
}

// TestTracingFollowsReloads: with a tracing section the webhook's and the
// attempts' spans reach the collector in Alertmanager's trace, with the
// configured headers; a reload that removes the section flushes them and
// turns tracing off.
func TestTracingFollowsReloads(t *testing.T) {
	c := newOTLPCollector(t)
	target := newSink(t, 200)
	tracingOn := "tracing:\n  endpoint: " + strings.TrimPrefix(c.srv.URL, "http://") +
		"\n  client_type: http\n  insecure: true\n  headers: {X-Scope-OrgID: ops}\n"
	targets := "targets:\n" + webhookTarget("ticketing", target.srv.URL)
	f := newFixture(t, tracingOn+targets, nil)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	post := func() {
		body := `{"version":"4","status":"firing","receiver":"am-fanout","groupKey":"{}:{alertname=\"Traced\"}",
"alerts":[{"status":"firing","labels":{"alertname":"Traced"},"annotations":{},"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"00000000000000aa"}]}`
		req, err := http.NewRequest(http.MethodPost, f.http.URL+"/webhook?wait=true", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		resp, err := f.http.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	post()
	f.write(t, f.configFile, targets)
	require.NoError(t, f.s.reload(), "reload without the tracing section")
	spans, tenants := c.received()
	assert.ElementsMatch(t, []string{"webhook.accept " + traceID, "delivery.attempt " + traceID}, spans,
		"the replaced exporter flushed the notification's spans")
	assert.NotEmpty(t, tenants)
	for _, got := range tenants {
		assert.Equal(t, "ops", got, "every export carries the configured header")
	}
	assert.False(t, f.s.tracing.Enabled(), "tracing is off once the section is gone")
	post()
	again, _ := c.received()
	assert.Len(t, again, len(spans), "no span is exported with tracing off")
}
