package receiver

import (
	"context"
	"net/http"
	"strconv"

	"github.com/am-fanout/am-fanout/core"
)

// Outbox persists every delivery of a notification before the webhook
// answers, then attempts them. With wait it returns after the first
// attempts, with their results in AlertResult.Result; without, as soon as
// the deliveries are durable. An error means nothing was persisted.
type Outbox interface {
	Accept(ctx context.Context, alerts []*core.EnrichedAlert, wait bool) ([]AlertResult, error)
}

// Delivery is the outbox's fate of one (alert, target) delivery:
// accepted, already_delivered, already_pending or stale.
type Delivery struct {
	Target string `json:"target"`
	ID     uint64 `json:"id,omitempty"`
	State  string `json:"state"`
}

// viaOutbox answers 200 once the deliveries are persisted ("accepted"),
// or, when waiting, by the same rules as without an outbox; 503 when they
// cannot be persisted, so that Alertmanager sends the notification again.
func (w *Webhook) viaOutbox(r *http.Request, s *Settings, alerts []*core.EnrichedAlert) (int, any) {
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
	results, err := s.Outbox.Accept(context.WithoutCancel(r.Context()), alerts, wait)
	if err != nil {
		w.logger.Error("webhook refused: deliveries could not be persisted", "remote", r.RemoteAddr, "err", err)
		return http.StatusServiceUnavailable, errorBody("deliveries could not be persisted, send the notification again: %v", err)
	}
	if !wait {
		return http.StatusOK, Answer{Status: "accepted", Alerts: results}
	}
	answer := Answer{Status: "success", Alerts: results}
	for _, a := range results {
		if a.Result != nil && a.Result.NeedsRetry() {
			answer.Status = "retry"
			return http.StatusServiceUnavailable, answer
		}
	}
	return http.StatusOK, answer
}
