package receiver

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/fanout"
)

// Outbox persists every delivery of a notification before the webhook
// answers, then attempts them. With wait it returns after the first
// attempts, with their results in AlertOutcome.Result; without, as soon as
// the deliveries are durable. An error means nothing was persisted.
type Outbox interface {
	Accept(ctx context.Context, alerts []*core.EnrichedAlert, wait bool) ([]fanout.AlertOutcome, error)
	// Refuses says why the outbox takes no delivery at all now (full,
	// closing), nil when it may take one; asked before the body is read.
	Refuses() error
	// AwaitRoom waits until Refuses would say nil and returns nil; when
	// ctx ends first, or the outbox stops the waits (shutdown), it
	// returns what Refuses says then.
	AwaitRoom(ctx context.Context) error
}

// viaOutbox answers 200 once the deliveries are persisted ("accepted");
// when waiting, after their first attempts, "success" if every alert was
// delivered (or had no target) and "accepted" if some still wait in their
// targets' lanes, which retry them. 503 only when they cannot be
// persisted, so that Alertmanager sends the notification again: a
// persisted delivery needs no resend, which would only be deduplicated.
func (w *Webhook) viaOutbox(r *http.Request, s *Settings, room *roomWait, alerts []*core.EnrichedAlert) (int, any) {
	wait := s.WaitForFirstAttempt
	if v := r.URL.Query().Get("wait"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return http.StatusBadRequest, errorBody("wait=%q is not a boolean", v)
		}
		wait = b
	}
	// As without an outbox, deliveries go on when Alertmanager gives up
	// waiting.
	ctx := context.WithoutCancel(r.Context())
	got, err := s.Outbox.Accept(ctx, alerts, wait)
	for fanout.RoomMayCome(err) && room.await(s.Outbox, err) == nil {
		// Refused at the bounds after the body was read: it waits for
		// the room it needs, as a webhook waits before it reads one.
		got, err = s.Outbox.Accept(ctx, alerts, wait)
	}
	if err != nil {
		return w.refused(r, err)
	}
	countAccepted(r.Context(), got)
	results := make([]AlertResult, len(got))
	for i, o := range got {
		results[i] = alertResult(o.Alert, o.Result, o.Deliveries)
	}
	if !wait {
		return http.StatusOK, Answer{Status: "accepted", Alerts: results}
	}
	answer := Answer{Status: "success", Alerts: results}
	for _, a := range results {
		if a.Result != nil && a.Result.NeedsRetry() {
			answer.Status = "accepted"
		}
	}
	return http.StatusOK, answer
}

// refused answers a notification the outbox did not take: 503, so that
// Alertmanager sends it again. Refusals at the outbox's bounds are logged
// at most once per fullLogInterval (a storm at the bounds refuses most
// webhooks); any other, a store that cannot write, each time.
func (w *Webhook) refused(r *http.Request, err error) (int, any) {
	answer := errorBody("deliveries could not be persisted, send the notification again: %v", err)
	attrs := []any{"remote", r.RemoteAddr, "err", err}
	if errors.Is(err, fanout.ErrFull) {
		ok, held := w.fullLog.Allow("full", time.Now())
		if !ok {
			return http.StatusServiceUnavailable, answer
		}
		attrs = append(attrs, "refused_unlogged", held)
	}
	w.logger.Error("webhook refused: deliveries could not be persisted", attrs...)
	return http.StatusServiceUnavailable, answer
}

// roomWait is how long one webhook may still wait for room in the outbox
// (Settings.RoomWait), counted from its arrival, over every wait it makes.
type roomWait struct {
	ctx      context.Context
	deadline time.Time
	// waited is when the first wait began, zero if none did.
	waited time.Time
}

func newRoomWait(r *http.Request, wait time.Duration) *roomWait {
	return &roomWait{ctx: r.Context(), deadline: time.Now().Add(wait)}
}

// await waits for room in o, which refused with full, until the
// webhook's deadline or until its client goes away: nil when there is
// room now, else why not.
func (rw *roomWait) await(o Outbox, full error) error {
	if !time.Now().Before(rw.deadline) {
		return full
	}
	if rw.waited.IsZero() {
		rw.waited = time.Now()
	}
	ctx, cancel := context.WithDeadline(rw.ctx, rw.deadline)
	defer cancel()
	return o.AwaitRoom(ctx)
}

// observe times a webhook that waited for room, answered code, in h.
func (rw *roomWait) observe(h *prometheus.HistogramVec, code int) {
	if rw.waited.IsZero() {
		return
	}
	outcome := "room"
	if code == http.StatusServiceUnavailable {
		outcome = "full"
	}
	h.WithLabelValues(outcome).Observe(time.Since(rw.waited).Seconds())
}

// fullLogInterval is how often refusals at the outbox's bounds are
// logged; each line counts those held back since the one before it, and
// am_fanout_webhook_requests_total{code="503"} counts every one.
const fullLogInterval = 10 * time.Second
