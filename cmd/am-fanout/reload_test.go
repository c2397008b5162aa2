package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/am-fanout/am-fanout/core"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sink is a local target that counts the deliveries it receives.
type sink struct {
	srv *httptest.Server
	got atomic.Int64
}

func newSink(t *testing.T, status int) *sink {
	t.Helper()
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.got.Add(1)
		w.WriteHeader(status)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func webhookTarget(name, url string) string {
	return fmt.Sprintf("  - name: %s\n    type: webhook\n    url: %s\n", name, url)
}

// fixture is a config file and a targets directory on disk, and an
// am-fanout server running on them over loopback HTTP.
type fixture struct {
	dir, configFile, targetsDir string
	s                           *server
	http                        *httptest.Server
	sent                        atomic.Int64
}

func newFixture(t *testing.T, config string, targets map[string]string) *fixture {
	t.Helper()
	return newFixtureWith(t, config, targets, nil)
}

// newFixtureWith is newFixture with the flags changed by edit.
func newFixtureWith(t *testing.T, config string, targets map[string]string, edit func(*flags)) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	f.configFile = filepath.Join(f.dir, "am-fanout.yml")
	f.targetsDir = filepath.Join(f.dir, "targets.d")
	require.NoError(t, os.Mkdir(f.targetsDir, 0o755))
	f.write(t, f.configFile, config)
	for name, content := range targets {
		f.write(t, filepath.Join(f.targetsDir, name), content)
	}
	fl := flags{
		configFile: f.configFile, targetsDir: f.targetsDir, storagePath: filepath.Join(f.dir, "data"),
		maxBodyBytes: 1 << 20, watchDebounce: 20 * time.Millisecond,
		enableLifecycle: true, enableAdminAPI: true,
	}
	if edit != nil {
		edit(&fl)
	}
	s, err := newServer(fl, slog.New(slog.DiscardHandler))
	require.NoError(t, err, "the first configuration must load")
	f.s = s
	f.http = httptest.NewServer(s.routes())
	t.Cleanup(func() {
		f.http.Close()
		s.close()
	})
	return f
}

func (f *fixture) write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

// post sends one new alert to /webhook and returns the answer's status.
// It waits for the first delivery attempts (wait=true), so that the
// deliveries are over when it returns.
func (f *fixture) post(t *testing.T) (int, string) {
	n := f.sent.Add(1)
	body := fmt.Sprintf(`{"version":"4","status":"firing","receiver":"am-fanout","groupKey":"{}:{alertname=\"Load%d\"}",
"alerts":[{"status":"firing","labels":{"alertname":"Load%d","severity":"critical"},"annotations":{},
"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"%016x"}]}`, n, n, n)
	resp, err := f.http.Client().Post(f.http.URL+"/webhook?wait=true", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

func (f *fixture) names() []string {
	var out []string
	for _, ts := range f.s.TargetStatuses() {
		out = append(out, ts.Name)
	}
	sort.Strings(out)
	return out
}

// load posts alerts from several goroutines until stop is closed, and
// fails the test on any answer but 200: a reload must never disturb
// fan-outs in flight.
func (f *fixture) load(t *testing.T, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if code, answer := f.post(t); !assert.Equal(t, http.StatusOK, code, "a webhook during reloads: %s", answer) {
					return
				}
			}
		})
	}
	return &wg
}

