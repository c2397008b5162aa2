package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish/vendorfake"
)

const (
	slackTestHookPath = "/services/T000/B000/HOOKSECRET"
	slackTestToken    = "xoxb-1-2-TOKENSECRET"
)

// slackTestAlert is a firing critical alert with every link; resolved
// returns it resolved.
func slackTestAlert(resolved bool) *core.EnrichedAlert {
	starts := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	a := &core.EnrichedAlert{
		Alert: core.Alert{
			Fingerprint: "a1b2c3d4e5f60718",
			Status:      core.StatusFiring,
			Labels: map[string]string{
				"alertname": "HighLatency", "severity": "critical", "service": "checkout",
				"cluster": "eu-1", "instance": "10.0.0.7:8080", "pod": "checkout-7d9f",
			},
			Annotations: map[string]string{
				"summary":     "p99 latency above 2s",
				"description": "Checkout <p99> is 2.4s & rising",
			},
			StartsAt:     starts,
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=latency",
		},
		Group: core.Group{
			Receiver:    "fanout",
			Status:      core.StatusFiring,
			GroupKey:    `{}:{alertname="HighLatency"}`,
			GroupLabels: map[string]string{"alertname": "HighLatency", "service": "checkout"},
			ExternalURL: "http://alertmanager:9093",
		},
		Classification: core.Classification{Severity: core.SeverityCritical, RawSeverity: "critical"},
		Links: []core.Link{
			{Name: core.LinkRunbook, URL: "https://runbooks.example.com/high-latency"},
			{Name: core.LinkDashboard, URL: "https://grafana.example.com/d/checkout"},
			{Name: core.LinkSilence, URL: "http://alertmanager:9093/#/silences/new?filter=%7Balertname%3D%22HighLatency%22%7D"},
		},
		ReceivedAt: starts.Add(30 * time.Second),
	}
	if resolved {
		a.Alert.Status = core.StatusResolved
		a.Alert.EndsAt = a.Alert.StartsAt.Add(10 * time.Minute)
	}
	return a
}

// slackTestOversized is an alert whose every text is far over the limits.
func slackTestOversized() *core.EnrichedAlert {
	a := slackTestAlert(false)
	a.Alert.Labels["alertname"] = strings.Repeat("VeryLongAlertName", 30)
	a.Alert.Annotations["summary"] = strings.Repeat("summary & <text> ", 400)
	a.Alert.Annotations["description"] = strings.Repeat("é", 50000)
	for i := range 40 {
		a.Alert.Labels[fmt.Sprintf("label_%02d", i)] = strings.Repeat("v", 3000)
	}
	a.Links = append(a.Links, core.Link{Name: strings.Repeat("L", 100), URL: "https://example.com/x"},
		core.Link{Name: "huge", URL: "https://example.com/" + strings.Repeat("p", 4000)})
	return a
}

