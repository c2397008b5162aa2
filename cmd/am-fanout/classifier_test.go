package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/enrich"
)

// classifierFake is a local classifier that holds its requests until
// released, and counts them.
type classifierFake struct {
	srv     *httptest.Server
	release chan struct{}

	mu       sync.Mutex
	requests []enrich.ClassifierRequest
}

func newClassifierFake(t *testing.T, answer string) *classifierFake {
	t.Helper()
	f := &classifierFake{release: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req enrich.ClassifierRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("the classifier got a body that is not a request: %v", err)
		}
		f.mu.Lock()
		f.requests = append(f.requests, req)
		f.mu.Unlock()
		select {
		case <-f.release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *classifierFake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// enrichedSink is a local webhook target (format: enriched) that keeps
// the alerts it gets.
type enrichedSink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []core.EnrichedAlert
}

func newEnrichedSink(t *testing.T) *enrichedSink {
	t.Helper()
	s := &enrichedSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a core.EnrichedAlert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			t.Errorf("the target got a body that is not an enriched alert: %v", err)
		}
		s.mu.Lock()
		s.got = append(s.got, a)
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *enrichedSink) alerts() []core.EnrichedAlert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]core.EnrichedAlert(nil), s.got...)
}

func enrichedTarget(name, url string) string {
	return fmt.Sprintf("  - name: %s\n    type: webhook\n    format: enriched\n    url: %s\n", name, url)
}

func diskAlert(status, endsAt string) string {
	return fmt.Sprintf(`{"version":"4","status":%[1]q,"receiver":"am-fanout","groupKey":"{}:{alertname=\"DiskFull\"}",
"groupLabels":{"alertname":"DiskFull"},
"alerts":[{"status":%[1]q,"labels":{"alertname":"DiskFull","severity":"warning","instance":"db-1"},"annotations":{"summary":"disk full"},
"startsAt":"2026-01-01T00:00:00Z","endsAt":%[2]q,"fingerprint":"00000000000d15c1"}]}`, status, endsAt)
}

// postAlert posts a notification without waiting for its deliveries.
func (f *fixture) postAlert(t *testing.T, body string) (int, string) {
	t.Helper()
	resp, err := f.http.Client().Post(f.http.URL+"/webhook", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

func TestClassifierClassifiesDeliveredAlerts(t *testing.T) {
	cl := newClassifierFake(t, `{"severity":"critical","priority":"P1","team":"storage","runbook":"https://runbooks.example.com/disk"}`)
	a, b := newEnrichedSink(t), newEnrichedSink(t)
	config := "enrich:\n  classifier:\n    url: " + cl.srv.URL + "\n    timeout: 1m\ntargets:\n" +
		enrichedTarget("a", a.srv.URL) + enrichedTarget("b", b.srv.URL)
	f := newFixture(t, config, nil)

	// The classifier holds its answer: the webhook answers all the same.
	code, answer := f.postAlert(t, diskAlert("firing", "0001-01-01T00:00:00Z"))
	require.Equal(t, http.StatusOK, code, answer)
	waitUntil(t, "the classifier to be asked", func() bool { return cl.count() == 1 })
	assert.Empty(t, a.alerts(), "no delivery goes out before its classification")
	close(cl.release)

	waitUntil(t, "both targets to get the firing", func() bool { return len(a.alerts()) == 1 && len(b.alerts()) == 1 })
	want := core.Classification{Severity: core.SeverityCritical, RawSeverity: "warning", Priority: "P1", Team: "storage", Classifier: true}
	for name, s := range map[string]*enrichedSink{"a": a, "b": b} {
		got := s.alerts()[0]
		assert.Equal(t, want, got.Classification, "target %s: the classifier's answer is delivered", name)
		assert.Equal(t, "https://runbooks.example.com/disk", got.Link(core.LinkRunbook), "target %s", name)
	}
	assert.Equal(t, 1, cl.count(), "two deliveries of one alert make one classifier request")

	code, answer = f.postAlert(t, diskAlert("resolved", "2026-01-01T00:10:00Z"))
	require.Equal(t, http.StatusOK, code, answer)
	waitUntil(t, "both targets to get the resolve", func() bool { return len(a.alerts()) == 2 && len(b.alerts()) == 2 })
	resolved := a.alerts()[1]
	assert.Equal(t, core.StatusResolved, resolved.Alert.Status)
	assert.Equal(t, want, resolved.Classification, "the resolve carries the firing's classification")
	assert.Equal(t, 1, cl.count(), "the resolve takes the firing's cached answer")

	// The second delivery and both resolves hit.
	metrics := f.get(t, "/metrics")
	for _, name := range []string{
		"am_fanout_classifier_request_duration_seconds_count 1", `am_fanout_classifier_errors_total{reason="timeout"} 0`,
		"am_fanout_classifier_cache_hits_total 3", "am_fanout_classifier_cache_misses_total 1",
	} {
		assert.Contains(t, metrics, name)
	}
}

func TestClassifierTimeoutFailsOpen(t *testing.T) {
	cl := newClassifierFake(t, `{"severity":"critical"}`) // never released
	a := newEnrichedSink(t)
	config := "enrich:\n  classifier:\n    url: " + cl.srv.URL + "\n    timeout: 50ms\ntargets:\n" + enrichedTarget("a", a.srv.URL)
	f := newFixture(t, config, nil)

	code, answer := f.postAlert(t, diskAlert("firing", "0001-01-01T00:00:00Z"))
	require.Equal(t, http.StatusOK, code, answer)
	waitUntil(t, "the target to get the alert", func() bool { return len(a.alerts()) == 1 })
	got := a.alerts()[0].Classification
	assert.Equal(t, core.Classification{Severity: core.SeverityWarning, RawSeverity: "warning"}, got,
		"a classifier that does not answer in time leaves the rule-based classification")
	assert.Contains(t, f.get(t, "/metrics"), `am_fanout_classifier_errors_total{reason="timeout"} 1`)
}

func TestReloadKeepsAnUnchangedClassifier(t *testing.T) {
	cl := newClassifierFake(t, `{}`)
	config := "enrich:\n  classifier:\n    url: " + cl.srv.URL + "\ntargets:\n" + webhookTarget("a", newSink(t, 200).srv.URL)
	f := newFixture(t, config, nil)
	before := f.s.classifiers.cur.Load()
	require.NotNil(t, before)
	require.NoError(t, f.s.reload())
	assert.Same(t, before, f.s.classifiers.cur.Load(), "an unchanged block keeps the classifier and its cache")

	f.write(t, f.configFile, "targets:\n"+webhookTarget("a", newSink(t, 200).srv.URL))
	require.NoError(t, f.s.reload())
	assert.Nil(t, f.s.classifiers.cur.Load(), "removing the block removes the classifier")
}
