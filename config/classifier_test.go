package config

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestClassifierDefaults(t *testing.T) {
	cfg, _, err := parseFixture(t, "enrich:\n  classifier:\n    url: http://classifier:8080/classify\n")
	require.NoError(t, err)
	c := cfg.Enrich.Classifier
	require.NotNil(t, c)
	assert.Equal(t, "http://classifier:8080/classify", string(c.URL))
	assert.Equal(t, dur(2*time.Second), c.Timeout, "timeout")
	assert.Equal(t, dur(10*time.Minute), c.CacheTTL, "cache_ttl")
	assert.Equal(t, 10000, c.CacheSize, "cache_size")
	assert.Equal(t, 8, c.MaxConcurrent, "max_concurrent")
	assert.True(t, c.HTTPConfig.FollowRedirects, "http_config takes prometheus/common's defaults")

	none, _, err := parseFixture(t, "enrich:\n  rules: []\n")
	require.NoError(t, err)
	assert.Nil(t, none.Enrich.Classifier, "no block, no classifier")
}

func TestClassifierSettingsAndSecrets(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, "secrets/classifier-url", "https://classifier.example.com/v1?token=tok3n\n")
	path := writeFixture(t, dir, "conf.yml", `enrich:
  classifier:
    url_file: secrets/classifier-url
    timeout: 500ms
    cache_ttl: 1h
    cache_size: 50
    max_concurrent: 2
    headers:
      X-Api-Key: s3cret
    http_config:
      tls_config:
        insecure_skip_verify: true
`)
	cfg, err := LoadFile(path, "")
	require.NoError(t, err)
	c := cfg.Enrich.Classifier
	assert.Equal(t, "https://classifier.example.com/v1?token=tok3n", string(c.URL), "url_file is read relative to the config file")
	assert.Empty(t, c.URLFile)
	assert.Equal(t, dur(500*time.Millisecond), c.Timeout)
	assert.Equal(t, dur(time.Hour), c.CacheTTL)
	assert.Equal(t, 50, c.CacheSize)
	assert.Equal(t, 2, c.MaxConcurrent)
	assert.True(t, c.HTTPConfig.TLSConfig.InsecureSkipVerify)
	assert.Equal(t, "s3cret", string(c.Headers["X-Api-Key"]))

	for _, enc := range []func(any) ([]byte, error){yaml.Marshal, json.Marshal} {
		out, err := enc(c)
		require.NoError(t, err)
		assert.NotContains(t, string(out), "s3cret", "a header value printed")
		assert.NotContains(t, string(out), "tok3n", "the URL printed")
	}
}

func TestClassifierErrors(t *testing.T) {
	tests := []struct {
		name, block, want string
	}{
		{"no url", "    timeout: 1s\n", ":3: enrich.classifier.url: one of url or url_file is required"},
		{"url and url_file", "    url: http://c/\n    url_file: x\n", "enrich.classifier.url: url, url_file: the value and its _file are mutually exclusive"},
		{"relative url", "    url: /classify\n", ":3: enrich.classifier.url: scheme must be http or https"},
		{"zero timeout", "    url: http://c/\n    timeout: 0s\n", ":4: enrich.classifier.timeout: must be positive"},
		{"cache_size 0", "    url: http://c/\n    cache_size: 0\n", ":4: enrich.classifier.cache_size: must be at least 1, got 0"},
		{"max_concurrent 0", "    url: http://c/\n    max_concurrent: 0\n", ":4: enrich.classifier.max_concurrent: must be at least 1, got 0"},
		{"bad header name", "    url: http://c/\n    headers: {\"X Key\": v}\n", `:4: enrich.classifier.headers: "X Key" is not a valid header name`},
		{"unknown key", "    url: http://c/\n    tls_confg: {}\n", `:4: unknown field "tls_confg" (known fields: cache_size`},
		{"bad http_config", "    url: http://c/\n    http_config:\n      bearer_token: a\n      bearer_token_file: b\n", "at most one of bearer_token & bearer_token_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := parseFixture(t, "enrich:\n  classifier:\n"+tt.block)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), filepath.Base(path), "the error names the file")
			assert.NotContains(t, err.Error(), "http://c/", "the error repeats the URL")
		})
	}
}
