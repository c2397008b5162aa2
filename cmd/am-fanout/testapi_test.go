package main

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/receiver"
)

// TestTestSendEndpoint: POST /api/v1/targets/{name}/test sends through the
// running target's publisher and answers the outcomes; the target's
// breaker and health never see it.
func TestTestSendEndpoint(t *testing.T) {
	up, down := newHook(t, http.StatusOK, nil, nil), newHook(t, http.StatusServiceUnavailable, nil, func(*http.Request) string { return "busy" })
	f := newFixture(t, "targets:\n"+webhookTarget("up", up.srv.URL)+webhookTarget("down", down.srv.URL), nil)
	post := func(name string) (int, receiver.TestReport, string) {
		resp, err := f.http.Client().Post(f.http.URL+"/api/v1/targets/"+name+"/test", "", nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var rep receiver.TestReport
		_ = json.Unmarshal(body, &rep)
		return resp.StatusCode, rep, string(body)
	}

	code, rep, body := post("up")
	require.Equal(t, http.StatusOK, code, body)
	assert.True(t, rep.Delivered)
	require.Len(t, rep.Steps, 2, body)
	assert.Equal(t, []core.AlertStatus{core.StatusFiring, core.StatusResolved}, []core.AlertStatus{rep.Steps[0].Status, rep.Steps[1].Status})
	assert.Equal(t, receiver.TestDelivered, rep.Steps[1].Outcome)
	require.Len(t, up.payloads(), 2)
	assert.Equal(t, "true", up.payloads()[0].Alerts[0].Labels["test"])

	code, rep, body = post("down")
	assert.Equal(t, http.StatusBadGateway, code, body)
	assert.False(t, rep.Delivered)
	require.NotEmpty(t, rep.Steps)
	assert.Equal(t, receiver.TestRetryable, rep.Steps[0].Outcome)
	assert.Equal(t, http.StatusServiceUnavailable, rep.Steps[0].StatusCode)
	assert.Contains(t, rep.Steps[0].Error, "busy")

	code, _, body = post("nope")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, "the targets are: up, down")

	for _, st := range f.s.TargetStatuses() {
		assert.Zero(t, st.Breaker.TotalFailures+st.Breaker.TotalSuccesses, "target %s: a test send counted in its breaker", st.Name)
		assert.Equal(t, core.HealthUnknown, st.Health.Status, "target %s: a test send changed its health", st.Name)
	}
}
