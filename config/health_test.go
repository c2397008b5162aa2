package config

import (
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHealthSection(t *testing.T) {
	cfg, _, err := parseFixture(t, "")
	require.NoError(t, err)
	assert.Equal(t, DefaultHealth(), cfg.Health, "an omitted health section takes the defaults")

	cfg, _, err = parseFixture(t, "health:\n  window: 10m\n  unhealthy_after: 5\n  degraded_success_ratio: 0.8\n")
	require.NoError(t, err)
	want := DefaultHealth()
	want.Window, want.UnhealthyAfter, want.DegradedSuccessRatio = dur(10*time.Minute), 5, 0.8
	assert.Equal(t, want, cfg.Health, "keys set override their defaults, the others keep them")
}

func TestHealthAndProbeErrorsNameFileAndLine(t *testing.T) {
	const target = "targets:\n  - name: a\n    type: file\n    path: x.jsonl\n"
	tests := []struct {
		name    string
		content string
		line    int
		want    []string
	}{
		{"unknown health key", "health:\n  windw: 1m\n", 2, []string{`unknown field "windw"`}},
		{"zero window", "health:\n  window: 0s\n", 2, []string{"health.window", "must be positive"}},
		{"zero min_samples", "health:\n  min_samples: 0\n", 2, []string{"health.min_samples", "at least 1"}},
		{"unhealthy before degraded", "health:\n  degraded_after: 3\n  unhealthy_after: 2\n", 3,
			[]string{"health.unhealthy_after", "degraded_after (3)"}},
		{"ratio above 1", "health:\n  degraded_success_ratio: 1.5\n", 2, []string{"health.degraded_success_ratio", "at most 1"}},
		{"unhealthy ratio above degraded", "health:\n  unhealthy_success_ratio: 0.95\n", 2,
			[]string{"health.unhealthy_success_ratio", "degraded_success_ratio (0.9)"}},
		{"probe without a check", target + "    probe:\n      interval: 10s\n", 6, []string{`target "a"`, "exactly one of http_get or tcp"}},
		{"probe with both checks", target + "    probe:\n      tcp: a:1\n      http_get: http://a/\n", 6, []string{"exactly one"}},
		{"probe with unknown key", target + "    probe:\n      tcp: a:1\n      every: 1s\n", 7, []string{`unknown field "every"`}},
		{"probe tcp without port", target + "    probe:\n      tcp: ticketing\n", 6, []string{"probe.tcp", `"ticketing" must be host:port`}},
		{"probe URL not http", target + "    probe:\n      http_get: ftp://u:s3cr3t@host/\n", 6,
			[]string{"probe.http_get", "absolute http or https URL"}},
		{"probe timeout above interval", target + "    probe:\n      tcp: a:1\n      interval: 1s\n      timeout: 2s\n", 8,
			[]string{"probe.timeout", "at most the interval (1s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := requireRejectedAt(t, tt.content, tt.line, tt.want)
			assert.NotContains(t, err.Error(), "s3cr3t", "a probe URL must never show in an error")
		})
	}
}

func TestProbe(t *testing.T) {
	cfg, _, err := parseFixture(t, `targets:
  - name: plain
    type: file
    path: a.jsonl
  - name: by-http
    type: webhook
    url: http://ticketing/alerts
    probe:
      http_get: http://ticketing/healthz?token=s3cr3t
  - name: by-tcp
    type: webhook
    url: http://ticketing/alerts
    probe: {tcp: "ticketing:8080", interval: 2s}
`)
	require.NoError(t, err)
	require.Len(t, cfg.Targets, 3)
	assert.Nil(t, cfg.Targets[0].Probe, "a target without a probe block is never probed")
	assert.Equal(t, &core.Probe{
		HTTPGet: "http://ticketing/healthz?token=s3cr3t", Interval: DefaultProbeInterval, Timeout: DefaultProbeTimeout,
	}, cfg.Targets[1].Probe, "interval and timeout take their defaults")
	assert.Equal(t, &core.Probe{TCP: "ticketing:8080", Interval: 2 * time.Second, Timeout: 2 * time.Second},
		cfg.Targets[2].Probe, "the default timeout is capped at the interval")
	assert.NotContains(t, cfg.Targets[1].Key, "s3cr3t", "a target's key must not hold the probe URL")
}