// slackTestLogger captures the publisher's logs, to prove no secret
// reaches them.
func slackTestLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func newSlackWebhookTest(t *testing.T, f *vendorfake.Slack, log *slog.Logger) *slack {
	t.Helper()
	spec := &config.Slack{URL: config.Secret(f.URL() + slackTestHookPath), HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	p, err := newSlack("slack-test", spec, Options{Logger: log, UserAgent: "am-fanout/test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newSlackBotTest(t *testing.T, f *vendorfake.Slack, storage string, update bool, log *slog.Logger) *slack {
	t.Helper()
	spec := &config.Slack{
		Token: slackTestToken, Channel: "#alerts", APIURL: f.APIURL(),
		ThreadTTL: model.Duration(time.Hour), UpdateOriginal: update,
		HTTPConfig: commoncfg.DefaultHTTPClientConfig,
	}
	p, err := newSlack("slack-bot", spec, Options{Logger: log, UserAgent: "am-fanout/test", StoragePath: storage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestSlackWebhookPostsBlockKitMessages(t *testing.T) {
	tests := []struct {
		name   string
		alert  *core.EnrichedAlert
		golden string
	}{
		{name: "firing", alert: slackTestAlert(false), golden: "slack/firing.json"},
		{name: "resolved", alert: slackTestAlert(true), golden: "slack/resolved.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := vendorfake.NewSlack(t, "")
			p := newSlackWebhookTest(t, f, nil)
			if err := p.Publish(context.Background(), tc.alert); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			calls := f.Calls()
			if len(calls) != 1 || calls[0].Path != slackTestHookPath {
				t.Fatalf("fake accepted %d posts, want 1 to the webhook", len(calls))
			}
			assertGolden(t, tc.golden, calls[0].Body)
		})
	}
}

func TestSlackTruncatesOversizedAlertVisibly(t *testing.T) {
	f := vendorfake.NewSlack(t, "")
	p := newSlackWebhookTest(t, f, nil)
	if err := p.Publish(context.Background(), slackTestOversized()); err != nil {
		t.Fatalf("Publish of an oversized alert: %v (the fake enforces Slack's limits)", err)
	}
	var msg slackMessage
	if err := json.Unmarshal(f.Calls()[0].Body, &msg); err != nil {
		t.Fatal(err)
	}
	blocks := msg.Attachments[0].Blocks
	for _, got := range []struct{ what, text string }{
		{"header", blocks[0].Text.Text}, {"section", blocks[1].Text.Text},
		{"a long label field", blocks[2].Fields[4].Text}, {"text fallback", msg.Text},
	} {
		if !strings.HasSuffix(got.text, "…") {
			t.Errorf("%s was not cut visibly: ends %q", got.what, tail(got.text))
		}
	}
	if n := len([]rune(msg.Text)); n > slackFallbackMax {
		t.Errorf("text fallback has %d characters, want ≤ %d", n, slackFallbackMax)
	}
	if last := blocks[2].Fields[9].Text; !strings.Contains(last, "more labels") {
		t.Errorf("10th field = %q, want a count of the labels left out", last)
	}
	if strings.Contains(string(f.Calls()[0].Body), strings.Repeat("p", 4000)) {
		t.Error("a link too long for a button was sent")
	}
}

func tail(s string) string {
	r := []rune(s)
	return string(r[max(len(r)-20, 0):])
}

func TestSlackWebhookOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		answer     vendorfake.Answer
		retryable  bool
		retryAfter time.Duration
		says       string
	}{
		{name: "invalid_payload is permanent", answer: vendorfake.Answer{Status: 400, Body: "invalid_payload"}, says: "invalid_payload"},
		{name: "action_prohibited is permanent", answer: vendorfake.Answer{Status: 403, Body: "action_prohibited"}, says: "action_prohibited"},
		{name: "channel_not_found is permanent", answer: vendorfake.Answer{Status: 404, Body: "channel_not_found"}, says: "channel_not_found"},
		{name: "channel_is_archived is permanent", answer: vendorfake.Answer{Status: 410, Body: "channel_is_archived"}, says: "channel_is_archived"},
		{name: "rollup_error is retryable", answer: vendorfake.Answer{Status: 500, Body: "rollup_error"}, retryable: true, says: "rollup_error"},
		{name: "429 is retryable after Retry-After", answer: vendorfake.Answer{Status: 429, Body: "rate_limited", RetryAfter: "7"}, retryable: true, retryAfter: 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := vendorfake.NewSlack(t, "")
			log, logs := slackTestLogger()
			p := newSlackWebhookTest(t, f, log)
			f.Script(tc.answer)
			err := p.Publish(context.Background(), slackTestAlert(false))
			assertDelivery(t, err, tc.answer.Status, tc.retryable, tc.retryAfter, tc.says)
			assertNoSlackSecret(t, err, logs)
			if err := p.Publish(context.Background(), slackTestAlert(false)); err != nil {
				t.Errorf("second Publish, once Slack recovered: %v", err)
			}
		})
	}
}

// assertDelivery checks that err is the classified failure wanted.
func assertDelivery(t *testing.T, err error, status int, retryable bool, retryAfter time.Duration, says string) {
	t.Helper()
	if err == nil {
		t.Fatal("Publish succeeded, want a failure")
	}
	if got := core.StatusCode(err); got != status {
		t.Errorf("status %d, want %d (%v)", got, status, err)
	}
	if got := core.IsRetryable(err); got != retryable {
		t.Errorf("retryable %v, want %v (%v)", got, retryable, err)
	}
	if got := core.RetryAfter(err); got != retryAfter {
		t.Errorf("retry after %v, want %v", got, retryAfter)
	}
	if !strings.Contains(err.Error(), says) {
		t.Errorf("error %q does not say %q", err, says)
	}
}

func assertNoSlackSecret(t *testing.T, err error, logs *bytes.Buffer) {
	t.Helper()
	for _, secret := range []string{"HOOKSECRET", "TOKENSECRET"} {
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals a secret: %v", err)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs reveal a secret:\n%s", logs)
		}
	}
}

