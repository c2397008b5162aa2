package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/enrich"
	"github.com/am-fanout/am-fanout/fanout"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakePublisher is an Outbox that answers every alert of a waiting
// accept with a result built by answer, and records the alerts it saw.
type fakePublisher struct {
	answer func(a *core.EnrichedAlert) *core.ParallelPublishResult
	mu     sync.Mutex
	seen   []*core.EnrichedAlert
	// ctxErr records whether any fan-out saw a cancelled context.
	ctxErr atomic.Bool
}

func (p *fakePublisher) Refuses() error { return nil }

func (p *fakePublisher) AwaitRoom(context.Context) error { return nil }

func (p *fakePublisher) Accept(ctx context.Context, alerts []*core.EnrichedAlert, wait bool) ([]fanout.AlertOutcome, error) {
	p.mu.Lock()
	p.seen = append(p.seen, alerts...)
	p.mu.Unlock()
	if ctx.Err() != nil {
		p.ctxErr.Store(true)
	}
	out := make([]fanout.AlertOutcome, len(alerts))
	for i, a := range alerts {
		out[i].Alert = a
		if wait {
			out[i].Result = p.answer(a)
		}
	}
	return out, nil
}

func delivered(*core.EnrichedAlert) *core.ParallelPublishResult {
	return core.NewParallelPublishResult([]core.TargetPublishResult{{TargetName: "t", Success: true}}, time.Millisecond)
}

func retryableFailure(*core.EnrichedAlert) *core.ParallelPublishResult {
	return core.NewParallelPublishResult([]core.TargetPublishResult{{TargetName: "t", Retryable: true,
		Error: core.Retryable(503, 0, io.ErrUnexpectedEOF), StatusCode: 503}}, time.Millisecond)
}

func permanentFailure(*core.EnrichedAlert) *core.ParallelPublishResult {
	return core.NewParallelPublishResult([]core.TargetPublishResult{{TargetName: "t",
		Error: core.Permanent(400, io.ErrUnexpectedEOF), StatusCode: 400}}, time.Millisecond)
}

// newTestWebhook waits for the first attempts, so that the answer says
// what p answered.
func newTestWebhook(t *testing.T, p Outbox, token string, maxBody int64) (*Webhook, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	w := NewWebhook(Settings{Outbox: p, WaitForFirstAttempt: true, Enricher: enrich.New(nil, nil), BearerToken: token}, Limits{MaxBodyBytes: maxBody},
		slog.New(slog.DiscardHandler), reg)
	return w, reg
}

func payload(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../enrich/testdata/payload.json")
	require.NoError(t, err)
	return b
}

