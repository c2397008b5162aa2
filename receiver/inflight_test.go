package receiver

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/am-fanout/am-fanout/enrich"
)

// Bodies in flight are bounded: a webhook that finds no room waits
// BodyWait, then gets a 503 that Alertmanager retries; once room is
// freed, webhooks are handled again.
func TestWebhookBodiesInFlightAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		body := payload(t)
		w := NewWebhook(Settings{Outbox: &fakePublisher{answer: delivered}, Enricher: enrich.New(nil, nil)},
			Limits{MaxBodyBytes: 1 << 20, MaxInflightBytes: int64(len(body)), BodyWait: 2 * time.Second},
			slog.New(slog.DiscardHandler), prometheus.NewRegistry())

		// The first webhook's body arrives slowly and holds the room.
		pr, pw := io.Pipe()
		slow := httptest.NewRequest(http.MethodPost, "/webhook", pr)
		slow.ContentLength = int64(len(body))
		slowDone := make(chan int)
		go func() {
			rec := httptest.NewRecorder()
			w.ServeHTTP(rec, slow)
			slowDone <- rec.Code
		}()
		synctest.Wait()

		start := time.Now()
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body)))
		if rec.Code != http.StatusServiceUnavailable || time.Since(start) != 2*time.Second {
			t.Errorf("a webhook without room: %d after %v, want 503 after the 2s wait: %s", rec.Code, time.Since(start), rec.Body)
		}

		go func() {
			_, _ = pw.Write(body)
			_ = pw.Close()
		}()
		if code := <-slowDone; code != http.StatusOK {
			t.Errorf("the slow webhook got %d, want 200", code)
		}
		rec = httptest.NewRecorder()
		w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body)))
		if rec.Code != http.StatusOK {
			t.Errorf("a webhook after the room was freed got %d, want 200: %s", rec.Code, rec.Body)
		}
	})
}
