package receiver

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/enrich"
	"github.com/am-fanout/am-fanout/fanout"
	"github.com/am-fanout/am-fanout/outbox"
)

// recordingOutbox answers Accept with result (for waited requests) or an
// accepted delivery, or fails with err; it records whether it was asked to
// wait.
type recordingOutbox struct {
	err    error
	result func(*core.EnrichedAlert) *core.ParallelPublishResult
	waited []bool
	// refuses is what Refuses answers.
	refuses error
	// roomIn, when set, is how long AwaitRoom takes to find room; it
	// then clears refuses and an ErrFull in err. Unset, it finds none.
	roomIn    time.Duration
	roomWaits int
}

func (o *recordingOutbox) Refuses() error { return o.refuses }

func (o *recordingOutbox) AwaitRoom(ctx context.Context) error {
	o.roomWaits++
	var room <-chan time.Time
	if o.roomIn > 0 {
		room = time.After(o.roomIn)
	}
	select {
	case <-room:
		o.refuses = nil
		if errors.Is(o.err, fanout.ErrFull) {
			o.err = nil
		}
		return nil
	case <-ctx.Done():
		return cmp.Or(o.refuses, o.err)
	}
}

func (o *recordingOutbox) Accept(_ context.Context, alerts []*core.EnrichedAlert, wait bool) ([]fanout.AlertOutcome, error) {
	o.waited = append(o.waited, wait)
	if o.err != nil {
		return nil, o.err
	}
	out := make([]fanout.AlertOutcome, len(alerts))
	for i, a := range alerts {
		out[i] = fanout.AlertOutcome{Alert: a,
			Deliveries: []fanout.Accepted{{Target: "t", ID: uint64(i + 1), State: outbox.StateAccepted}}}
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
		{"wait=true: what is not delivered yet stays accepted, no resend needed", "?wait=true", false, &recordingOutbox{result: retryableFailure}, 200, "accepted", true},
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
			require.Equal(t, tc.wantCode, rec.Code, "answer: %s", rec.Body)
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
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "answer is not JSON")
			assert.Equal(t, tc.wantStatus, body.Status, "status")
			if tc.outbox.err != nil {
				assert.NotEmpty(t, body.Error, "a refused webhook must say why in error: %s", rec.Body)
			} else if assert.NotEmpty(t, body.Alerts, "answer lists no alerts: %s", rec.Body) {
				assert.NotEmpty(t, body.Alerts[0].Deliveries, "answer lists no deliveries: %s", rec.Body)
			}
			assert.Equal(t, []bool{tc.wantWait}, tc.outbox.waited, "what the outbox was asked to wait for")
		})
	}
}