func TestWebhookAnswers(t *testing.T) {
	valid := payload(t)
	tests := []struct {
		name      string
		method    string
		body      []byte
		answer    func(*core.EnrichedAlert) *core.ParallelPublishResult
		token     string
		header    string
		maxBody   int64
		wantCode  int
		wantInErr string
		published int
	}{
		{name: "delivered", body: valid, answer: delivered, wantCode: 200, published: 2},
		{name: "retryable failure stays accepted for the lanes to retry", body: valid, answer: retryableFailure, wantCode: 200, published: 2},
		{name: "permanent failure is not retried", body: valid, answer: permanentFailure, wantCode: 200, published: 2},
		{name: "no matching target", body: valid, answer: func(*core.EnrichedAlert) *core.ParallelPublishResult {
			return core.NewParallelPublishResult(nil, 0)
		}, wantCode: 200, published: 2},
		{name: "no alerts", body: []byte(`{"version":"4","status":"firing","alerts":[]}`), wantCode: 200},
		{name: "malformed JSON", body: []byte(`{"version":"4",`), wantCode: 400, wantInErr: "malformed JSON"},
		{name: "wrong version", body: []byte(`{"version":"3","alerts":[]}`), wantCode: 400, wantInErr: `version "3" is not supported`},
		{name: "bad alert status", body: []byte(`{"version":"4","alerts":[{"status":"pending","labels":{"a":"b"}}]}`), wantCode: 400, wantInErr: "alerts[0]"},
		{name: "wrong method", method: http.MethodGet, wantCode: 405, wantInErr: "POST"},
		{name: "body over the limit", body: valid, maxBody: 100, wantCode: 413, wantInErr: "limit of 100 bytes"},
		{name: "missing token", body: valid, token: "s3cret", wantCode: 401, wantInErr: "bearer token"},
		{name: "wrong token", body: valid, token: "s3cret", header: "Bearer nope", wantCode: 401, wantInErr: "bearer token"},
		{name: "right token", body: valid, answer: delivered, token: "s3cret", header: "Bearer s3cret", wantCode: 200, published: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakePublisher{answer: tt.answer}
			w, reg := newTestWebhook(t, p, tt.token, tt.maxBody)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/webhook", bytes.NewReader(tt.body))
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			w.ServeHTTP(rec, req)
			require.Equal(t, tt.wantCode, rec.Code, "body %s", rec.Body)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			var body map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "answer is not JSON: %s", rec.Body)
			if tt.wantInErr != "" {
				msg, _ := body["error"].(string)
				assert.Contains(t, msg, tt.wantInErr, "the error must say what is wrong")
				assert.NotContains(t, msg, "s3cret", "the error must not repeat the token")
			}
			assert.Len(t, p.seen, tt.published, "alerts published: nothing is half-delivered on bad input")
			assert.Equal(t, 1.0, testutil.ToFloat64(w.requests.WithLabelValues(strconv.Itoa(tt.wantCode))),
				"am_fanout_webhook_requests_total{code=%d}", tt.wantCode)
			n, err := testutil.GatherAndCount(reg, "am_fanout_webhook_requests_total")
			require.NoError(t, err)
			assert.Equal(t, 1, n, "webhook request series registered")
		})
	}
}

func TestWebhookAnswerListsEveryAlert(t *testing.T) {
	p := &fakePublisher{answer: delivered}
	w, _ := newTestWebhook(t, p, "", 0)
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(payload(t))))
	var ans struct {
		Status string
		Alerts []struct {
			Fingerprint, Status string
			Result              *struct {
				SuccessCount int `json:"success_count"`
				Results      []struct{ Target, Result, Duration string }
			}
		}
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ans))
	require.Equal(t, "success", ans.Status)
	require.Len(t, ans.Alerts, 2)
	want := []string{"firing", "resolved"}
	for i, a := range ans.Alerts {
		ok := a.Status == want[i] && a.Fingerprint != "" && a.Result != nil && a.Result.SuccessCount == 1 &&
			len(a.Result.Results) == 1 && a.Result.Results[0].Result == "success" && a.Result.Results[0].Duration != ""
		assert.True(t, ok, "alert %d: %+v, want status %s with a fingerprint and one success, in payload order", i, a, want[i])
	}
}

func TestWebhookOversizedBodyWithoutContentLength(t *testing.T) {
	p := &fakePublisher{answer: delivered}
	w, _ := newTestWebhook(t, p, "", 64)
	srv := httptest.NewServer(w)
	defer srv.Close()
	// A chunked body has no Content-Length: the limit must still hold
	// while reading.
	req, _ := http.NewRequest(http.MethodPost, srv.URL, io.MultiReader(bytes.NewReader(payload(t))))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Empty(t, p.seen, "alerts published from an oversized body")
}

func TestWebhookDeliveriesOutliveTheRequest(t *testing.T) {
	p := &fakePublisher{answer: delivered}
	w, _ := newTestWebhook(t, p, "", 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/webhook", bytes.NewReader(payload(t)))
	w.ServeHTTP(httptest.NewRecorder(), req)
	assert.False(t, p.ctxErr.Load(), "a fan-out saw the request's cancellation: accepted alerts must be delivered even when Alertmanager hangs up")
}

func TestSetSettingsSwapsPublisher(t *testing.T) {
	first, second := &fakePublisher{answer: delivered}, &fakePublisher{answer: delivered}
	w, _ := newTestWebhook(t, first, "", 0)
	w.SetSettings(Settings{Outbox: second, WaitForFirstAttempt: true, Enricher: enrich.New(nil, nil)})
	w.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(payload(t))))
	assert.Empty(t, first.seen, "a reload must route new webhooks away from the old publisher")
	assert.Len(t, second.seen, 2, "a reload must route new webhooks to the new publisher")
}