func TestSlackWebhookNetworkErrorHidesURL(t *testing.T) {
	f := vendorfake.NewSlack(t, "")
	log, logs := slackTestLogger()
	p := newSlackWebhookTest(t, f, log)
	f.Close()
	err := p.Publish(context.Background(), slackTestAlert(false))
	if err == nil || !core.IsRetryable(err) {
		t.Fatalf("Publish to a closed server: %v, want a retryable error", err)
	}
	assertNoSlackSecret(t, err, logs)
}

func TestSlackBotThreadsResolutionAcrossRestart(t *testing.T) {
	f := vendorfake.NewSlack(t, slackTestToken)
	storage := t.TempDir()
	log, logs := slackTestLogger()
	first := newSlackBotTest(t, f, storage, true, log)
	if err := first.Publish(context.Background(), slackTestAlert(false)); err != nil {
		t.Fatalf("firing: %v", err)
	}
	// A new publisher over the same storage is what a restart leaves.
	second := newSlackBotTest(t, f, storage, true, log)
	if err := second.Publish(context.Background(), slackTestAlert(true)); err != nil {
		t.Fatalf("resolved: %v", err)
	}
	calls := f.Calls()
	if len(calls) != 3 {
		t.Fatalf("fake accepted %d calls, want post, threaded post, update", len(calls))
	}
	want := []struct{ path, channel, threadTS, ts, golden string }{
		{"/api/chat.postMessage", "#alerts", "", "", "slack/bot-firing.json"},
		{"/api/chat.postMessage", "CALERTS", "1700000000.000001", "", "slack/bot-resolved.json"},
		{"/api/chat.update", "CALERTS", "", "1700000000.000001", "slack/bot-update.json"},
	}
	for i, w := range want {
		c := calls[i]
		if c.Path != w.path || c.Msg["channel"] != w.channel || str(c.Msg["thread_ts"]) != w.threadTS || str(c.Msg["ts"]) != w.ts {
			t.Errorf("call %d: %s channel=%v thread_ts=%v ts=%v, want %s channel=%s thread_ts=%q ts=%q",
				i, c.Path, c.Msg["channel"], c.Msg["thread_ts"], c.Msg["ts"], w.path, w.channel, w.threadTS, w.ts)
		}
		assertGolden(t, w.golden, c.Body)
	}
	assertNoSlackSecret(t, nil, logs)
}

func str(v any) string { s, _ := v.(string); return s }

