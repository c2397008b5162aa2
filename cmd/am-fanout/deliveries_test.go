package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/outbox"
)

// TestDeliveryHistory: a delivery that failed once and then succeeded is
// listed by GET /api/v1/deliveries with both attempts, and `am-fanout
// deliveries` prints the same from the command line.
func TestDeliveryHistory(t *testing.T) {
	up, down := newSink(t, http.StatusOK), newSink(t, http.StatusBadRequest)
	f := newFixture(t, "targets:\n"+webhookTarget("up", up.srv.URL)+webhookTarget("refusing", down.srv.URL), nil)
	code, answer := f.post(t)
	require.Equal(t, http.StatusOK, code, answer)

	var got struct {
		Deliveries []outbox.History `json:"deliveries"`
	}
	require.NoError(t, json.Unmarshal([]byte(f.get(t, "/api/v1/deliveries?target=refusing")), &got))
	require.Len(t, got.Deliveries, 1, "the refused delivery")
	d := got.Deliveries[0]
	assert.Equal(t, outbox.HistoryDead, d.State)
	require.Len(t, d.Attempts, 1)
	assert.Equal(t, "permanent", d.Attempts[0].Outcome)
	assert.Equal(t, http.StatusBadRequest, d.Attempts[0].StatusCode)

	require.NoError(t, json.Unmarshal([]byte(f.get(t, "/api/v1/deliveries?state=delivered")), &got))
	require.Len(t, got.Deliveries, 1)
	assert.Equal(t, "up", got.Deliveries[0].Target)

	resp, err := f.http.Client().Get(f.http.URL + "/api/v1/deliveries?state=lost")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "an unknown state is a clear 400")

	var stdout, stderr bytes.Buffer
	rc := run([]string{"deliveries", "--url=" + f.http.URL, "--target=refusing"}, &stdout, &stderr)
	require.Equal(t, 0, rc, stderr.String())
	out := stdout.String()
	for _, want := range []string{"TARGET", "refusing", "dead", "permanent 400"} {
		assert.Contains(t, out, want, "am-fanout deliveries prints %q", want)
	}
	assert.False(t, strings.Contains(out, "\nup "), "only the selected target is printed:\n%s", out)
}
