package config

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/tracing"
)

// Tracing configures the export of traces over OTLP, as Prometheus's and
// Alertmanager's tracing sections do. Without an endpoint tracing is off.
type Tracing struct {
	// Endpoint is the collector's host:port, without a scheme.
	Endpoint string `yaml:"endpoint"`
	// ClientType is grpc (the default) or http.
	ClientType string `yaml:"client_type"`
	// Insecure sends in plain text; TLSConfig is for TLS otherwise.
	Insecure  bool                 `yaml:"insecure"`
	TLSConfig *commoncfg.TLSConfig `yaml:"tls_config"`
	// Headers are sent with every export (an API key): secrets.
	Headers map[string]publish.Secret `yaml:"headers"`
	// SamplingFraction samples the traces that start here; a webhook
	// request with a traceparent follows Alertmanager's decision.
	SamplingFraction float64        `yaml:"sampling_fraction"`
	Timeout          model.Duration `yaml:"timeout"`
	// Compression is "" or gzip.
	Compression string `yaml:"compression"`
}

// DefaultTracing is the tracing section used for every key the file
// omits: off.
func DefaultTracing() Tracing {
	return Tracing{ClientType: tracing.ClientGRPC, Timeout: model.Duration(10 * time.Second)}
}

func (t *Tracing) validate(pos *position, dir string) error {
	if t.Endpoint == "" {
		if set := t.keysSet(); len(set) > 0 {
			return pos.errorf("tracing."+set[0], "is set but tracing.endpoint is not: set the endpoint, or remove the tracing section to turn tracing off")
		}
		return nil
	}
	if strings.Contains(t.Endpoint, "://") {
		return pos.errorf("tracing.endpoint", "%q must be host:port, without a scheme (set insecure: true for plain text)", t.Endpoint)
	}
	if _, _, err := net.SplitHostPort(t.Endpoint); err != nil {
		return pos.errorf("tracing.endpoint", "%q must be host:port: %v", t.Endpoint, err)
	}
	if t.ClientType != tracing.ClientGRPC && t.ClientType != tracing.ClientHTTP {
		return pos.errorf("tracing.client_type", "%q is not one of %s, %s", t.ClientType, tracing.ClientGRPC, tracing.ClientHTTP)
	}
	if t.SamplingFraction < 0 || t.SamplingFraction > 1 {
		return pos.errorf("tracing.sampling_fraction", "%v is not between 0 and 1", t.SamplingFraction)
	}
	if t.Compression != "" && t.Compression != "gzip" {
		return pos.errorf("tracing.compression", "%q is not gzip (or empty for none)", t.Compression)
	}
	for name := range t.Headers {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			return pos.errorf("tracing.headers", "%q is not a header name", name)
		}
	}
	if t.TLSConfig != nil {
		if t.Insecure {
			return pos.errorf("tracing.tls_config", "is set with insecure: true, which sends in plain text; set one of them")
		}
		t.TLSConfig.SetDirectory(dir)
		// Building it reads the files, so that a missing one is reported
		// now rather than at the first export.
		if _, err := commoncfg.NewTLSConfig(t.TLSConfig); err != nil {
			return pos.errorf("tracing.tls_config", "%v", err)
		}
	}
	return nil
}

// keysSet names the keys set besides the endpoint, sorted.
func (t *Tracing) keysSet() []string {
	d := DefaultTracing()
	var set []string
	for key, isSet := range map[string]bool{
		"client_type": t.ClientType != d.ClientType, "insecure": t.Insecure, "tls_config": t.TLSConfig != nil,
		"headers": len(t.Headers) > 0, "sampling_fraction": t.SamplingFraction != 0,
		"timeout": t.Timeout != d.Timeout, "compression": t.Compression != "",
	} {
		if isSet {
			set = append(set, key)
		}
	}
	sort.Strings(set)
	return set
}

// Options are the tracer provider's options; version is the
// service.version of the spans.
func (t Tracing) Options(version string) tracing.Options {
	if t.Endpoint == "" {
		return tracing.Options{}
	}
	var headers map[string]string
	if len(t.Headers) > 0 {
		headers = make(map[string]string, len(t.Headers))
		for k, v := range t.Headers {
			headers[k] = string(v)
		}
	}
	return tracing.Options{
		Endpoint: t.Endpoint, ClientType: t.ClientType, Insecure: t.Insecure, TLS: t.TLSConfig,
		Headers: headers, SamplingFraction: t.SamplingFraction, Timeout: time.Duration(t.Timeout),
		Compression: t.Compression, ServiceVersion: version,
	}
}

// String describes the section for logs, without its headers' values.
func (t Tracing) String() string {
	if t.Endpoint == "" {
		return "off"
	}
	return fmt.Sprintf("%s over %s, sampling %v", t.Endpoint, t.ClientType, t.SamplingFraction)
}
