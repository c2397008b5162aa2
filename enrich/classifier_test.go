package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// fakeClassifier is a local classifier: it records the requests it gets
// and answers each with answer.
type fakeClassifier struct {
	srv    *httptest.Server
	answer func(ClassifierRequest) (status int, body string)

	mu       sync.Mutex
	requests []ClassifierRequest
	headers  []http.Header
}

func newFakeClassifier(t *testing.T, answer func(ClassifierRequest) (int, string)) *fakeClassifier {
	t.Helper()
	f := &fakeClassifier{answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req ClassifierRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("the classifier got a body that is not a request: %v", err)
		}
		f.mu.Lock()
		f.requests = append(f.requests, req)
		f.headers = append(f.headers, r.Header.Clone())
		f.mu.Unlock()
		status, body := f.answer(req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeClassifier) got() []ClassifierRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ClassifierRequest(nil), f.requests...)
}

func answering(body string) func(ClassifierRequest) (int, string) {
	return func(ClassifierRequest) (int, string) { return http.StatusOK, body }
}

// classifierConf is the block with its defaults, as config.Parse makes it.
func classifierConf(url string) *config.Classifier {
	return &config.Classifier{
		URL: publish.Secret(url), Timeout: model.Duration(config.DefaultClassifierTimeout),
		CacheTTL: model.Duration(config.DefaultClassifierCacheTTL), CacheSize: config.DefaultClassifierCacheSize,
		MaxConcurrent: config.DefaultClassifierMaxConcurrent, HTTPConfig: commoncfg.DefaultHTTPClientConfig,
	}
}

func newTestClassifier(t *testing.T, conf *config.Classifier, logger *slog.Logger) (*Classifier, *ClassifierMetrics) {
	t.Helper()
	m := NewClassifierMetrics(prometheus.NewRegistry())
	c, err := NewClassifier(conf, m, logger, "am-fanout-test")
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c, m
}

// testAlert is an enriched alert as Enrich makes it, with a rule's
// classification.
func testAlert(fp string, status core.AlertStatus) *core.EnrichedAlert {
	return &core.EnrichedAlert{
		Alert: core.Alert{
			Fingerprint: fp, Status: status, StartsAt: testNow.Add(-time.Hour),
			Labels:      map[string]string{"alertname": "DiskFull", "severity": "warning", "team": "infra"},
			Annotations: map[string]string{"summary": "disk is full"},
		},
		Group: core.Group{
			Receiver: "am-fanout", Status: status, GroupKey: `{}:{alertname="DiskFull"}`,
			GroupLabels: map[string]string{"alertname": "DiskFull"},
		},
		Classification: core.Classification{Severity: core.SeverityWarning, RawSeverity: "warning", Rules: []string{"disks"}},
		Links:          []core.Link{{Name: core.LinkSource, URL: "http://prom/graph"}, {Name: core.LinkSilence, URL: "http://am/#/silences/new"}},
	}
}

const fullAnswer = `{"severity":"critical","priority":"P1","team":"storage","summary":"Disk full on db-1",
"runbook":"https://runbooks.example.com/disk","labels":{"service":"postgres"}}`

func TestClassifierAppliesItsAnswer(t *testing.T) {
	f := newFakeClassifier(t, answering(fullAnswer))
	conf := classifierConf(f.srv.URL + "/classify")
	conf.Headers = map[string]publish.Secret{"X-Api-Key": "s3cret"}
	c, _ := newTestClassifier(t, conf, nil)

	a := testAlert("aa01", core.StatusFiring)
	require.True(t, c.Prepare(context.Background(), a), "an answer that sets fields changes the alert")

	assert.Equal(t, core.Classification{
		Severity: core.SeverityCritical, RawSeverity: "warning", Priority: "P1", Team: "storage",
		Rules: []string{"disks"}, Classifier: true,
	}, a.Classification, "the answer wins over the rules; rawSeverity stays as received")
	assert.Equal(t, "Disk full on db-1", a.Summary(), "the summary becomes the summary annotation")
	assert.Equal(t, "https://runbooks.example.com/disk", a.Alert.Annotations["runbook_url"])
	assert.Equal(t, []core.Link{
		{Name: core.LinkSource, URL: "http://prom/graph"},
		{Name: core.LinkRunbook, URL: "https://runbooks.example.com/disk"},
		{Name: core.LinkSilence, URL: "http://am/#/silences/new"},
	}, a.Links, "the runbook link sits where enrichment puts it")
	assert.Equal(t, "postgres", a.Alert.Labels["service"], "labels are merged")
	assert.Equal(t, "infra", a.Alert.Labels["team"], "labels the answer does not set stay")

	reqs := f.got()
	require.Len(t, reqs, 1)
	want := testAlert("aa01", core.StatusFiring)
	assert.Equal(t, ClassifierRequest{
		Version: ClassifierRequestVersion, Alert: want.Alert, Group: want.Group, Classification: want.Classification,
	}, withUTC(reqs[0]), "the request holds the alert, its group and the rules' classification")
	assert.Equal(t, "s3cret", f.headers[0].Get("X-Api-Key"), "configured headers are sent")
	assert.Equal(t, "application/json", f.headers[0].Get("Content-Type"))
}