func TestReloadUnderConcurrentFanout(t *testing.T) {
	a, b, c := newSink(t, 200), newSink(t, 200), newSink(t, 200)
	f := newFixture(t, "targets:\n"+webhookTarget("main", a.srv.URL), map[string]string{
		"team-b.yml": "targets:\n" + webhookTarget("team-b", b.srv.URL),
	})
	stop := make(chan struct{})
	wg := f.load(t, stop)
	defer func() { close(stop); wg.Wait() }()

	steps := []struct {
		name      string
		change    func(t *testing.T)
		wantErr   []string // parts of the error; none for success
		wantNames []string
	}{
		{"a file dropped into the directory adds its target", func(t *testing.T) {
			f.write(t, filepath.Join(f.targetsDir, "team-c.yaml"), "targets:\n"+webhookTarget("team-c", c.srv.URL))
		}, nil, []string{"main", "team-b", "team-c"}},
		{"a changed file changes its target", func(t *testing.T) {
			f.write(t, filepath.Join(f.targetsDir, "team-b.yml"), "targets:\n"+webhookTarget("team-b", a.srv.URL))
		}, nil, []string{"main", "team-b", "team-c"}},
		{"an invalid file keeps the previous set", func(t *testing.T) {
			f.write(t, filepath.Join(f.targetsDir, "broken.yml"), "targets:\n  - name: broken\n    type: webhook\n    urll: x\n")
		}, []string{"broken.yml:4:", `unknown field "urll"`}, []string{"main", "team-b", "team-c"}},
		{"a duplicate name across files names both files and keeps the previous set", func(t *testing.T) {
			f.write(t, filepath.Join(f.targetsDir, "broken.yml"), "targets:\n"+webhookTarget("team-c", c.srv.URL))
		}, []string{"duplicate target name \"team-c\"", "broken.yml:2", "team-c.yaml:2"}, []string{"main", "team-b", "team-c"}},
		{"removing files removes their targets", func(t *testing.T) {
			require.NoError(t, os.Remove(filepath.Join(f.targetsDir, "broken.yml")))
			require.NoError(t, os.Remove(filepath.Join(f.targetsDir, "team-c.yaml")))
		}, nil, []string{"main", "team-b"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change(t)
			err := f.s.reload()
			status := f.s.Status()
			if st.wantErr == nil {
				require.NoError(t, err)
				assert.True(t, status.LastReload.Success, "the status must show the reload succeeded")
				assert.InDelta(t, 1, testutil.ToFloat64(f.s.reloadOK), 0, "am_fanout_config_last_reload_successful")
			} else {
				require.Error(t, err, "the reload must fail")
				for _, w := range st.wantErr {
					assert.Contains(t, err.Error(), w)
					assert.Contains(t, status.LastReload.Error, w, "the status API must show the error")
				}
				assert.False(t, status.LastReload.Success)
				assert.InDelta(t, 0, testutil.ToFloat64(f.s.reloadOK), 0, "am_fanout_config_last_reload_successful")
			}
			assert.Equal(t, st.wantNames, f.names(), "targets in use")
			code, answer := f.post(t)
			assert.Equal(t, http.StatusOK, code, "the next alert must be delivered: %s", answer)
		})
	}
	before := c.got.Load()
	f.post(t)
	assert.Equal(t, before, c.got.Load(), "a removed target must receive nothing")
}

func TestReloadKeepsStateOfUnchangedTargets(t *testing.T) {
	up, down := newSink(t, 200), newSink(t, 503)
	f := newFixture(t, "targets:\n"+webhookTarget("steady", up.srv.URL)+webhookTarget("moved", down.srv.URL), nil)
	failure := &core.Outcome{Kind: core.OutcomeRetry, Err: core.Retryable(503, 0, errors.New("unavailable")), StatusCode: 503}
	for _, name := range []string{"steady", "moved"} {
		for range 3 {
			f.s.health.Record(name, failure)
		}
	}
	breakerOf := func(name string) any {
		if b, ok := f.s.breakers.Lookup(name); ok {
			return b
		}
		return nil
	}
	steadyBreaker := breakerOf("steady")

	// A new URL alone is a secret's value and keeps the state (a rotated
	// token is the same destination); a new format is another target.
	f.write(t, f.configFile, "targets:\n"+webhookTarget("steady", up.srv.URL)+webhookTarget("moved", up.srv.URL)+"    format: enriched\n")
	require.NoError(t, f.s.reload())
	health := func(name string) core.HealthStatus {
		h, err := f.s.health.GetHealthByName(context.Background(), name)
		require.NoError(t, err)
		return h.Status
	}
	assert.Same(t, steadyBreaker, breakerOf("steady"), "an unchanged target must keep its breaker")
	assert.Equal(t, core.HealthUnhealthy, health("steady"), "an unchanged target must keep its health")
	assert.Equal(t, core.HealthUnknown, health("moved"),
		"a changed target must start unknown: the old one's failures say nothing of the new")
}

