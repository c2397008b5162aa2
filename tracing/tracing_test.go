package tracing

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// collector is a local OTLP receiver: what it got, by span name, and
// the headers of the last export.
type collector struct {
	mu      sync.Mutex
	spans   []string
	traceID []byte
	headers map[string]string
}

func (c *collector) got(req *coltracepb.ExportTraceServiceRequest, header func(string) string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.headers = map[string]string{"x-scope-orgid": header("x-scope-orgid"), "authorization": header("authorization")}
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.spans = append(c.spans, s.Name)
				c.traceID = s.TraceId
			}
		}
	}
}

func (c *collector) received() ([]string, map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.spans...), c.headers
}

// newHTTPCollector is an OTLP/HTTP receiver on loopback.
func newHTTPCollector(t *testing.T) (*collector, string) {
	c := &collector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" {
			t.Errorf("export to %s, want /v1/traces", r.URL.Path)
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("gzip body: %v", err)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			t.Errorf("export body: %v", err)
		}
		c.got(&req, r.Header.Get)
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return c, strings.TrimPrefix(srv.URL, "http://")
}

type grpcCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	c *collector
}

func (g *grpcCollector) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	g.c.got(req, func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	})
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// newGRPCCollector is an OTLP/gRPC receiver on loopback.
func newGRPCCollector(t *testing.T) (*collector, string) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, &grpcCollector{c: c})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return c, lis.Addr().String()
}

// TestExportSendsSpansWithHeaders: the exporter of each client type sends
// the spans to the configured endpoint with the configured headers.
func TestExportSendsSpansWithHeaders(t *testing.T) {
	for _, tc := range []struct {
		client, compression string
		collector           func(*testing.T) (*collector, string)
	}{
		{ClientHTTP, "", newHTTPCollector},
		{ClientHTTP, "gzip", newHTTPCollector},
		{ClientGRPC, "", newGRPCCollector},
		{ClientGRPC, "gzip", newGRPCCollector},
	} {
		t.Run(tc.client+" "+tc.compression, func(t *testing.T) {
			c, endpoint := tc.collector(t)
			p := NewProvider()
			err := p.Apply(Options{
				Endpoint: endpoint, ClientType: tc.client, Insecure: true, SamplingFraction: 1,
				Headers:     map[string]string{"X-Scope-OrgID": "ops", "Authorization": "Bearer k3y"},
				Compression: tc.compression, Timeout: 5 * time.Second,
			})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !p.Enabled() {
				t.Fatal("a provider with an endpoint is off")
			}
			_, span := p.Tracer("test").Start(context.Background(), "webhook.accept")
			span.End()
			if err := p.Shutdown(); err != nil {
				t.Fatalf("shutdown (which flushes): %v", err)
			}
			spans, headers := c.received()
			if len(spans) != 1 || spans[0] != "webhook.accept" {
				t.Errorf("collector got spans %v, want [webhook.accept]", spans)
			}
			if headers["x-scope-orgid"] != "ops" || headers["authorization"] != "Bearer k3y" {
				t.Errorf("collector got headers %v, want the configured ones", headers)
			}
		})
	}
}

// TestOffStartsNothing: off, spans record nothing and no goroutine runs.
func TestOffStartsNothing(t *testing.T) {
	p := NewProvider()
	if err := p.Apply(Options{}); err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer("test").Start(context.Background(), "webhook.accept")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("tracing off gives a recording span")
	}
	span.End()
	goleak.VerifyNone(t)
	if p.Enabled() {
		t.Error("a provider without an endpoint is on")
	}
}

// TestApplyFollowsReloads: a changed section replaces the exporter, held
// tracers follow, and turning tracing off stops the exporter's
// goroutines; an unchanged one keeps it.
func TestApplyFollowsReloads(t *testing.T) {
	first, a := newHTTPCollector(t)
	second, b := newHTTPCollector(t)
	p := NewProvider()
	tracer := p.Tracer("test")
	span := func(name string) {
		_, s := tracer.Start(context.Background(), name)
		s.End()
	}
	opts := Options{Endpoint: a, ClientType: ClientHTTP, Insecure: true, SamplingFraction: 1}
	if err := p.Apply(opts); err != nil {
		t.Fatal(err)
	}
	sdk := p.cur.Load().sdk
	if err := p.Apply(opts); err != nil || p.cur.Load().sdk != sdk {
		t.Errorf("an unchanged section replaced the exporter (err %v)", err)
	}
	span("one")
	opts.Endpoint = b
	if err := p.Apply(opts); err != nil {
		t.Fatal(err)
	}
	span("two")
	if err := p.Apply(Options{ClientType: "thrift", Endpoint: a}); err == nil {
		t.Error("an unknown client type was applied")
	}
	span("three")
	if err := p.Apply(Options{}); err != nil {
		t.Fatal(err)
	}
	span("off")
	goleak.VerifyNone(t, goleak.IgnoreCurrent())
	if got, _ := first.received(); strings.Join(got, ",") != "one" {
		t.Errorf("first collector got %v, want [one], flushed when the reload replaced it", got)
	}
	if got, _ := second.received(); strings.Join(got, ",") != "two,three" {
		t.Errorf("second collector got %v, want [two three]: a failed apply keeps the exporter in force", got)
	}
}

// TestParentBasedSampling: Alertmanager's sampled flag decides for a
// request that carries one, sampling_fraction for the others.
func TestParentBasedSampling(t *testing.T) {
	_, endpoint := newHTTPCollector(t)
	p := NewProvider()
	if err := p.Apply(Options{Endpoint: endpoint, ClientType: ClientHTTP, Insecure: true, SamplingFraction: 0}); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	_, root := p.Tracer("test").Start(context.Background(), "root")
	if root.SpanContext().IsSampled() {
		t.Error("sampling_fraction 0 sampled a root span")
	}
	root.End()
	ctx := sampledParent()
	_, child := p.Tracer("test").Start(ctx, "child")
	if !child.SpanContext().IsSampled() {
		t.Error("a span under a sampled traceparent was not sampled")
	}
	child.End()
}

func sampledParent() context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	return trace.ContextWithRemoteSpanContext(context.Background(), sc)
}
