package receiver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/fanout"
)

// fixedSource is a StatusSource built from literals.
type fixedSource struct {
	targets []TargetStatus
	status  Status
}

func (f fixedSource) TargetStatuses() []TargetStatus { return f.targets }
func (f fixedSource) Status() Status                 { return f.status }

var (
	started = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	failAt  = started.Add(time.Hour)
)

func sampleSource() fixedSource {
	return fixedSource{
		targets: []TargetStatus{
			{
				Name: "audit", Type: "file", Source: "am-fanout.yml:12", Match: []string{}, Timeout: "10s", State: TargetActive,
				Health:     core.TargetHealth{Status: core.HealthHealthy, Reason: "last delivery succeeded", LastSuccess: failAt},
				Breaker:    BreakerStatus{State: "closed"},
				Deliveries: fanout.Deliveries{Success: 7},
			},
			{
				Name: "ticketing", Type: "webhook", Source: "targets/ticketing.yml:2", Match: []string{`severity="critical"`}, Timeout: "5s", State: TargetActive,
				Health: core.TargetHealth{
					Status: core.HealthUnhealthy, Reason: "3 consecutive failures", ConsecutiveFailures: 3,
					LastFailure: failAt, LastError: `<script>alert("x")</script> HTTP 503`,
				},
				Breaker:    BreakerStatus{State: "open", ConsecutiveFailures: 5},
				Deliveries: fanout.Deliveries{Failure: 5},
				Probe:      &ProbeStatus{Kind: "http_get", Interval: "30s", LastAt: failAt, LastDuration: "2ms", LastError: "GET: HTTP 503"},
			},
		},
		status: Status{
			Version: "1.2.3", StartedAt: started, Uptime: "1h0m0s", ConfigFiles: []string{"am-fanout.yml", "targets/ticketing.yml"},
			LastReload: Reload{At: failAt, Success: false, Error: "targets/ticketing.yml:4: duplicate target name"},
		},
	}
}

func getJSON(t *testing.T, h http.Handler, into any) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.NoError(t, json.NewDecoder(resp.Body).Decode(into), "the answer must be JSON")
}

func TestTargetsAPIDescribesEveryTarget(t *testing.T) {
	var body struct {
		Targets []map[string]any `json:"targets"`
	}
	getJSON(t, TargetsHandler(sampleSource()), &body)
	require.Len(t, body.Targets, 2)
	got := body.Targets[1]
	for _, key := range []string{"name", "type", "source", "match", "health", "breaker", "deliveries", "probe"} {
		assert.Contains(t, got, key, "a target must tell its %s", key)
	}
	assert.Equal(t, "targets/ticketing.yml:2", got["source"], "where the target came from")
	h := got["health"].(map[string]any)
	assert.Equal(t, "unhealthy", h["status"])
	assert.Equal(t, "3 consecutive failures", h["reason"], "health must say why")
	assert.Equal(t, failAt.Format(time.RFC3339), h["last_failure"], "last failure time")
	assert.Contains(t, h["last_error"], "HTTP 503", "last error")
	assert.NotContains(t, body.Targets[0], "probe", "a target without a probe shows none")
	probe := got["probe"].(map[string]any)
	assert.Equal(t, "http_get", probe["kind"])
	assert.Equal(t, "GET: HTTP 503", probe["last_error"])
}

func TestStatusAPI(t *testing.T) {
	var body map[string]any
	getJSON(t, StatusHandler(sampleSource()), &body)
	assert.Equal(t, "1.2.3", body["version"])
	assert.Equal(t, "1h0m0s", body["uptime"])
	assert.Equal(t, []any{"am-fanout.yml", "targets/ticketing.yml"}, body["config_files"])
	reload := body["last_reload"].(map[string]any)
	assert.Equal(t, false, reload["success"], "last reload result")
	assert.Equal(t, failAt.Format(time.RFC3339), reload["at"], "last reload time")
	assert.Contains(t, reload["error"], "duplicate target name", "a failed reload must show its error")
}

// fullSource has one target with every field of the status API set.
func fullSource() fixedSource {
	src := sampleSource()
	tg := src.targets[1]
	tg.SendResolved = true
	tg.Health.LastSuccess, tg.Health.TrialDue = started, true
	tg.Breaker = BreakerStatus{State: "open", Requests: 9, ConsecutiveFailures: 5, TotalFailures: 5, TotalSuccesses: 4}
	tg.Deliveries = fanout.Deliveries{Success: 4, Failure: 5}
	tg.State, tg.Gone = TargetGone, &GoneStatus{Since: failAt, Error: "HTTP 404: target is gone: discord error 10015: Unknown Webhook"}
	src.targets = []TargetStatus{tg}
	return src
}

// keys lists the keys of v's JSON objects as dotted paths, sorted.
func keys(prefix string, v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			out = append(out, prefix+k)
			out = append(out, keys(prefix+k+".", sub)...)
		}
	case []any:
		for _, sub := range v {
			out = append(out, keys(prefix, sub)...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestAPIFieldNames pins the JSON field names of the status API: scripts
// and dashboards read them, so they change only on purpose. Like the
// Prometheus HTTP API, they are snake_case.
func TestAPIFieldNames(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.Handler
		want    []string
	}{
		{"/api/v1/targets", TargetsHandler(fullSource()), []string{
			"targets",
			"targets.breaker",
			"targets.breaker.consecutive_failures",
			"targets.breaker.requests",
			"targets.breaker.state",
			"targets.breaker.total_failures",
			"targets.breaker.total_successes",
			"targets.deliveries",
			"targets.deliveries.failure",
			"targets.deliveries.success",
			"targets.gone",
			"targets.gone.error",
			"targets.gone.since",
			"targets.health",
			"targets.health.consecutive_failures",
			"targets.health.last_error",
			"targets.health.last_failure",
			"targets.health.last_success",
			"targets.health.reason",
			"targets.health.status",
			"targets.health.trial_due",
			"targets.lane",
			"targets.lane.in_flight",
			"targets.lane.queued",
			"targets.lane.state",
			"targets.match",
			"targets.name",
			"targets.probe",
			"targets.probe.interval",
			"targets.probe.kind",
			"targets.probe.last_at",
			"targets.probe.last_duration",
			"targets.probe.last_error",
			"targets.send_resolved",
			"targets.source",
			"targets.state",
			"targets.timeout",
			"targets.type",
		}},
		{"/api/v1/status", StatusHandler(fullSource()), []string{
			"admin_api",
			"config_files",
			"last_reload",
			"last_reload.at",
			"last_reload.error",
			"last_reload.success",
			"started_at",
			"uptime",
			"version",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			getJSON(t, tc.handler, &body)
			assert.Equal(t, tc.want, keys("", body), "the field names of %s changed", tc.name)
		})
	}
}
