package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// The reasons of am_fanout_classifier_errors_total.
const (
	ReasonTimeout = "timeout" // no answer within the timeout
	ReasonHTTP    = "http"    // the request failed or the answer was not 2xx
	ReasonInvalid = "invalid" // the answer broke the schema
)

// failureTTL bounds how long a failed classification is remembered: long
// enough that a burst of one alert's deliveries costs one request, short
// enough that the next alerts try again soon.
const failureTTL = 30 * time.Second

// ClassifierMetrics are the classifier's series, registered once and
// shared by the classifiers that successive configurations build.
type ClassifierMetrics struct {
	duration prometheus.Histogram
	errors   *prometheus.CounterVec
	hits     prometheus.Counter
	misses   prometheus.Counter
}

// NewClassifierMetrics registers the classifier's series with reg.
func NewClassifierMetrics(reg prometheus.Registerer) *ClassifierMetrics {
	m := &ClassifierMetrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "am_fanout_classifier_request_duration_seconds",
			Help:    "Duration of the requests to the external classifier, failed ones included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5},
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "am_fanout_classifier_errors_total",
			Help: "Classifications that failed open to the rule-based classification, by reason (timeout, http, invalid).",
		}, []string{"reason"}),
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "am_fanout_classifier_cache_hits_total",
			Help: "Classifications answered from the cache or by a request another delivery of the alert made.",
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "am_fanout_classifier_cache_misses_total",
			Help: "Classifications that asked the external classifier.",
		}),
	}
	for _, r := range []string{ReasonTimeout, ReasonHTTP, ReasonInvalid} {
		m.errors.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.duration, m.errors, m.hits, m.misses)
	}
	return m
}

// Classifier asks an external HTTP classifier about alerts before their
// first delivery attempt (fanout.Preparer). It is time-boxed, caches its
// answers per fingerprint and status, makes one request for concurrent
// deliveries of one alert, and fails open: on any error the alert keeps
// its rule-based classification.
type Classifier struct {
	url     string
	headers map[string]string
	client  *http.Client
	timeout time.Duration
	ttl     time.Duration
	slots   chan struct{} // bounds the requests in flight
	cache   *answerCache
	calls   singleflight.Group
	metrics *ClassifierMetrics
	logger  *slog.Logger
	warn    rate.Sometimes
	now     func() time.Time
}

