package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// webhookSecret is in every test webhook URL, to prove it never leaks.
const webhookSecret = "tok-5ecr3t-do-not-leak"

// webhookRequest is what the fake endpoint received.
type webhookRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

// webhookServer is a local HTTP endpoint that records every request and
// answers with the handler's status, headers and body.
type webhookServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []webhookRequest
}

func newWebhookServer(t testing.TB, answer http.HandlerFunc) *webhookServer {
	t.Helper()
	s := &webhookServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, webhookRequest{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
		s.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// url is the server's URL with the secret token in path and query, as
// Slack-style webhook URLs carry it.
func (s *webhookServer) url() string {
	return s.URL + "/hooks/" + webhookSecret + "?token=" + webhookSecret
}

func (s *webhookServer) received(t *testing.T) []webhookRequest {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]webhookRequest(nil), s.reqs...)
}

func webhookStatus(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// newTestWebhook builds a webhook publisher through the package factory.
func newTestWebhook(t testing.TB, url, format string, hc commoncfg.HTTPClientConfig) core.Publisher {
	t.Helper()
	p, err := publish.New(&core.Target{Name: "ticketing", Type: "webhook", Spec: &Config{URL: publish.Secret(url), Format: format, HTTPConfig: hc}}, publish.Options{UserAgent: "am-fanout/1.2.3"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.(io.Closer).Close() })
	return p
}

func TestWebhookBody(t *testing.T) {
	tests := []struct {
		name, format, golden string
		alert                *core.EnrichedAlert
	}{
		{name: "alertmanager firing", format: FormatAlertmanager, golden: "alertmanager-firing.json", alert: publishtest.Alert()},
		{name: "alertmanager resolved", format: FormatAlertmanager, golden: "alertmanager-resolved.json", alert: publishtest.ResolvedAlert()},
		{name: "enriched firing", format: FormatEnriched, golden: "enriched-firing.json", alert: publishtest.Alert()},
		{name: "enriched resolved", format: FormatEnriched, golden: "enriched-resolved.json", alert: publishtest.ResolvedAlert()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWebhookServer(t, webhookStatus(http.StatusOK))
			p := newTestWebhook(t, srv.url(), tc.format, commoncfg.DefaultHTTPClientConfig)
			if err := p.Publish(context.Background(), tc.alert); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			reqs := srv.received(t)
			if len(reqs) != 1 {
				t.Fatalf("server got %d requests, want exactly 1 (publishers never retry)", len(reqs))
			}
			r := reqs[0]
			if r.method != http.MethodPost || r.path != "/hooks/"+webhookSecret {
				t.Errorf("request is %s %s, want POST to the configured path", r.method, r.path)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if ua := r.header.Get("User-Agent"); ua != "am-fanout/1.2.3" {
				t.Errorf("User-Agent = %q, want the one from Options", ua)
			}
			publishtest.AssertGolden(t, tc.golden, r.body)
		})
	}
}

// TestWebhookAlertmanagerMessageHoldsOneAlert checks the v4 payload
// against Alertmanager's webhook contract, field by field.
func TestWebhookAlertmanagerMessageHoldsOneAlert(t *testing.T) {
	a := publishtest.Alert()
	a.Alert.Status = core.StatusResolved
	body, err := json.Marshal(publish.AlertmanagerMessage(a))
	if err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "version", "groupKey", "truncatedAlerts"} {
		if _, ok := msg[key]; !ok {
			t.Errorf("message has no %q field, which Alertmanager's webhook payload always has", key)
		}
	}
	if len(msg) != 10 {
		t.Errorf("message has %d fields, want the 10 of Alertmanager's payload: %v", len(msg), msg)
	}
	if msg["version"] != "4" || msg["status"] != "resolved" || msg["groupKey"] != a.Group.GroupKey {
		t.Errorf("version %v, status %v, groupKey %v: want 4, the alert's own status, the group's key", msg["version"], msg["status"], msg["groupKey"])
	}
	if alerts, _ := msg["alerts"].([]any); len(alerts) != 1 {
		t.Errorf("message holds %d alerts, want only this one", len(alerts))
	}
}

