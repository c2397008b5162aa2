package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/tracing"
)

func TestTracingSection(t *testing.T) {
	cfg, _, err := parseFixture(t, "")
	require.NoError(t, err)
	assert.Equal(t, DefaultTracing(), cfg.Tracing, "an omitted tracing section takes the defaults")
	assert.False(t, opts(cfg).Enabled(), "tracing is off by default")

	for name, content := range map[string]string{"empty section": "tracing:\n", "empty mapping": "tracing: {}\n"} {
		cfg, _, err := parseFixture(t, content)
		require.NoError(t, err, name)
		assert.False(t, opts(cfg).Enabled(), "%s: tracing is off without an endpoint", name)
	}

	cfg, _, err = parseFixture(t, `tracing:
  endpoint: tempo:4318
  client_type: http
  insecure: true
  headers: {X-Scope-OrgID: ops, Authorization: "Bearer s3cret-key"}
  sampling_fraction: 0.25
  timeout: 3s
  compression: gzip
`)
	require.NoError(t, err)
	got := opts(cfg)
	assert.Equal(t, tracing.Options{
		Endpoint: "tempo:4318", ClientType: tracing.ClientHTTP, Insecure: true,
		Headers:          map[string]string{"X-Scope-OrgID": "ops", "Authorization": "Bearer s3cret-key"},
		SamplingFraction: 0.25, Timeout: 3 * time.Second, Compression: "gzip", ServiceVersion: "v1",
	}, got, "every key reaches the provider's options")
	assert.NotContains(t, cfg.Tracing.String(), "s3cret", "the section's description holds no header value")

	cfg, _, err = parseFixture(t, "tracing:\n  endpoint: otel:4317\n")
	require.NoError(t, err)
	assert.Equal(t, tracing.ClientGRPC, opts(cfg).ClientType, "the client type defaults to grpc")
}

func opts(cfg *Config) tracing.Options { return cfg.Tracing.Options("v1") }

func TestTracingTLSFilesResolveAgainstTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	writeFileForTest(t, dir, "ca.pem", testCA)
	cfg, err := Parse([]byte("tracing:\n  endpoint: otel:4317\n  tls_config:\n    ca_file: ca.pem\n"), filepath.Join(dir, "am-fanout.yml"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "ca.pem"), cfg.Tracing.TLSConfig.CAFile)
}

func TestTracingErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name    string
		content string
		line    int
		want    []string
	}{
		{"unknown key", "tracing:\n  endpoint: otel:4317\n  sampling: 1\n", 3, []string{`unknown field "sampling"`}},
		{"unknown tls key", "tracing:\n  endpoint: otel:4317\n  tls_config:\n    ca_fil: x\n", 4, []string{`unknown field "ca_fil"`}},
		{"a scheme in the endpoint", "tracing:\n  endpoint: http://otel:4318\n", 2, []string{"tracing.endpoint", "without a scheme"}},
		{"no port", "tracing:\n  endpoint: otel\n", 2, []string{"tracing.endpoint", "host:port"}},
		{"client type", "tracing:\n  endpoint: otel:4317\n  client_type: thrift\n", 3, []string{"tracing.client_type", `"thrift" is not one of grpc, http`}},
		{"fraction above 1", "tracing:\n  endpoint: otel:4317\n  sampling_fraction: 1.5\n", 3, []string{"tracing.sampling_fraction", "between 0 and 1"}},
		{"negative fraction", "tracing:\n  endpoint: otel:4317\n  sampling_fraction: -0.1\n", 3, []string{"tracing.sampling_fraction"}},
		{"compression", "tracing:\n  endpoint: otel:4317\n  compression: zstd\n", 3, []string{"tracing.compression", `"zstd" is not gzip`}},
		{"keys without endpoint", "tracing:\n  insecure: true\n  headers: {X-Key: abc}\n", 3, []string{"tracing.headers", "tracing.endpoint is not"}},
		{"tls with insecure", "tracing:\n  endpoint: otel:4317\n  insecure: true\n  tls_config:\n    insecure_skip_verify: true\n", 5, []string{"tracing.tls_config", "insecure"}},
		{"missing ca file", "tracing:\n  endpoint: otel:4317\n  tls_config:\n    ca_file: missing.pem\n", 4, []string{"tracing.tls_config", "missing.pem"}},
		{"bad header name", "tracing:\n  endpoint: otel:4317\n  headers: {'X Key': abc}\n", 3, []string{"tracing.headers", "not a header name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := requireRejectedAt(t, tt.content, tt.line, tt.want)
			assert.False(t, strings.Contains(err.Error(), "abc"), "the error repeats a header value: %v", err)
		})
	}
}

// testCA is a self-signed certificate, only parsed.
const testCA = `-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIQIRi6zePL6mKjOipn+dNuaTAKBggqhkjOPQQDAjASMRAw
DgYDVQQKEwdBY21lIENvMB4XDTE3MTAyMDE5NDMwNloXDTE4MTAyMDE5NDMwNlow
EjEQMA4GA1UEChMHQWNtZSBDbzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABD0d
7VNhbWvZLWPuj/RtHFjvtJBEwOkhbN/BnnE8rnZR8+sbwnc/KhCk3FhnpHZnQz7B
5aETbbIgmuvewdjvSBSjYzBhMA4GA1UdDwEB/wQEAwICpDATBgNVHSUEDDAKBggr
BgEFBQcDATAPBgNVHRMBAf8EBTADAQH/MCkGA1UdEQQiMCCCDmxvY2FsaG9zdDo1
NDUzgg4xMjcuMC4wLjE6NTQ1MzAKBggqhkjOPQQDAgNIADBFAiEA2zpJEPQyz6/l
Wf86aX6PepsntZv2GYlA5UpabfT2EZICICpJ5h/iI+i341gBmLiAFQOyTDT+/wQc
6MF9+Yw1Yy0t
-----END CERTIFICATE-----
`