// NewClassifier builds the classifier of an enrich.classifier block.
func NewClassifier(cfg *config.Classifier, m *ClassifierMetrics, logger *slog.Logger, userAgent string) (*Classifier, error) {
	client, err := commoncfg.NewClientFromConfig(cfg.HTTPConfig, "classifier", commoncfg.WithUserAgent(userAgent))
	if err != nil {
		return nil, fmt.Errorf("enrich.classifier: http_config: %w", err)
	}
	if m == nil {
		m = NewClassifierMetrics(nil)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	headers := make(map[string]string, len(cfg.Headers))
	for k, v := range cfg.Headers {
		headers[k] = string(v)
	}
	return &Classifier{
		url: string(cfg.URL), headers: headers, client: client,
		timeout: time.Duration(cfg.Timeout), ttl: time.Duration(cfg.CacheTTL),
		slots: make(chan struct{}, max(cfg.MaxConcurrent, 1)), cache: newAnswerCache(cfg.CacheSize),
		metrics: m, logger: logger, warn: rate.Sometimes{Interval: time.Minute}, now: time.Now,
	}, nil
}

// Close releases the client's idle connections once a reload replaced
// the classifier.
func (c *Classifier) Close() { c.client.CloseIdleConnections() }

// Prepare applies the classifier's answer to a, and reports whether it
// changed a. A resolve takes the answer its firing got, when the cache
// still holds it, so that both carry one classification.
func (c *Classifier) Prepare(ctx context.Context, a *core.EnrichedAlert) bool {
	ans := c.answer(ctx, a)
	if ans == nil || ans.empty() {
		return false
	}
	ans.apply(a)
	return true
}

func cacheKey(fingerprint string, status core.AlertStatus) string {
	return fingerprint + "\x00" + string(status)
}

// answer is the classifier's answer for a, nil when it failed open.
func (c *Classifier) answer(ctx context.Context, a *core.EnrichedAlert) *ClassifierAnswer {
	fp := a.Alert.Fingerprint
	if a.Alert.Status == core.StatusResolved {
		if e, ok := c.cache.get(cacheKey(fp, core.StatusFiring), c.now()); ok {
			c.metrics.hits.Inc()
			return e.answer
		}
	}
	key := cacheKey(fp, a.Alert.Status)
	if e, ok := c.cache.get(key, c.now()); ok {
		c.metrics.hits.Inc()
		return e.answer
	}
	asked := false
	v, _, _ := c.calls.Do(key, func() (any, error) {
		asked = true
		ans, err := c.ask(ctx, a)
		if err != nil {
			if ctx.Err() != nil {
				// Shutting down: not the classifier's failure, and the next
				// start asks again.
				return (*ClassifierAnswer)(nil), nil
			}
			c.failed(a, err)
		}
		if ttl := c.ttlOf(err); ttl > 0 {
			c.cache.put(key, ans, c.now().Add(ttl))
		}
		return ans, nil
	})
	if asked {
		c.metrics.misses.Inc()
	} else {
		c.metrics.hits.Inc()
	}
	return v.(*ClassifierAnswer)
}

func (c *Classifier) ttlOf(err error) time.Duration {
	if err != nil {
		return min(c.ttl, failureTTL)
	}
	return c.ttl
}

// classifierError is a failed classification with its metric reason.
type classifierError struct {
	reason string
	err    error
}

func (e *classifierError) Error() string { return e.err.Error() }
func (e *classifierError) Unwrap() error { return e.err }

// failed counts a failed classification and logs it, at most once a
// minute.
func (c *Classifier) failed(a *core.EnrichedAlert, err error) {
	reason := ReasonHTTP
	var ce *classifierError
	if errors.As(err, &ce) {
		reason = ce.reason
	}
	c.metrics.errors.WithLabelValues(reason).Inc()
	c.warn.Do(func() {
		c.logger.Warn("classifier failed; alerts keep their rule-based classification (logged at most once a minute, see am_fanout_classifier_errors_total)",
			"reason", reason, "fingerprint", a.Alert.Fingerprint, "status", a.Alert.Status, "err", err)
	})
}

// ask posts a's request to the classifier within the timeout, waiting
// for a free request slot included. Its errors never hold the URL or a
// header.
func (c *Classifier) ask(ctx context.Context, a *core.EnrichedAlert) (*ClassifierAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	errBusy := &classifierError{ReasonTimeout, fmt.Errorf("no request slot free within %s (max_concurrent)", c.timeout)}
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-ctx.Done():
		return nil, errBusy
	}
	if dl, _ := ctx.Deadline(); ctx.Err() != nil || !time.Now().Before(dl) {
		// The slot came free as the time ran out.
		return nil, errBusy
	}
	body, err := json.Marshal(ClassifierRequest{
		Version: ClassifierRequestVersion, Alert: a.Alert, Group: a.Group, Classification: a.Classification,
	})
	if err != nil {
		return nil, &classifierError{ReasonInvalid, fmt.Errorf("encoding the request: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, &classifierError{ReasonHTTP, errors.New("building the request: invalid URL")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	defer func() { c.metrics.duration.Observe(time.Since(start).Seconds()) }()
	resp, err := c.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &classifierError{ReasonTimeout, fmt.Errorf("no answer within %s", c.timeout)}
		}
		return nil, &classifierError{ReasonHTTP, publish.RedactURLError(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxAnswerBytes))
		return nil, &classifierError{ReasonHTTP, fmt.Errorf("answer status %d", resp.StatusCode)}
	}
	ans, err := DecodeAnswer(resp.Body)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &classifierError{ReasonTimeout, fmt.Errorf("answer not read within %s", c.timeout)}
		}
		return nil, &classifierError{ReasonInvalid, err}
	}
	return ans, nil
}