// TestWebhookFullOutboxRefusesUnread: an outbox that takes nothing (full,
// closing) gets a 503 with the reason before the body is read: not even
// a body that is not JSON is looked at, and nothing is offered to Accept.
func TestWebhookFullOutboxRefusesUnread(t *testing.T) {
	o := &recordingOutbox{refuses: fmt.Errorf("%w: 30000 deliveries pending, the bound is 30000", fanout.ErrFull)}
	w := NewWebhook(Settings{Enricher: enrich.New(nil, nil), Outbox: o}, Limits{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader("not JSON at all")))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, "answer: %s", rec.Body)
	var body struct {
		Error string `json:"error"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "answer is not JSON")
	assert.Contains(t, body.Error, "outbox is full: 30000 deliveries pending", "the answer says why")
	assert.Empty(t, o.waited, "a refused notification reached Accept")

	o.refuses = nil
	rec = httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(payload(t))))
	assert.Equal(t, http.StatusOK, rec.Code, "once the outbox has room: %s", rec.Body)
}

// TestWebhookWaitsForRoom: at the outbox's bounds a webhook waits up to
// RoomWait for room, before it reads its body and again when Accept
// refused what it read, and is answered 503 only when none came in
// that time; with no RoomWait it is answered 503 at once.
func TestWebhookWaitsForRoom(t *testing.T) {
	full := fmt.Errorf("%w: 30000 deliveries pending, the bound is 30000", fanout.ErrFull)
	for _, tc := range []struct {
		name       string
		wait       time.Duration
		outbox     *recordingOutbox
		wantCode   int
		wantTook   time.Duration
		wantWaits  int
		wantAccept int
		// wantTimed is the outcome label of the wait timed, "" for none.
		wantTimed string
	}{
		{"full before the body: room comes within the wait", 2 * time.Second, &recordingOutbox{refuses: full, roomIn: 1500 * time.Millisecond}, 200, 1500 * time.Millisecond, 1, 1, "room"},
		{"full before the body: no room within the wait", 2 * time.Second, &recordingOutbox{refuses: full}, 503, 2 * time.Second, 1, 0, "full"},
		{"refused after the body was read: room comes", 2 * time.Second, &recordingOutbox{err: full, roomIn: time.Second}, 200, time.Second, 1, 2, "room"},
		{"refused after the body was read: none comes", 2 * time.Second, &recordingOutbox{err: full}, 503, 2 * time.Second, 1, 1, "full"},
		{"no wait: 503 at once", 0, &recordingOutbox{refuses: full, roomIn: time.Millisecond}, 503, 0, 0, 0, ""},
		{"not full but closing: 503 at once", 2 * time.Second, &recordingOutbox{refuses: fanout.ErrClosing, roomIn: time.Millisecond}, 503, 0, 0, 0, ""},
		{"store error: 503 at once", 2 * time.Second, &recordingOutbox{err: errors.New("disk full"), roomIn: time.Millisecond}, 503, 0, 0, 1, ""},
		{"over the bounds after the body was read: 503 at once, no wait makes room", 2 * time.Second, &recordingOutbox{err: fmt.Errorf("%w: 600 deliveries, more than outbox.max_pending (500) holds at once", fanout.ErrOverBounds), roomIn: time.Millisecond}, 503, 0, 0, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				reg := prometheus.NewRegistry()
				w := NewWebhook(Settings{Enricher: enrich.New(nil, nil), Outbox: tc.outbox, RoomWait: tc.wait}, Limits{}, slog.New(slog.DiscardHandler), reg)
				rec := httptest.NewRecorder()
				start := time.Now()
				w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(payload(t))))
				assert.Equal(t, tc.wantCode, rec.Code, "answer: %s", rec.Body)
				assert.Equal(t, tc.wantTook, time.Since(start), "answered after")
				assert.Equal(t, tc.wantWaits, tc.outbox.roomWaits, "waits for room")
				assert.Len(t, tc.outbox.waited, tc.wantAccept, "calls to Accept")
				timed := map[string]uint64{}
				fams, err := reg.Gather()
				require.NoError(t, err)
				for _, f := range fams {
					if f.GetName() == "am_fanout_webhook_room_wait_seconds" {
						for _, m := range f.GetMetric() {
							if n := m.GetHistogram().GetSampleCount(); n > 0 {
								timed[m.GetLabel()[0].GetValue()] = n
								assert.InDelta(t, tc.wantTook.Seconds(), m.GetHistogram().GetSampleSum(), 1e-9, "the wait timed")
							}
						}
					}
				}
				want := map[string]uint64{}
				if tc.wantTimed != "" {
					want[tc.wantTimed] = 1
				}
				assert.Equal(t, want, timed, "waits timed, by outcome")
			})
		})
	}
}

// TestFullRefusalsLogOncePerInterval: refusals at the outbox's bounds log
// one line per fullLogInterval, which counts those held back; any other
// refusal logs every time. (The limiter's intervals: fanout's
// TestRepeatLimiterLetsOneLineThroughPerInterval.)
func TestFullRefusalsLogOncePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logged bytes.Buffer
		o := &recordingOutbox{refuses: fmt.Errorf("%w: 30000 deliveries pending, the bound is 30000", fanout.ErrFull)}
		w := NewWebhook(Settings{Enricher: enrich.New(nil, nil), Outbox: o}, Limits{}, slog.New(slog.NewTextHandler(&logged, nil)), prometheus.NewRegistry())
		post := func() {
			t.Helper()
			rec := httptest.NewRecorder()
			w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(payload(t))))
			require.Equal(t, http.StatusServiceUnavailable, rec.Code, "answer: %s", rec.Body)
		}
		for range 5 {
			post()
		}
		assert.Equal(t, 1, strings.Count(logged.String(), "webhook refused"), "five refusals at the bounds within the interval:\n%s", &logged)

		time.Sleep(fullLogInterval)
		post()
		assert.Equal(t, 2, strings.Count(logged.String(), "webhook refused"), "a refusal once the interval passed:\n%s", &logged)
		assert.Contains(t, logged.String(), "refused_unlogged=4", "the line counts the four held back")

		o.refuses = fanout.ErrClosing
		post()
		post()
		assert.Equal(t, 4, strings.Count(logged.String(), "webhook refused"), "refusals not at the bounds log each time:\n%s", &logged)
	})
}

func TestWebhookRejectsBadWait(t *testing.T) {
	o := &recordingOutbox{}
	w := NewWebhook(Settings{Enricher: enrich.New(nil, nil), Outbox: o}, Limits{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook?wait=maybe", bytes.NewReader(payload(t))))
	assert.Equal(t, http.StatusBadRequest, rec.Code, "wait=maybe")
	assert.Empty(t, o.waited, "wait=maybe must not reach the outbox")
}
