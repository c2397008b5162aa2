package receiver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/core"
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
				Name: "audit", Type: "file", Source: "am-fanout.yml:12", Match: []string{}, Timeout: "10s",
				Health:     core.TargetHealth{Status: core.HealthHealthy, Reason: "last delivery succeeded", LastSuccess: failAt},
				Breaker:    BreakerStatus{State: "closed"},
				Deliveries: Deliveries{Success: 7},
			},
			{
				Name: "ticketing", Type: "webhook", Source: "targets/ticketing.yml:2", Match: []string{`severity="critical"`}, Timeout: "5s",
				Health: core.TargetHealth{
					Status: core.HealthUnhealthy, Reason: "3 consecutive failures", ConsecutiveFailures: 3,
					LastFailure: failAt, LastError: `<script>alert("x")</script> HTTP 503`,
				},
				Breaker:    BreakerStatus{State: "open", ConsecutiveFailures: 5},
				Deliveries: Deliveries{Failure: 5},
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
	assert.Equal(t, failAt.Format(time.RFC3339), h["lastFailure"], "last failure time")
	assert.Contains(t, h["lastError"], "HTTP 503", "last error")
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