func TestReloadDeletesRemovedTargetsSeries(t *testing.T) {
	up := newSink(t, 200)
	f := newFixture(t, "targets:\n"+webhookTarget("stays", up.srv.URL)+webhookTarget("goes", up.srv.URL), nil)
	code, _ := f.post(t)
	require.Equal(t, http.StatusOK, code)
	f.write(t, f.configFile, "targets:\n"+webhookTarget("stays", up.srv.URL))
	require.NoError(t, f.s.reload())
	resp, err := f.http.Client().Get(f.http.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var metrics bytes.Buffer
	_, err = io.Copy(&metrics, resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(metrics.String(), "\n") {
		assert.NotContains(t, line, `target="goes"`, "a removed target must leave no series")
	}
	assert.Contains(t, metrics.String(), `am_fanout_target_consecutive_failures{target="stays"} 0`)
}

func TestProbesFollowReloads(t *testing.T) {
	probed := newSink(t, 200)
	target := webhookTarget("probed", probed.srv.URL)
	f := newFixture(t, "targets:\n"+target, nil)
	_, ok := f.s.health.LastProbe("probed")
	assert.False(t, ok, "a target without a probe block must never be probed")

	f.write(t, f.configFile, "targets:\n"+target+"    probe: {http_get: '"+probed.srv.URL+"/healthz', interval: 1h}\n")
	require.NoError(t, f.s.reload())
	waitUntil(t, "the first probe", func() bool { _, ok := f.s.health.LastProbe("probed"); return ok })
	st := f.s.TargetStatuses()
	require.Len(t, st, 1)
	require.NotNil(t, st[0].Probe, "the status API must show the probe")
	assert.Equal(t, "http_get", st[0].Probe.Kind)
	assert.Empty(t, st[0].Probe.LastError)

	f.write(t, f.configFile, "targets:\n"+target)
	require.NoError(t, f.s.reload())
	_, ok = f.s.health.LastProbe("probed")
	assert.False(t, ok, "a removed probe must be stopped and forgotten")
	// The probe goroutines are gone: goleak checks it when the tests end.
}

// waitUntil polls cond until it holds. It measures nothing: it gives up
// only once the test has failed or shortly before the test binary's
// -timeout would end the run, and then names what it waited for.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline, hasDeadline := t.Deadline()
	for !cond() {
		require.False(t, t.Failed(), "stopped waiting for %s: the test failed", what)
		require.False(t, hasDeadline && time.Now().After(deadline.Add(-5*time.Second)),
			"gave up waiting for %s: the test binary is about to time out", what)
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTemplateFailureFallsBackAndIsCounted(t *testing.T) {
	up := newSink(t, 200)
	// The template parses, so the config loads, but fails when it runs: a
	// map of strings indexed by a number.
	discord := fmt.Sprintf("  - name: chat\n    type: discord\n    url: %s/api/webhooks/1/token\n"+
		"    templates:\n      title: '{{ index .Alert.Labels 5 }}'\n", up.srv.URL)
	f := newFixture(t, "targets:\n"+discord, nil)
	code, answer := f.post(t)
	require.Equal(t, http.StatusOK, code, "a failing template must fall back to the default rendering: %s", answer)
	require.EqualValues(t, 1, up.got.Load(), "the alert must still be delivered")
	assert.Equal(t, 1.0, testutil.ToFloat64(f.s.templateFailures.WithLabelValues("chat", "title")))

	f.write(t, f.configFile, "targets: []\n")
	require.NoError(t, f.s.reload())
	assert.Zero(t, testutil.CollectAndCount(f.s.templateFailures), "a removed target's template series must go")
}

// /metrics carries the Go runtime and process metrics every Prometheus
// component exports, which users' dashboards and memory alerts expect.
func TestMetricsHoldRuntimeAndProcessCollectors(t *testing.T) {
	up := newSink(t, 200)
	f := newFixture(t, "targets:\n"+webhookTarget("t", up.srv.URL), nil)
	resp, err := f.http.Client().Get(f.http.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		assert.Contains(t, string(body), "\n"+name+" ", "/metrics lacks %s", name)
	}
}

// Reloads racing while the file changes end with the file's last content
// in force, bearer token included: no reload that read an older file
// finishes after one that read the last.
func TestConcurrentReloadsInstallTheLastConfiguration(t *testing.T) {
	up := newSink(t, 200)
	withToken := func(token string) string {
		return "receiver:\n  bearer_token: " + token + "\ntargets:\n" + webhookTarget("t", up.srv.URL)
	}
	f := newFixture(t, withToken("token-0"), nil)
	status := func(token string) int {
		req, err := http.NewRequest(http.MethodPost, f.http.URL+"/webhook", strings.NewReader(`{"version":"4","status":"firing","alerts":[]}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := f.http.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for round := range 20 {
		var wg sync.WaitGroup
		older, last := fmt.Sprintf("older-%d", round), fmt.Sprintf("last-%d", round)
		f.write(t, f.configFile, withToken(older))
		for range 8 {
			wg.Go(func() { _ = f.s.reload() })
		}
		f.write(t, f.configFile, withToken(last))
		for range 8 {
			wg.Go(func() { _ = f.s.reload() })
		}
		wg.Wait()
		if got := status(last); got != http.StatusOK {
			t.Fatalf("round %d: the last file's token gets %d after the reloads, want 200", round, got)
		}
		if got := status(older); got != http.StatusUnauthorized {
			t.Fatalf("round %d: an older file's token gets %d after the reloads, want 401", round, got)
		}
	}
}
