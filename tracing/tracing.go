// Package tracing builds the OpenTelemetry tracer provider of the tracing
// section: OTLP over gRPC or HTTP, parent-based sampling, and reloads that
// replace the exporter without the holders of the provider noticing.
package tracing

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/credentials"
)

// The OTLP client types.
const (
	ClientGRPC = "grpc"
	ClientHTTP = "http"
)

// shutdownWait bounds how long replacing or closing a provider waits for
// its last spans to be exported.
const shutdownWait = 5 * time.Second

// Options configure the exporter; an empty Endpoint turns tracing off.
type Options struct {
	// Endpoint is the collector's host:port.
	Endpoint   string
	ClientType string
	Insecure   bool
	// TLS, when not nil and not Insecure, configures the connection; it
	// is plain data, so that a reload can tell whether it changed.
	TLS *commoncfg.TLSConfig
	// Headers are sent with every export; their values are secrets.
	Headers map[string]string
	// SamplingFraction samples the traces that start here; a request
	// that carries a traceparent follows its sampled flag.
	SamplingFraction float64
	// Timeout bounds one export; 0 takes the exporter's default.
	Timeout time.Duration
	// Compression is "" or "gzip".
	Compression string
	// ServiceVersion is the service.version resource attribute.
	ServiceVersion string
}

// Enabled reports whether these options export traces.
func (o Options) Enabled() bool { return o.Endpoint != "" }

// Provider is the tracer provider in force. Holders take it once, as a
// trace.TracerProvider; Apply replaces the exporter behind it on reloads
// and shuts the previous one down. Off, it hands out no-op spans and runs
// no goroutine.
type Provider struct {
	embedded.TracerProvider

	mu  sync.Mutex // serialises Apply and Shutdown
	cur atomic.Pointer[installed]
}

// installed is one configuration's provider; sdk is nil when off.
type installed struct {
	opts Options
	sdk  *sdktrace.TracerProvider
}

// NewProvider returns a provider that is off until Apply turns it on.
func NewProvider() *Provider {
	p := &Provider{}
	p.cur.Store(&installed{})
	return p
}

// Enabled reports whether spans are exported.
func (p *Provider) Enabled() bool { return p.cur.Load().sdk != nil }

// Apply makes opts the configuration in force. Unchanged options keep the
// running exporter; changed ones build a new one first, so that an error
// leaves the previous one running.
func (p *Provider) Apply(opts Options) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.cur.Load()
	if reflect.DeepEqual(old.opts, opts) {
		return nil
	}
	next := &installed{opts: opts}
	if opts.Enabled() {
		exp, err := newExporter(opts)
		if err != nil {
			return err
		}
		next.sdk = newSDK(exp, opts)
	}
	p.cur.Store(next)
	return shutdown(old)
}

// Shutdown exports what is buffered and stops the exporter; the provider
// is off afterwards.
func (p *Provider) Shutdown() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return shutdown(p.cur.Swap(&installed{}))
}

func shutdown(in *installed) error {
	if in.sdk == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if err := in.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutting down the trace exporter: %w", err)
	}
	return nil
}

// Tracer returns a tracer that starts its spans with the provider in
// force at each start.
func (p *Provider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return &tracer{p: p, name: name, opts: opts}
}

type tracer struct {
	embedded.Tracer

	p    *Provider
	name string
	opts []trace.TracerOption
}

var off = noop.NewTracerProvider().Tracer("")

func (t *tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	sdk := t.p.cur.Load().sdk
	if sdk == nil {
		return off.Start(ctx, name, opts...)
	}
	return sdk.Tracer(t.name, t.opts...).Start(ctx, name, opts...)
}

// newSDK is the SDK provider exporting in batches to exp.
func newSDK(exp sdktrace.SpanExporter, opts Options) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SamplingFraction))),
		sdktrace.WithResource(newResource(opts.ServiceVersion)),
	)
}

func newResource(version string) *resource.Resource {
	own := resource.NewSchemaless(attribute.String("service.name", "am-fanout"), attribute.String("service.version", version))
	r, err := resource.Merge(resource.Default(), own)
	if err != nil {
		// Only schema URLs conflict, and ours has none.
		return own
	}
	return r
}

// newExporter builds the OTLP exporter; it connects lazily, on the first
// export.
func newExporter(opts Options) (*otlptrace.Exporter, error) {
	var tlsConf *tls.Config
	if opts.TLS != nil && !opts.Insecure {
		var err error
		if tlsConf, err = commoncfg.NewTLSConfig(opts.TLS); err != nil {
			return nil, fmt.Errorf("tracing tls_config: %w", err)
		}
	}
	var client otlptrace.Client
	switch opts.ClientType {
	case ClientGRPC, "":
		client = otlptracegrpc.NewClient(grpcOptions(opts, tlsConf)...)
	case ClientHTTP:
		client = otlptracehttp.NewClient(httpOptions(opts, tlsConf)...)
	default:
		return nil, fmt.Errorf("tracing client type %q is not one of %s, %s", opts.ClientType, ClientGRPC, ClientHTTP)
	}
	exp, err := otlptrace.New(context.Background(), client)
	if err != nil {
		return nil, errors.Join(errors.New("starting the trace exporter"), err)
	}
	return exp, nil
}

func grpcOptions(o Options, tlsConf *tls.Config) []otlptracegrpc.Option {
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(o.Endpoint)}
	switch {
	case o.Insecure:
		opts = append(opts, otlptracegrpc.WithInsecure())
	case tlsConf != nil:
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsConf)))
	}
	if o.Compression != "" {
		opts = append(opts, otlptracegrpc.WithCompressor(o.Compression))
	}
	if len(o.Headers) > 0 {
		opts = append(opts, otlptracegrpc.WithHeaders(o.Headers))
	}
	if o.Timeout > 0 {
		opts = append(opts, otlptracegrpc.WithTimeout(o.Timeout))
	}
	return opts
}

func httpOptions(o Options, tlsConf *tls.Config) []otlptracehttp.Option {
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(o.Endpoint)}
	switch {
	case o.Insecure:
		opts = append(opts, otlptracehttp.WithInsecure())
	case tlsConf != nil:
		opts = append(opts, otlptracehttp.WithTLSClientConfig(tlsConf))
	}
	if o.Compression == "gzip" {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	}
	if len(o.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(o.Headers))
	}
	if o.Timeout > 0 {
		opts = append(opts, otlptracehttp.WithTimeout(o.Timeout))
	}
	return opts
}