func withUTC(r ClassifierRequest) ClassifierRequest {
	r.Alert.StartsAt, r.Alert.EndsAt = r.Alert.StartsAt.UTC(), r.Alert.EndsAt.UTC()
	if r.Alert.EndsAt.IsZero() {
		r.Alert.EndsAt = time.Time{}
	}
	return r
}

func TestClassifierFailsOpen(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		reason string
	}{
		{"server error", http.StatusInternalServerError, `{"error":"boom"}`, ReasonHTTP},
		{"client error", http.StatusUnauthorized, ``, ReasonHTTP},
		{"not JSON", http.StatusOK, `<html>`, ReasonInvalid},
		{"unknown severity", http.StatusOK, `{"severity":"urgent"}`, ReasonInvalid},
		{"unknown field", http.StatusOK, `{"severity":"info","serverity":"critical"}`, ReasonInvalid},
		{"runbook not a URL", http.StatusOK, `{"runbook":"see wiki"}`, ReasonInvalid},
		{"oversized answer", http.StatusOK, `{"summary":"` + strings.Repeat("x", MaxAnswerBytes) + `"}`, ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeClassifier(t, func(ClassifierRequest) (int, string) { return tt.status, tt.body })
			c, m := newTestClassifier(t, classifierConf(f.srv.URL), nil)
			a := testAlert("bb01", core.StatusFiring)
			assert.False(t, c.Prepare(context.Background(), a), "a failed classification changes nothing")
			assert.Equal(t, testAlert("bb01", core.StatusFiring), a, "the alert keeps its rule-based classification")
			assert.Equal(t, 1.0, testutil.ToFloat64(m.errors.WithLabelValues(tt.reason)), "counted as %s", tt.reason)

			assert.False(t, c.Prepare(context.Background(), testAlert("bb01", core.StatusFiring)))
			assert.Len(t, f.got(), 1, "the alert's next delivery fails open alike, without a request")
		})
	}
}

func TestClassifierUnreachableFailsOpen(t *testing.T) {
	f := newFakeClassifier(t, answering(fullAnswer))
	f.srv.Close()
	c, m := newTestClassifier(t, classifierConf(f.srv.URL), nil)
	a := testAlert("bb02", core.StatusFiring)
	assert.False(t, c.Prepare(context.Background(), a))
	assert.False(t, a.Classification.Classifier)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.errors.WithLabelValues(ReasonHTTP)))
}

// blockingTransport never answers: its requests end with their context.
type blockingTransport struct{ started chan struct{} }

func (b blockingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b.started <- struct{}{}
	<-r.Context().Done()
	return nil, r.Context().Err()
}

func TestClassifierTimesOutAfterItsTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, m := newTestClassifier(t, classifierConf("http://classifier.invalid/"), nil)
		started := make(chan struct{}, 1)
		c.client.Transport = blockingTransport{started: started}

		a := testAlert("cc01", core.StatusFiring)
		begin := time.Now()
		assert.False(t, c.Prepare(context.Background(), a), "a classifier that does not answer changes nothing")
		<-started
		assert.Equal(t, config.DefaultClassifierTimeout, time.Since(begin), "Prepare gives up after the default 2s")
		assert.Equal(t, 1.0, testutil.ToFloat64(m.errors.WithLabelValues(ReasonTimeout)))
		assert.Equal(t, uint64(1), histogramCount(t, m.duration), "the request's duration is observed")
	})
}

