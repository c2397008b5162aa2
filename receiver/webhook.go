// Package receiver serves am-fanout's HTTP API: the Alertmanager webhook,
// the target status API and the status page.
package receiver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/semaphore"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/enrich"
	"github.com/am-fanout/am-fanout/fanout"
)

// Enricher turns a decoded notification into enriched alerts.
type Enricher interface {
	Enrich(msg *enrich.Message) []*core.EnrichedAlert
}

// Settings are the parts of the webhook that a config reload may change.
type Settings struct {
	Enricher Enricher
	// BearerToken, when not empty, must be sent as "Authorization: Bearer"
	// to the webhook and to every other endpoint but OpenPaths.
	BearerToken string
	OpenPaths   []string
	// Outbox persists the deliveries before the webhook answers and
	// delivers them (see outbox.go); WaitForFirstAttempt makes every
	// request wait for the first attempts, as ?wait=true does.
	Outbox              Outbox
	WaitForFirstAttempt bool
	// RoomWait is how long a webhook waits for room in a full outbox,
	// before it reads its body and again once it did, before it is
	// answered 503 (outbox.wait_for_room); 0 answers 503 at once.
	RoomWait time.Duration
	// Tracer, when set, starts the accept span of each request, a child
	// of the traceparent Alertmanager sends (tracing.go); nil when
	// tracing is off.
	Tracer trace.Tracer
}

// Limits bound what the webhook holds in memory at once.
type Limits struct {
	// MaxBodyBytes is the largest body accepted (413 beyond it).
	MaxBodyBytes int64
	// MaxInflightBytes bounds the bodies being read and handled at once:
	// a request reserves its Content-Length (MaxBodyBytes when unknown)
	// before it is read, and waits up to BodyWait for room, then gets a
	// 503 that Alertmanager retries.
	MaxInflightBytes int64
	BodyWait         time.Duration
}

// The default limits.
const (
	DefaultMaxBodyBytes     = 10 << 20
	DefaultMaxInflightBytes = 16 << 20
	DefaultBodyWait         = 5 * time.Second
)

func (l *Limits) normalise() {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxInflightBytes <= 0 {
		l.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if l.BodyWait <= 0 {
		l.BodyWait = DefaultBodyWait
	}
}

// Webhook is the handler of POST /webhook.
type Webhook struct {
	limits   Limits
	inflight *semaphore.Weighted
	logger   *slog.Logger
	requests *prometheus.CounterVec
	// roomWaits times the webhooks that waited for room in the outbox,
	// by whether they got it.
	roomWaits *prometheus.HistogramVec
	settings  atomic.Pointer[Settings]
	// fullLog rate-limits the log lines of refusals at the outbox's
	// bounds.
	fullLog *fanout.RepeatLimiter
}

// NewWebhook returns the webhook handler; zero limits take the defaults.
// Its metrics are registered with reg.
func NewWebhook(s Settings, limits Limits, logger *slog.Logger, reg prometheus.Registerer) *Webhook {
	limits.normalise()
	w := &Webhook{
		limits: limits, inflight: semaphore.NewWeighted(limits.MaxInflightBytes), logger: logger,
		fullLog: fanout.NewRepeatLimiter(fullLogInterval),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "am_fanout_webhook_requests_total",
			Help: "Webhook requests received, by HTTP status code answered.",
		}, []string{"code"}),
		roomWaits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "am_fanout_webhook_room_wait_seconds",
			Help:    "How long webhooks that found the outbox at its bounds waited for room (outbox.wait_for_room), by outcome: room (taken) or full (answered 503).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
	}
	// Both outcomes are exported from the start, at zero, so that their
	// rates exist before the first wait.
	w.roomWaits.WithLabelValues("room")
	w.roomWaits.WithLabelValues("full")
	reg.MustRegister(w.requests, w.roomWaits)
	w.settings.Store(&s)
	return w
}

// SetSettings installs settings from a reloaded config.
func (w *Webhook) SetSettings(s Settings) { w.settings.Store(&s) }

// AlertResult is the outcome of one alert of a notification.
type AlertResult struct {
	Fingerprint string                      `json:"fingerprint"`
	AlertName   string                      `json:"alertname,omitempty"`
	Status      core.AlertStatus            `json:"status"`
	Result      *core.ParallelPublishResult `json:"result,omitempty"`
	// Deliveries are the outbox's deliveries of the alert, per target.
	Deliveries []fanout.Accepted `json:"deliveries,omitempty"`
}

// alertResult names the alert and holds what became of it.
func alertResult(a *core.EnrichedAlert, res *core.ParallelPublishResult, ds []fanout.Accepted) AlertResult {
	return AlertResult{
		Fingerprint: a.Alert.Fingerprint, AlertName: a.Alert.Labels["alertname"],
		Status: a.Alert.Status, Result: res, Deliveries: ds,
	}
}

