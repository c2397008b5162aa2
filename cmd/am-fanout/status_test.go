package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/fanout"
)

// TestStatusCountsAreTheMetrics: the delivery counts of /api/v1/targets
// are those of the target metrics, and restart from zero for a target
// removed and added again.
func TestStatusCountsAreTheMetrics(t *testing.T) {
	up, down := newSink(t, http.StatusOK), newSink(t, http.StatusBadRequest)
	both := "targets:\n" + webhookTarget("up", up.srv.URL) + webhookTarget("down", down.srv.URL)
	f := newFixture(t, both, nil)
	counts := func() map[string]fanout.Deliveries {
		out := map[string]fanout.Deliveries{}
		for _, ts := range f.s.TargetStatuses() {
			out[ts.Name] = ts.Deliveries
		}
		return out
	}
	for range 2 {
		code, answer := f.post(t)
		require.Equal(t, http.StatusOK, code, "a permanent failure is not retried: %s", answer)
	}
	assert.Equal(t, map[string]fanout.Deliveries{"up": {Success: 2}, "down": {Failure: 2}}, counts())
	assert.Equal(t, int64(2), down.got.Load(), "deliveries the failing target saw")
	assert.NoError(t, testutil.GatherAndCompare(f.s.reg, strings.NewReader(`
# HELP am_fanout_target_success_total Alerts delivered to a target.
# TYPE am_fanout_target_success_total counter
am_fanout_target_success_total{target="down",type="webhook"} 0
am_fanout_target_success_total{target="up",type="webhook"} 2
`), "am_fanout_target_success_total"), "the metrics must hold the counts the status API shows")

	f.write(t, f.configFile, "targets:\n"+webhookTarget("up", up.srv.URL))
	require.NoError(t, f.s.reload())
	f.write(t, f.configFile, both)
	require.NoError(t, f.s.reload())
	assert.Equal(t, map[string]fanout.Deliveries{"up": {Success: 2}, "down": {}}, counts(),
		"a target added again counts from zero")
}