func TestWebhookEmptyMapsAreObjects(t *testing.T) {
	a := publishtest.Alert()
	a.Alert.Annotations, a.Group.GroupLabels = nil, nil
	body, err := json.Marshal(publish.AlertmanagerMessage(a))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"groupLabels":{}`, `"commonAnnotations":{}`, `"annotations":{}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %s: Alertmanager sends empty maps as {}, never null\n%s", want, body)
		}
	}
}

func TestWebhookOutcome(t *testing.T) {
	retryAt := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	tests := []struct {
		name          string
		status        int
		retryAfter    string
		wantOK        bool
		wantRetryable bool
		wantWait      func(time.Duration) bool
	}{
		{name: "200 ok", status: 200, wantOK: true},
		{name: "202 accepted", status: 202, wantOK: true},
		{name: "204 no content", status: 204, wantOK: true},
		{name: "429 with seconds", status: 429, retryAfter: "17", wantRetryable: true,
			wantWait: func(d time.Duration) bool { return d == 17*time.Second }},
		{name: "429 with http date", status: 429, retryAfter: retryAt, wantRetryable: true,
			wantWait: func(d time.Duration) bool { return d > time.Minute && d <= 2*time.Minute }},
		{name: "500 retryable", status: 500, wantRetryable: true},
		{name: "503 retryable", status: 503, wantRetryable: true},
		{name: "400 permanent", status: 400},
		{name: "404 permanent", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWebhookServer(t, func(w http.ResponseWriter, _ *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, `{"message":"answer from the endpoint"}`)
			})
			p := newTestWebhook(t, srv.url(), FormatAlertmanager, commoncfg.DefaultHTTPClientConfig)
			err := p.Publish(context.Background(), publishtest.Alert())
			if tc.wantOK {
				if err != nil {
					t.Fatalf("Publish: %v, want success on %d", err, tc.status)
				}
				return
			}
			if err == nil {
				t.Fatalf("Publish succeeded on %d, want a failure", tc.status)
			}
			if got := core.IsRetryable(err); got != tc.wantRetryable {
				t.Errorf("retryable = %v, want %v (%v)", got, tc.wantRetryable, err)
			}
			if got := core.StatusCode(err); got != tc.status {
				t.Errorf("status code = %d, want %d", got, tc.status)
			}
			if tc.wantWait != nil && !tc.wantWait(core.RetryAfter(err)) {
				t.Errorf("RetryAfter = %v does not match Retry-After %q", core.RetryAfter(err), tc.retryAfter)
			}
			if !strings.Contains(err.Error(), "answer from the endpoint") {
				t.Errorf("error %q does not quote the endpoint's answer", err)
			}
			if strings.Contains(err.Error(), webhookSecret) {
				t.Errorf("error %q leaks the URL's token", err)
			}
		})
	}
}

func TestWebhookConnectionRefusedIsRetryableAndRedacted(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := newTestWebhook(t, "http://"+addr+"/hooks/"+webhookSecret+"?token="+webhookSecret, FormatEnriched, commoncfg.DefaultHTTPClientConfig)
	err = p.Publish(context.Background(), publishtest.Alert())
	if err == nil {
		t.Fatal("Publish to a closed port succeeded")
	}
	if !core.IsRetryable(err) {
		t.Errorf("connection refused is not retryable: %v", err)
	}
	if got := core.ErrorType(err); got != core.ErrorTypeConnection {
		t.Errorf("error type = %q, want %q", got, core.ErrorTypeConnection)
	}
	if strings.Contains(err.Error(), webhookSecret) {
		t.Errorf("error %q leaks the URL's token", err)
	}
}

func TestWebhookDeadline(t *testing.T) {
	srv := newWebhookServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; the caller's deadline must end the delivery
	})
	p := newTestWebhook(t, srv.url(), FormatAlertmanager, commoncfg.DefaultHTTPClientConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Publish(ctx, publishtest.Alert())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish past the deadline = %v, want context.DeadlineExceeded", err)
	}
	if !core.IsRetryable(err) || core.ErrorType(err) != core.ErrorTypeTimeout {
		t.Errorf("timeout: retryable %v, type %q; want retryable %q", core.IsRetryable(err), core.ErrorType(err), core.ErrorTypeTimeout)
	}
	if strings.Contains(err.Error(), webhookSecret) {
		t.Errorf("error %q leaks the URL's token", err)
	}
}

