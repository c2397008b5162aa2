package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/enrich"
	"github.com/am-fanout/am-fanout/outbox"
)

// recordingOutbox answers Accept with result (for waited requests) or an
// accepted delivery, or fails with err; it records whether it was asked to
// wait.
type recordingOutbox struct {
	err    error
	result func(*core.EnrichedAlert) *core.ParallelPublishResult
	waited []bool
}

func (o *recordingOutbox) Accept(_ context.Context, alerts []*core.EnrichedAlert, wait bool) ([]outbox.AlertOutcome, error) {
	o.waited = append(o.waited, wait)
	if o.err != nil {
		return nil, o.err
	}
	out := make([]outbox.AlertOutcome, len(alerts))
	for i, a := range alerts {
		out[i] = outbox.AlertOutcome{Alert: a,
			Deliveries: []outbox.Accepted{{Target: "t", ID: uint64(i + 1), State: outbox.StateAccepted}}}
		if wait {
			out[i].Result = o.result(a)
		}
	}
	return out, nil
}

// TestWebhookThroughOutbox: how /webhook answers when an outbox persists
// the deliveries.
func TestWebhookThroughOutbox(t *testing.T) {
	for _, tc := range []struct {
		name       string
		query      string
		waitConfig bool
		outbox     *recordingOutbox
		wantCode   int
		wantStatus string
		wantWait   bool
	}{
		{"persisted: 200 accepted without waiting", "", false, &recordingOutbox{}, 200, "accepted", false},
		{"wait=true answers the first attempts", "?wait=true", false, &recordingOutbox{result: delivered}, 200, "success", true},
		{"wait=true keeps the 503 rule", "?wait=true", false, &recordingOutbox{result: retryableFailure}, 503, "retry", true},
		{"wait=true with a permanent failure is 200", "?wait=true", false, &recordingOutbox{result: permanentFailure}, 200, "success", true},
		{"the config switch waits", "", true, &recordingOutbox{result: delivered}, 200, "success", true},
		{"wait=false overrides the config switch", "?wait=false", true, &recordingOutbox{}, 200, "accepted", false},
		{"cannot persist: 503 with an error", "", false, &recordingOutbox{err: errors.New("no space left on device")}, 503, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWebhook(Settings{Enricher: enrich.New(nil, nil), Outbox: tc.outbox, WaitForFirstAttempt: tc.waitConfig},
				Limits{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			rec := httptest.NewRecorder()
			w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook"+tc.query, bytes.NewReader(payload(t))))
			if rec.Code != tc.wantCode {
				t.Fatalf("answered %d, want %d: %s", rec.Code, tc.wantCode, rec.Body)
			}
			var body struct {
				Status string `json:"status"`
				Error  string `json:"error"`
				Alerts []struct {
					Fingerprint string `json:"fingerprint"`
					Deliveries  []struct {
						Target string `json:"target"`
						ID     uint64 `json:"id"`
						State  string `json:"state"`
					} `json:"deliveries"`
				} `json:"alerts"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("answer is not JSON: %v", err)
			}
			if body.Status != tc.wantStatus {
				t.Errorf("status %q, want %q", body.Status, tc.wantStatus)
			}
			if tc.outbox.err != nil && body.Error == "" {
				t.Errorf("a refused webhook must say why in error: %s", rec.Body)
			}
			if tc.outbox.err == nil {
				if len(body.Alerts) == 0 || len(body.Alerts[0].Deliveries) == 0 {
					t.Fatalf("answer lists no deliveries: %s", rec.Body)
				}
				a := body.Alerts[0]
				if d := a.Deliveries[0]; a.Fingerprint == "" || d.Target != "t" || d.ID != 1 || d.State != "accepted" {
					t.Errorf("first alert answered %+v, want its fingerprint and delivery {t 1 accepted}", a)
				}
			}
			if len(tc.outbox.waited) != 1 || tc.outbox.waited[0] != tc.wantWait {
				t.Errorf("outbox asked to wait %v, want [%v]", tc.outbox.waited, tc.wantWait)
			}
		})
	}
}

func TestWebhookRejectsBadWait(t *testing.T) {
	o := &recordingOutbox{}
	w := NewWebhook(Settings{Enricher: enrich.New(nil, nil), Outbox: o}, Limits{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook?wait=maybe", bytes.NewReader(payload(t))))
	if rec.Code != http.StatusBadRequest || len(o.waited) != 0 {
		t.Errorf("wait=maybe answered %d and reached the outbox %d times, want 400 and never", rec.Code, len(o.waited))
	}
}
