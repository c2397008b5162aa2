package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/core"
)

// probeServer answers GET with status and reports every request on hits.
func probeServer(t *testing.T, status int) (*httptest.Server, chan struct{}) {
	t.Helper()
	hits := make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		select {
		case hits <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestProbeOutcomes(t *testing.T) {
	up, _ := probeServer(t, http.StatusNoContent)
	down, _ := probeServer(t, http.StatusServiceUnavailable)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = listener.Close() })
	refused := closedAddr(t)
	tests := []struct {
		name    string
		probe   core.Probe
		wantErr string // "" for success
	}{
		{"GET answering 2xx is up", core.Probe{HTTPGet: up.URL + "/health"}, ""},
		{"GET answering 503 is down", core.Probe{HTTPGet: down.URL + "/health"}, "GET: HTTP 503"},
		{"GET to a closed port is down", core.Probe{HTTPGet: "http://" + refused + "/health?token=s3cr3t"}, "connection refused"},
		{"TCP to a listening port is up", core.Probe{TCP: listener.Addr().String()}, ""},
		{"TCP to a closed port is down", core.Probe{TCP: refused}, "tcp: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Options{})
			p := NewProber(m)
			tt.probe.Timeout = 5 * time.Second
			p.once(context.Background(), "t1", tt.probe)
			ps, ok := m.LastProbe("t1")
			require.True(t, ok, "a probe must be recorded")
			if tt.wantErr == "" {
				assert.Empty(t, ps.Error, "probe should succeed")
				assert.Equal(t, core.HealthHealthy, healthOf(t, m, "t1").Status)
				return
			}
			assert.Contains(t, ps.Error, tt.wantErr)
			assert.NotContains(t, ps.Error, "s3cr3t", "a probe error must never show the URL")
			h := healthOf(t, m, "t1")
			assert.Equal(t, 1, h.ConsecutiveFailures, "a failed probe counts as a failure")
			assert.Equal(t, "probe: "+ps.Error, h.LastError)
		})
	}
}

func TestProbeRecoversUnhealthyTarget(t *testing.T) {
	up, _ := probeServer(t, http.StatusOK)
	clk := newClock()
	m := New(Options{Now: clk.Now})
	p := NewProber(m)
	for range 3 {
		m.Record("t1", failed(core.Retryable(503, 0, errors.New("unavailable"))))
	}
	require.Equal(t, core.HealthUnhealthy, healthOf(t, m, "t1").Status)

	clk.Advance(DefaultRecheckAfter)
	p.once(context.Background(), "t1", core.Probe{TCP: closedAddr(t), Timeout: time.Second})
	assert.Equal(t, core.HealthUnhealthy, healthOf(t, m, "t1").Status,
		"a failing probe is news of the target: no trial while probes say it is down")

	p.once(context.Background(), "t1", core.Probe{HTTPGet: up.URL, Timeout: time.Second})
	h := healthOf(t, m, "t1")
	assert.Equal(t, core.HealthHealthy, h.Status, "a successful probe must bring the target back; reason %q", h.Reason)
	assert.Equal(t, "last probe succeeded", h.Reason)
}

func TestProberRunsOwnsAndStopsProbes(t *testing.T) {
	a, aHits := probeServer(t, http.StatusOK)
	b, bHits := probeServer(t, http.StatusOK)
	m := New(Options{})
	p := NewProber(m)
	defer p.Stop()
	long := func(url string) core.Probe {
		return core.Probe{HTTPGet: url, Interval: time.Hour, Timeout: 5 * time.Second}
	}

	p.Update(map[string]core.Probe{"t1": long(a.URL)})
	<-aHits // a new probe runs right away

	p.Update(map[string]core.Probe{"t1": long(a.URL), "t2": long(b.URL)})
	<-bHits
	select {
	case <-aHits:
		require.Fail(t, "an unchanged probe must keep running, not restart")
	default:
	}

	p.Update(map[string]core.Probe{"t1": long(b.URL)})
	<-bHits // a changed probe restarts against its new address
	_, probed := m.LastProbe("t2")
	assert.False(t, probed, "a target no longer probed must not keep its last probe")

	p.Stop()
	_, probed = m.LastProbe("t1")
	assert.False(t, probed, "Stop must stop every probe")
}