func TestWebhookHTTPConfigAuth(t *testing.T) {
	tests := []struct {
		name string
		hc   commoncfg.HTTPClientConfig
		want string
	}{
		{
			name: "basic auth",
			hc: commoncfg.HTTPClientConfig{FollowRedirects: true,
				BasicAuth: &commoncfg.BasicAuth{Username: "am", Password: "pa55"}},
			want: "Basic YW06cGE1NQ==",
		},
		{
			name: "bearer authorization",
			hc: commoncfg.HTTPClientConfig{FollowRedirects: true,
				Authorization: &commoncfg.Authorization{Type: "Bearer", Credentials: "t0ken"}},
			want: "Bearer t0ken",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWebhookServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != tc.want {
					w.WriteHeader(http.StatusUnauthorized)
				}
			})
			p := newTestWebhook(t, srv.url(), FormatEnriched, tc.hc)
			if err := p.Publish(context.Background(), publishtest.Alert()); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if got := srv.received(t)[0].header.Get("Authorization"); got != tc.want {
				t.Errorf("Authorization = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestWebhookRenderIsWhatPublishSends keeps the dry run honest.
func TestWebhookRenderIsWhatPublishSends(t *testing.T) {
	srv := newWebhookServer(t, webhookStatus(http.StatusOK))
	p := newTestWebhook(t, srv.url(), FormatAlertmanager, commoncfg.DefaultHTTPClientConfig)
	reqs, err := p.(publish.Renderer).Render(context.Background(), publishtest.Alert())
	if err != nil || len(reqs) != 1 {
		t.Fatalf("Render = %d requests, %v; want 1", len(reqs), err)
	}
	rendered, err := io.ReadAll(reqs[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	if reqs[0].Method != http.MethodPost || reqs[0].URL.String() != srv.url() {
		t.Errorf("Render built %s to another URL than configured", reqs[0].Method)
	}
	if err := p.Publish(context.Background(), publishtest.Alert()); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if sent := srv.received(t)[0].body; string(sent) != string(rendered) {
		t.Errorf("Publish sent a different body than Render built:\nsent:     %s\nrendered: %s", sent, rendered)
	}
}

// TestWebhooksShareABodyThroughTheMemo: webhooks of one format that an
// alert fans out to send the body the first one rendered; another
// format renders its own; each request keeps its own webhook-id.
func TestWebhooksShareABodyThroughTheMemo(t *testing.T) {
	srv := newWebhookServer(t, webhookStatus(http.StatusOK))
	newHook := func(name, format string) core.Publisher {
		p, err := publish.New(&core.Target{Name: name, Type: "webhook", Spec: &Config{URL: publish.Secret(srv.url()), Format: format, HTTPConfig: commoncfg.DefaultHTTPClientConfig}}, publish.Options{})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { p.(io.Closer).Close() })
		return p
	}
	ctx := core.WithRenderMemo(context.Background(), new(core.RenderMemo))
	a := publishtest.Alert()
	for _, p := range []core.Publisher{newHook("one", FormatAlertmanager), newHook("two", FormatAlertmanager), newHook("three", FormatEnriched)} {
		if err := p.Publish(ctx, a); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	got := srv.received(t)
	if string(got[0].body) != string(got[1].body) {
		t.Errorf("two webhooks of format alertmanager sent different bodies:\n%s\n%s", got[0].body, got[1].body)
	}
	var enriched core.EnrichedAlert
	if err := json.Unmarshal(got[2].body, &enriched); err != nil || enriched.Alert.Fingerprint != a.Alert.Fingerprint {
		t.Errorf("the enriched webhook sent %s (%v), want the enriched alert", got[2].body, err)
	}
	if got[0].header.Get("webhook-id") == got[1].header.Get("webhook-id") {
		t.Error("two targets sent the same webhook-id: it names the target's message, not the body")
	}
}

func BenchmarkWebhookPublish(b *testing.B) {
	for _, format := range []string{FormatAlertmanager, FormatEnriched} {
		b.Run(format, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
			}))
			defer srv.Close()
			p := newTestWebhook(b, srv.URL+"/alerts", format, commoncfg.DefaultHTTPClientConfig)
			a := publishtest.Alert()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Publish(ctx, a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