func TestClassifierWaitForASlotCountsAgainstTheTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conf := classifierConf("http://classifier.invalid/")
		conf.MaxConcurrent = 1
		c, m := newTestClassifier(t, conf, nil)
		started := make(chan struct{}, 2)
		c.client.Transport = blockingTransport{started: started}

		var wg sync.WaitGroup
		begin := time.Now()
		for _, fp := range []string{"cc02", "cc03"} {
			wg.Go(func() { c.Prepare(context.Background(), testAlert(fp, core.StatusFiring)) })
		}
		wg.Wait()
		assert.Equal(t, config.DefaultClassifierTimeout, time.Since(begin), "the second alert waits for a slot no longer than the timeout")
		assert.Len(t, started, 1, "max_concurrent 1 lets one request out")
		assert.Equal(t, 2.0, testutil.ToFloat64(m.errors.WithLabelValues(ReasonTimeout)))
	})
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(h))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	return mfs[0].GetMetric()[0].GetHistogram().GetSampleCount()
}

func TestClassifierCachesPerFingerprintAndStatus(t *testing.T) {
	f := newFakeClassifier(t, answering(`{"team":"storage"}`))
	c, m := newTestClassifier(t, classifierConf(f.srv.URL), nil)
	ctx := context.Background()

	for range 3 {
		a := testAlert("dd01", core.StatusFiring)
		require.True(t, c.Prepare(ctx, a))
		assert.Equal(t, "storage", a.Classification.Team)
	}
	c.Prepare(ctx, testAlert("dd02", core.StatusFiring))
	assert.Len(t, f.got(), 2, "one request per fingerprint")
	assert.Equal(t, 2.0, testutil.ToFloat64(m.hits), "the second and third delivery hit the cache")
	assert.Equal(t, 2.0, testutil.ToFloat64(m.misses))
}

func TestClassifierConcurrentDeliveriesShareOneRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, m := newTestClassifier(t, classifierConf("http://classifier.invalid/"), nil)
		release, calls := make(chan struct{}), 0
		c.client.Transport = roundTripFunc(func(*http.Request) (*http.Response, error) {
			calls++
			<-release
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(`{"priority":"P2"}`))}, nil
		})
		var wg sync.WaitGroup
		got := make([]string, 10)
		for i := range got {
			wg.Go(func() {
				a := testAlert("ee01", core.StatusFiring)
				c.Prepare(context.Background(), a)
				got[i] = a.Classification.Priority
			})
		}
		synctest.Wait() // one delivery asks, nine wait for its answer
		close(release)
		wg.Wait()
		assert.Equal(t, 1, calls, "ten deliveries of one alert make one request")
		for i, p := range got {
			assert.Equal(t, "P2", p, "delivery %d", i)
		}
		assert.Equal(t, 1.0, testutil.ToFloat64(m.misses))
		assert.Equal(t, 9.0, testutil.ToFloat64(m.hits))
	})
}

func TestResolveTakesItsFiringsAnswer(t *testing.T) {
	answers := map[core.AlertStatus]string{
		core.StatusFiring:   `{"severity":"critical","team":"storage"}`,
		core.StatusResolved: `{"severity":"info","team":"someone-else"}`,
	}
	f := newFakeClassifier(t, func(r ClassifierRequest) (int, string) { return http.StatusOK, answers[r.Alert.Status] })
	c, _ := newTestClassifier(t, classifierConf(f.srv.URL), nil)
	ctx := context.Background()

	firing := testAlert("ff01", core.StatusFiring)
	c.Prepare(ctx, firing)
	resolved := testAlert("ff01", core.StatusResolved)
	require.True(t, c.Prepare(ctx, resolved))
	assert.Equal(t, firing.Classification, resolved.Classification, "the resolve carries the firing's classification")
	assert.Len(t, f.got(), 1, "the resolve asks nothing")

	lone := testAlert("ff02", core.StatusResolved)
	c.Prepare(ctx, lone)
	assert.Equal(t, "someone-else", lone.Classification.Team, "a resolve whose firing is not cached is asked about")
}

func TestClassifierCacheExpiresAndIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conf := classifierConf("http://classifier.invalid/")
		conf.CacheSize = 2
		c, m := newTestClassifier(t, conf, nil)
		calls := 0
		c.client.Transport = roundTripFunc(func(*http.Request) (*http.Response, error) {
			calls++
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(`{"team":"t"}`))}, nil
		})
		ctx := context.Background()
		for _, fp := range []string{"a1", "a2", "a3"} {
			c.Prepare(ctx, testAlert(fp, core.StatusFiring))
		}
		assert.Equal(t, 2, c.cache.len(), "the cache holds at most cache_size answers")
		c.Prepare(ctx, testAlert("a1", core.StatusFiring))
		assert.Equal(t, 4, calls, "the least recently used answer was evicted")

		time.Sleep(config.DefaultClassifierCacheTTL)
		c.Prepare(ctx, testAlert("a1", core.StatusFiring))
		assert.Equal(t, 5, calls, "an answer expires after cache_ttl")
		assert.Equal(t, 0.0, testutil.ToFloat64(m.hits))
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestClassifierFailuresAreLoggedRarelyAndWithoutSecrets(t *testing.T) {
	f := newFakeClassifier(t, func(ClassifierRequest) (int, string) { return http.StatusForbidden, `{"echo":"s3cret"}` })
	var logs bytes.Buffer
	conf := classifierConf(f.srv.URL + "/classify?token=tok3n")
	conf.Headers = map[string]publish.Secret{"Authorization": "Bearer s3cret"}
	c, m := newTestClassifier(t, conf, slog.New(slog.NewTextHandler(&logs, nil)))
	for _, fp := range []string{"g1", "g2", "g3"} {
		c.Prepare(context.Background(), testAlert(fp, core.StatusFiring))
	}
	assert.Equal(t, 3.0, testutil.ToFloat64(m.errors.WithLabelValues(ReasonHTTP)), "every failure is counted")
	assert.Equal(t, 1, strings.Count(logs.String(), "classifier failed"), "failures are logged at most once a minute: %s", logs.String())
	assert.Contains(t, logs.String(), "answer status 403")
	for _, secret := range []string{"s3cret", "tok3n"} {
		assert.NotContains(t, logs.String(), secret, "a secret reached the log")
	}

	f.srv.Close()
	_, err := c.ask(context.Background(), testAlert("g4", core.StatusFiring))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "tok3n", "a transport error must not repeat the URL")
}

func TestDecodeAnswer(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	labels := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"l` + strings.Repeat("x", i) + `":"v"`)
		}
		return `{"labels":{` + b.String() + `}}`
	}
	tests := []struct {
		name, body, err string
	}{
		{"empty body", ``, ""},
		{"empty object", `{}`, ""},
		{"every field", fullAnswer, ""},
		{"each severity", `{"severity":"info"}`, ""},
		{"severity alias", `{"severity":"page"}`, `severity "page" is not one of critical, warning, info`},
		{"upper case severity", `{"severity":"CRITICAL"}`, `is not one of`},
		{"unknown field", `{"sevrity":"info"}`, `unknown field "sevrity"`},
		{"two values", `{} {}`, "more than one JSON value"},
		{"priority too long", `{"priority":"` + long(33) + `"}`, "priority has 33 characters, at most 32"},
		{"team too long", `{"team":"` + long(129) + `"}`, "team has 129 characters"},
		{"summary too long", `{"summary":"` + long(1025) + `"}`, "summary has 1025 characters"},
		{"summary counts characters", `{"summary":"` + strings.Repeat("é", 1024) + `"}`, ""},
		{"runbook relative", `{"runbook":"/wiki/disk"}`, "runbook is not an absolute http or https URL"},
		{"too many labels", labels(33), "labels has 33 entries, at most 32"},
		{"bad label name", `{"labels":{"a-b":"v"}}`, `"a-b" is not a valid label name`},
		{"reserved label name", `{"labels":{"__name__":"v"}}`, "is not a valid label name"},
		{"alertname", `{"labels":{"alertname":"Other"}}`, "alertname names the alert"},
		{"label value too long", `{"labels":{"a":"` + long(1025) + `"}}`, `the value of "a" is over 1024 characters`},
		{"not an object", `[]`, "not the classifier's JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeAnswer(strings.NewReader(tt.body))
			if tt.err == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}
