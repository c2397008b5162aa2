package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/breaker"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/webhook"
)

// maxRequests is more requests than any test makes of one target; more
// mean deliveries are retried without end, and the target says so.
const maxRequests = 1000

// target is a local HTTP target that receives enriched alerts. It answers
// with its scripted statuses in turn, then with the last one; a gate, when
// set, holds every request until it is closed. Nothing else ever holds a
// request, however many come.
type server struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	statuses   []int
	retryAfter string
	gate       chan struct{}
	got        []core.EnrichedAlert
	arrivals   int
	// arrived, when set, is called as each request arrives.
	arrived func()
}

func newServer(t testing.TB, statuses ...int) *server {
	tg := &server{t: t, statuses: statuses}
	tg.srv = httptest.NewServer(http.HandlerFunc(tg.serve))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	tg.mu.Lock()
	gate := tg.gate
	tg.arrivals++
	if tg.arrived != nil {
		tg.arrived()
	}
	if tg.arrivals == maxRequests+1 {
		tg.t.Errorf("target got more than %d requests: deliveries are retried without end", maxRequests)
	}
	tg.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	var a core.EnrichedAlert
	if err := json.Unmarshal(body, &a); err != nil {
		tg.t.Errorf("target got a body that is not an enriched alert: %v", err)
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	n := len(tg.got)
	tg.got = append(tg.got, a)
	status := http.StatusOK
	if len(tg.statuses) > 0 {
		status = tg.statuses[min(n, len(tg.statuses)-1)]
	}
	if tg.retryAfter != "" && status >= 500 {
		w.Header().Set("Retry-After", tg.retryAfter)
	}
	w.WriteHeader(status)
}

// waitArrivals waits until the target got n requests, answered or not,
// or the test failed.
func (tg *server) waitArrivals(n int) {
	tg.t.Helper()
	waitUntil(tg.t, fmt.Sprintf("%d requests to arrive", n), func() bool {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		return tg.arrivals >= n
	})
}

// answer makes the target answer status from now on.
func (tg *server) answer(status int) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.statuses = []int{status}
}

// hold makes requests wait until the returned function is called.
func (tg *server) hold() (release func()) {
	g := make(chan struct{})
	tg.mu.Lock()
	tg.gate = g
	tg.mu.Unlock()
	return func() {
		tg.mu.Lock()
		tg.gate = nil
		tg.mu.Unlock()
		close(g)
	}
}

// received lists the alerts the target got, answered or not, in order.
func (tg *server) received() []core.EnrichedAlert {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]core.EnrichedAlert(nil), tg.got...)
}

// harness is a pipeline over real targets, breakers and an attempter.
type harness struct {
	t       testing.TB
	dir     string
	targets *TargetSet
	pub     *Attempter
	// attempter, when set, makes the attempts instead of pub.
	attempter DeliveryAttempter
	store     *outbox.Store
	box       *Pipeline
	reg       *prometheus.Registry
	opts      Options
	// storeOpts apply from the next open.
	storeOpts outbox.StoreOptions
}

// fastRetries retry within milliseconds, so that tests wait briefly.
func fastRetries() Options {
	return Options{RetryBase: time.Millisecond, RetryCap: 5 * time.Millisecond, PruneEvery: time.Hour}
}

// newHarness builds targets named after the servers' keys, each with a
// breaker that opens after breakerFailures retryable failures.
func newHarness(t testing.TB, servers map[string]*server, opts Options, breakerFailures uint32) *harness {
	t.Helper()
	var ts []*core.Target
	for name, s := range servers {
		c := &core.Target{
			Name: name, Type: "webhook", Key: name, SendResolved: true, Timeout: 5 * time.Second,
			Spec:    &webhook.Config{URL: publish.Secret(s.srv.URL), Format: webhook.FormatEnriched, HTTPConfig: commoncfg.DefaultHTTPClientConfig},
			Breaker: core.BreakerSettings{Failures: breakerFailures, OpenFor: 20 * time.Millisecond, HalfOpenRequests: 1},
		}
		p, err := publish.New(c, publish.Options{})
		if err != nil {
			t.Fatalf("publisher %s: %v", c.Name, err)
		}
		c.Publisher, c.Circuit = p, breaker.New(c.Name, c.Breaker, nil)
		ts = append(ts, c)
	}
	h := &harness{t: t, dir: t.TempDir(), targets: NewTargetSet(ts), opts: opts}
	h.pub = NewAttempter(nil, nil, NewMetrics(prometheus.NewRegistry()), nil)
	h.open()
	t.Cleanup(h.close)
	return h
}

// open opens the store and starts a pipeline on it.
func (h *harness) open() {
	h.t.Helper()
	store, err := outbox.Open(filepath.Join(h.dir, "outbox.db"), h.storeOpts)
	if err != nil {
		h.t.Fatalf("opening the store: %v", err)
	}
	var at DeliveryAttempter = h.pub
	if h.attempter != nil {
		at = h.attempter
	}
	box, err := New(store, h.targets, at, h.opts)
	if err != nil {
		store.Close()
		h.t.Fatalf("loading the pipeline: %v", err)
	}
	h.store, h.box, h.reg = store, box, prometheus.NewRegistry()
	if err := box.Register(h.reg); err != nil {
		h.t.Fatalf("registering metrics: %v", err)
	}
	box.Start()
}

// close stops the pipeline, cancelling attempts at once, and closes the
// store; a closed harness is left alone.
func (h *harness) close() {
	if h.box == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.box.Close(ctx)
	if err := h.store.Close(); err != nil {
		h.t.Errorf("closing the store: %v", err)
	}
	h.box, h.store = nil, nil
}

func (h *harness) accept(wait bool, alerts ...*core.EnrichedAlert) []AlertOutcome {
	h.t.Helper()
	out, err := h.box.Accept(context.Background(), alerts, wait)
	if err != nil {
		h.t.Fatalf("Accept: %v", err)
	}
	return out
}

// waitUntil polls cond until it holds. It measures nothing: it gives up
// only once the test has failed (as a target that got too many requests
// makes it) or shortly before the test binary's -timeout would end the
// run, and then names what it waited for.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	var deadline time.Time
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if at, ok := d.Deadline(); ok {
			deadline = at.Add(-5 * time.Second)
		}
	}
	for !cond() {
		switch {
		case t.Failed():
			t.Fatalf("stopped waiting for %s: the test failed", what)
		case !deadline.IsZero() && time.Now().After(deadline):
			t.Fatalf("gave up waiting for %s: the test binary is about to time out", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// alert is a firing or resolved alert that started minute minutes after
// the epoch.
func alert(fp string, status core.AlertStatus, minute int) *core.EnrichedAlert {
	return &core.EnrichedAlert{Alert: core.Alert{
		Fingerprint: fp, Status: status, StartsAt: epoch.Add(time.Duration(minute) * time.Minute),
		Labels: map[string]string{"alertname": "Test" + fp},
	}}
}

func states(as []core.EnrichedAlert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%s/%s@%d", a.Alert.Fingerprint, a.Alert.Status, int(a.Alert.StartsAt.Sub(epoch)/time.Minute))
	}
	return out
}