func TestSlackBotRenderMatchesPublish(t *testing.T) {
	f := vendorfake.NewSlack(t, slackTestToken)
	p := newSlackBotTest(t, f, t.TempDir(), true, nil)
	reqs, err := p.Render(context.Background(), slackTestAlert(true))
	if err != nil || len(reqs) != 1 {
		t.Fatalf("Render of an unknown resolution: %d requests, %v; want one unthreaded post", len(reqs), err)
	}
	if err := p.Publish(context.Background(), slackTestAlert(false)); err != nil {
		t.Fatal(err)
	}
	reqs, err = p.Render(context.Background(), slackTestAlert(true))
	if err != nil || len(reqs) != 2 {
		t.Fatalf("Render of a known resolution: %d requests, %v; want a threaded post and an update", len(reqs), err)
	}
	for i, path := range []string{"/api/chat.postMessage", "/api/chat.update"} {
		r := reqs[i]
		if r.URL.Path != path || r.Header.Get("Authorization") != "Bearer "+slackTestToken ||
			r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("request %d: %s %s auth set %v type %q", i, r.Method, r.URL.Path, r.Header.Get("Authorization") != "", r.Header.Get("Content-Type"))
		}
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"1700000000.000001"`) {
			t.Errorf("request %d does not refer to the firing message: %s", i, body)
		}
	}
	if len(f.Calls()) != 1 {
		t.Errorf("Render sent requests: the fake saw %d calls, want only the firing post", len(f.Calls()))
	}
}

func TestSlackBotOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		answer     vendorfake.Answer
		status     int
		retryable  bool
		retryAfter time.Duration
		says       string
	}{
		{name: "ok false is permanent", answer: vendorfake.Answer{Status: 200, Body: `{"ok":false,"error":"channel_not_found"}`}, status: 200, says: "channel_not_found"},
		{name: "ok false ratelimited is retryable", answer: vendorfake.Answer{Status: 200, Body: `{"ok":false,"error":"ratelimited"}`}, status: 200, retryable: true, says: "ratelimited"},
		{name: "ok false internal_error is retryable", answer: vendorfake.Answer{Status: 200, Body: `{"ok":false,"error":"internal_error"}`}, status: 200, retryable: true, says: "internal_error"},
		{name: "an answer that is not JSON is permanent", answer: vendorfake.Answer{Status: 200, Body: "ok"}, status: 200, says: "not Slack Web API JSON"},
		{name: "429 is retryable after Retry-After", answer: vendorfake.Answer{Status: 429, Body: `{"ok":false,"error":"ratelimited"}`, RetryAfter: "30"}, status: 429, retryable: true, retryAfter: 30 * time.Second, says: "ratelimited"},
		{name: "503 is retryable", answer: vendorfake.Answer{Status: 503, Body: "upstream"}, status: 503, retryable: true, says: "upstream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := vendorfake.NewSlack(t, slackTestToken)
			log, logs := slackTestLogger()
			p := newSlackBotTest(t, f, t.TempDir(), false, log)
			f.Script(tc.answer)
			err := p.Publish(context.Background(), slackTestAlert(false))
			assertDelivery(t, err, tc.status, tc.retryable, tc.retryAfter, tc.says)
			assertNoSlackSecret(t, err, logs)
			if err := p.Publish(context.Background(), slackTestAlert(false)); err != nil {
				t.Errorf("second Publish, once Slack recovered: %v", err)
			}
		})
	}
}

func TestSlackBotWrongTokenIsPermanentAndHidden(t *testing.T) {
	f := vendorfake.NewSlack(t, "xoxb-the-real-one")
	log, logs := slackTestLogger()
	p := newSlackBotTest(t, f, t.TempDir(), false, log)
	err := p.Publish(context.Background(), slackTestAlert(false))
	assertDelivery(t, err, 200, false, 0, "invalid_auth")
	assertNoSlackSecret(t, err, logs)
}

func TestSlackBotStoreFailureStillDelivers(t *testing.T) {
	f := vendorfake.NewSlack(t, slackTestToken)
	blocked := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	log, logs := slackTestLogger()
	p := newSlackBotTest(t, f, blocked, false, log)
	if err := p.Publish(context.Background(), slackTestAlert(false)); err != nil {
		t.Fatalf("Publish with an unwritable store: %v, want the message delivered", err)
	}
	if !strings.Contains(logs.String(), "cannot remember the Slack message") {
		t.Errorf("the store failure was not logged:\n%s", logs)
	}
	if err := p.Publish(context.Background(), slackTestAlert(true)); err != nil {
		t.Fatalf("resolved with an unwritable store: %v", err)
	}
	if got := f.Calls()[1].Msg["thread_ts"]; got != nil {
		t.Errorf("resolution threaded under %v, want a plain post when the thread is unknown", got)
	}
	assertNoSlackSecret(t, nil, logs)
}

func TestSlackBotThreadsRepeatsButNotNewFirings(t *testing.T) {
	f := vendorfake.NewSlack(t, slackTestToken)
	p := newSlackBotTest(t, f, t.TempDir(), false, nil)
	later := slackTestAlert(false)
	later.Alert.StartsAt = later.Alert.StartsAt.Add(time.Hour)
	for i, a := range []*core.EnrichedAlert{slackTestAlert(false), slackTestAlert(false), later, slackTestAlert(true)} {
		if err := p.Publish(context.Background(), a); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	want := []string{"", "1700000000.000001", "", "1700000000.000001"}
	for i, c := range f.Calls() {
		if got := str(c.Msg["thread_ts"]); got != want[i] {
			t.Errorf("post %d thread_ts = %q, want %q (repeats and the resolution thread under their own firing)", i, got, want[i])
		}
	}
}