// Answer is the body of a webhook answer.
type Answer struct {
	// Status is "success" when every alert was delivered or had no target,
	// "retry" when Alertmanager should send the notification again.
	Status string        `json:"status"`
	Alerts []AlertResult `json:"alerts"`
	// Message explains an answer with nothing to deliver.
	Message string `json:"message,omitempty"`
}

func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	s := w.settings.Load()
	r, span := startAccept(r, s.Tracer)
	code, body := w.handle(r, s)
	endAccept(span, code)
	w.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	if code == http.StatusMethodNotAllowed {
		rw.Header().Set("Allow", http.MethodPost)
	}
	writeJSON(rw, code, body)
}

func (w *Webhook) handle(r *http.Request, s *Settings) (code int, body any) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, errorBody("method %s not allowed: send the notification with POST", r.Method)
	}
	if !authorized(r, s.BearerToken) {
		return http.StatusUnauthorized, errorBody("missing or wrong bearer token: set http_config.authorization in Alertmanager's webhook_config")
	}
	max := w.limits.MaxBodyBytes
	if r.ContentLength > max {
		return http.StatusRequestEntityTooLarge, errorBody("body of %d bytes is over the limit of %d bytes", r.ContentLength, max)
	}
	room := newRoomWait(r, s.RoomWait)
	defer func() { room.observe(w.roomWaits, code) }()
	if err := s.Outbox.Refuses(); err != nil {
		if fanout.RoomMayCome(err) {
			err = room.await(s.Outbox, err)
		}
		if err != nil {
			// A full outbox takes nothing: refused before the body is
			// read.
			return w.refused(r, err)
		}
	}
	release, ok := w.reserve(r)
	if !ok {
		return http.StatusServiceUnavailable, errorBody("too many webhook bodies are being handled at once (%d bytes, --webhook.max-inflight-bytes): retry", w.limits.MaxInflightBytes)
	}
	defer release()
	// Decoding from the stream holds the decoded payload only, not a copy
	// of the body besides it.
	msg, err := enrich.Decode(http.MaxBytesReader(nil, r.Body, max))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, errorBody("body is over the limit of %d bytes", max)
		}
		w.logger.Warn("rejected webhook", "remote", r.RemoteAddr, "err", err)
		return http.StatusBadRequest, errorBody("%v", err)
	}
	describeAccept(r.Context(), msg)
	if len(msg.Alerts) == 0 {
		return http.StatusOK, Answer{Status: "success", Alerts: []AlertResult{}, Message: "the notification holds no alerts: nothing to deliver"}
	}
	return w.viaOutbox(r, s, room, s.Enricher.Enrich(msg))
}

// reserve waits up to BodyWait for room for the request's body among the
// bodies in flight; ok is false when there was none.
func (w *Webhook) reserve(r *http.Request) (release func(), ok bool) {
	n := w.limits.MaxBodyBytes
	if r.ContentLength > 0 {
		n = r.ContentLength
	}
	n = min(n, w.limits.MaxInflightBytes)
	ctx, cancel := context.WithTimeout(r.Context(), w.limits.BodyWait)
	defer cancel()
	if err := w.inflight.Acquire(ctx, n); err != nil {
		return nil, false
	}
	return func() { w.inflight.Release(n) }, true
}

// Authorized reports whether the request carries the bearer token of the
// settings in force, if they have one.
func (h *Webhook) Authorized(r *http.Request) bool {
	return authorized(r, h.settings.Load().BearerToken)
}

// Reads guards a read endpoint: with a bearer token set, a request to a
// path not in OpenPaths needs it, as the webhook does (401 otherwise).
// path is the endpoint's path as receiver.open_paths names it.
func (h *Webhook) Reads(path string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s := h.settings.Load()
		if s.BearerToken != "" && !slices.Contains(s.OpenPaths, path) && !authorized(r, s.BearerToken) {
			writeJSON(rw, http.StatusUnauthorized, errorBody("missing or wrong bearer token: %s takes the webhook's token (receiver.bearer_token), or list it in receiver.open_paths", path))
			return
		}
		next.ServeHTTP(rw, r)
	})
}

func authorized(r *http.Request, token string) bool {
	if token == "" {
		return true
	}
	want := "Bearer " + token
	got := r.Header.Get("Authorization")
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

type errorAnswer struct {
	Error string `json:"error"`
}

func errorBody(format string, args ...any) errorAnswer {
	return errorAnswer{Error: fmt.Sprintf(format, args...)}
}

func writeJSON(rw http.ResponseWriter, code int, body any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	// Compact, as Alertmanager's and Prometheus's APIs answer: indenting
	// an answer of ten deliveries per alert took about 2 % of the CPU
	// per delivery under load (BENCHMARKS.md).
	enc := json.NewEncoder(rw)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}
