package publish

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish/vendorfake"
)

const (
	rootlyTestToken  = "rootly-api-token-SECRET"
	rootlyTestSecret = "rootly-source-secret-SECRET"
)

// vendorAlert is the alert the rootly and msteams tests deliver.
func vendorAlert(status core.AlertStatus) *core.EnrichedAlert {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	labels := map[string]string{
		"alertname": "HighErrorRate", "severity": "critical", "service": "checkout",
		"namespace": "shop", "instance": "checkout-7d9f:8080",
	}
	a := &core.EnrichedAlert{
		Alert: core.Alert{
			Fingerprint: "4f3a2b1c0d9e8f7a",
			Status:      status,
			Labels:      labels,
			Annotations: map[string]string{
				"summary":     "Checkout error rate above 5%",
				"description": "5.2% of checkout requests failed over the last 10 minutes.",
				"runbook_url": "https://runbooks.example.com/checkout-errors",
				"team":        "payments",
			},
			StartsAt:     start,
			GeneratorURL: "http://prometheus.example.com/graph?g0.expr=rate%28errors%5B5m%5D%29",
		},
		Group: core.Group{
			Receiver: "am-fanout", Status: status, GroupKey: `{}:{alertname="HighErrorRate"}`,
			GroupLabels:       map[string]string{"alertname": "HighErrorRate"},
			CommonLabels:      labels,
			CommonAnnotations: map[string]string{"summary": "Checkout error rate above 5%"},
			ExternalURL:       "http://alertmanager.example.com",
		},
		Classification: core.Classification{Severity: core.SeverityCritical, RawSeverity: "critical"},
		Links: []core.Link{
			{Name: core.LinkSource, URL: "http://prometheus.example.com/graph?g0.expr=rate%28errors%5B5m%5D%29"},
			{Name: core.LinkRunbook, URL: "https://runbooks.example.com/checkout-errors"},
			{Name: core.LinkDashboard, URL: "https://grafana.example.com/d/checkout"},
			{Name: core.LinkSilence, URL: "http://alertmanager.example.com/#/silences/new?filter=%7Balertname%3D%22HighErrorRate%22%7D"},
		},
		ReceivedAt: start.Add(30 * time.Second),
	}
	if status == core.StatusResolved {
		a.Alert.EndsAt = start.Add(15 * time.Minute)
	}
	return a
}

// bufferLogger returns a logger writing text lines into the buffer.
func bufferLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestRootly builds a rootly publisher for the fake in the given mode.
func newTestRootly(t *testing.T, f *vendorfake.Rootly, mode string, o Options, edit ...func(*config.Rootly)) *rootly {
	t.Helper()
	s := &config.Rootly{Mode: mode, HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	if mode == config.RootlyModeAlertmanager {
		s.URL, s.Secret = config.Secret(f.SourceURL()), rootlyTestSecret
	} else {
		s.APIURL, s.APIToken = f.URL(), rootlyTestToken
	}
	for _, e := range edit {
		e(s)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := newRootly("rootly-test", s, o)
	if err != nil {
		t.Fatalf("newRootly: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRootlyAlertmanagerModePostsTheV4Payload(t *testing.T) {
	for _, status := range []core.AlertStatus{core.StatusFiring, core.StatusResolved} {
		t.Run(string(status), func(t *testing.T) {
			f := vendorfake.NewRootly(t, rootlyTestToken, rootlyTestSecret)
			r := newTestRootly(t, f, config.RootlyModeAlertmanager, Options{})
			if err := r.Publish(context.Background(), vendorAlert(status)); err != nil {
				t.Fatalf("Publish: want success, got %v", err)
			}
			got := f.Bodies(vendorfake.RootlySourcePath)
			if len(got) != 1 {
				t.Fatalf("alert source received %d payloads, want 1", len(got))
			}
			assertGolden(t, "rootly/alertmanager_"+string(status)+".json", got[0])
		})
	}
}

func TestRootlyAlertsAPICreatesThenResolvesByID(t *testing.T) {
	f := vendorfake.NewRootly(t, rootlyTestToken, rootlyTestSecret)
	storage := t.TempDir()
	r := newTestRootly(t, f, config.RootlyModeAlertsAPI, Options{StoragePath: storage},
		func(s *config.Rootly) { s.NotificationTargetType, s.NotificationTargetID = "EscalationPolicy", "ep-42" })

	if err := r.Publish(context.Background(), vendorAlert(core.StatusFiring)); err != nil {
		t.Fatalf("Publish firing: want success, got %v", err)
	}
	created := f.Bodies(vendorfake.RootlyAlertsPath)
	if len(created) != 1 {
		t.Fatalf("Rootly created %d alerts, want 1", len(created))
	}
	assertGolden(t, "rootly/api_firing.json", created[0])

	// A new publisher over the same storage stands for a restart.
	restarted := newTestRootly(t, f, config.RootlyModeAlertsAPI, Options{StoragePath: storage})
	if err := restarted.Publish(context.Background(), vendorAlert(core.StatusResolved)); err != nil {
		t.Fatalf("Publish resolved after a restart: want success, got %v", err)
	}
	resolved := f.Bodies(vendorfake.RootlyResolved)
	if len(resolved) != 1 {
		t.Fatalf("Rootly resolved %d alerts, want 1", len(resolved))
	}
	assertGolden(t, "rootly/api_resolve.json", resolved[0])
	if _, ok, _ := restarted.ids.get(firingKey(vendorAlert(core.StatusResolved)), time.Now()); ok {
		t.Error("the id is still stored after the resolve succeeded")
	}
}

func TestRootlyAlertsAPIUsesTemplatesAndKeepsLongTextWhole(t *testing.T) {
	f := vendorfake.NewRootly(t, rootlyTestToken, rootlyTestSecret)
	r := newTestRootly(t, f, config.RootlyModeAlertsAPI, Options{}, func(s *config.Rootly) {
		s.Templates = config.Templates{"summary": `{{ .Alert.Labels.service | toUpper }} is failing`}
	})
	a := vendorAlert(core.StatusFiring)
	long := strings.Repeat("stack frame\n", 20000)
	a.Alert.Annotations["description"] = long
	if err := r.Publish(context.Background(), a); err != nil {
		t.Fatalf("Publish: want success, got %v", err)
	}
	body := string(f.Bodies(vendorfake.RootlyAlertsPath)[0])
	if !strings.Contains(body, `"summary":"CHECKOUT is failing"`) {
		t.Errorf("the summary template was not used: %.300s", body)
	}
	// Rootly documents no length limit, so nothing may be cut.
	if !strings.Contains(body, strings.ReplaceAll(long, "\n", `\n`)) {
		t.Error("the long description was not sent whole")
	}
}

func TestRootlyOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		mode      string
		answers   []vendorfake.Answer
		edit      func(*config.Rootly)
		status    core.AlertStatus
		retryable bool
		code      int
		wait      time.Duration
		wantText  string
		requests  int
	}{
		{
			name: "429 from the API is retryable with Retry-After", mode: config.RootlyModeAlertsAPI, status: core.StatusFiring,
			answers:   []vendorfake.Answer{{Status: 429, RetryAfter: "7", Body: `{"errors":[{"title":"Too many requests"}]}`}},
			retryable: true, code: 429, wait: 7 * time.Second, wantText: "Too many requests", requests: 1,
		},
		{
			name: "429 from the alert source is retryable", mode: config.RootlyModeAlertmanager, status: core.StatusFiring,
			answers:   []vendorfake.Answer{{Status: 429, RetryAfter: "3"}},
			retryable: true, code: 429, wait: 3 * time.Second, requests: 1,
		},
		{
			name: "5xx is retryable", mode: config.RootlyModeAlertsAPI, status: core.StatusFiring,
			answers:   []vendorfake.Answer{{Status: 503, Body: `{"errors":[{"title":"Service Unavailable"}]}`}},
			retryable: true, code: 503, wantText: "Service Unavailable", requests: 1,
		},
		{
			name: "422 is permanent and quotes the JSON:API error", mode: config.RootlyModeAlertsAPI, status: core.StatusFiring,
			answers: []vendorfake.Answer{{Status: 422, Body: `{"errors":[{"title":"is invalid","detail":"notification_target_id - is invalid"}]}`}},
			code:    422, wantText: "notification_target_id - is invalid", requests: 1,
		},
		{
			name: "a wrong API key is a permanent 401", mode: config.RootlyModeAlertsAPI, status: core.StatusFiring,
			edit: func(s *config.Rootly) { s.APIToken = "wrong-SECRET" },
			code: 401, wantText: "Unauthorized", requests: 1,
		},
		{
			name: "a wrong alert source secret is a permanent 401", mode: config.RootlyModeAlertmanager, status: core.StatusFiring,
			edit: func(s *config.Rootly) { s.Secret = "wrong-SECRET" },
			code: 401, wantText: "Unauthorized", requests: 1,
		},
		{
			name: "a resolve with no known id is permanent and sends nothing", mode: config.RootlyModeAlertsAPI, status: core.StatusResolved,
			wantText: "no Rootly alert id is known for fingerprint 4f3a2b1c0d9e8f7a", requests: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := vendorfake.NewRootly(t, rootlyTestToken, rootlyTestSecret)
			for _, a := range tc.answers {
				f.Script(a)
			}
			var logs bytes.Buffer
			edits := []func(*config.Rootly){}
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			r := newTestRootly(t, f, tc.mode, Options{Logger: bufferLogger(&logs), StoragePath: t.TempDir()}, edits...)

			err := r.Publish(context.Background(), vendorAlert(tc.status))
			if err == nil {
				t.Fatal("Publish: want an error, got success")
			}
			if got := core.IsRetryable(err); got != tc.retryable {
				t.Errorf("retryable = %v, want %v (error: %v)", got, tc.retryable, err)
			}
			if got := core.StatusCode(err); got != tc.code {
				t.Errorf("status code = %d, want %d", got, tc.code)
			}
			if got := core.RetryAfter(err); got != tc.wait {
				t.Errorf("RetryAfter = %v, want %v", got, tc.wait)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
			if got := f.Requests(); got != tc.requests {
				t.Errorf("Rootly received %d requests, want %d", got, tc.requests)
			}
			for _, where := range []string{err.Error(), logs.String()} {
				if strings.Contains(where, "SECRET") {
					t.Errorf("a secret leaked: %q", where)
				}
			}
			if len(tc.answers) > 0 && tc.retryable {
				if err := r.Publish(context.Background(), vendorAlert(tc.status)); err != nil {
					t.Errorf("second Publish after the forced answer: want success, got %v", err)
				}
			}
		})
	}
}

func TestRootlyNetworkErrorsHideTheURL(t *testing.T) {
	f := vendorfake.NewRootly(t, rootlyTestToken, rootlyTestSecret)
	var logs bytes.Buffer
	r := newTestRootly(t, f, config.RootlyModeAlertmanager, Options{Logger: bufferLogger(&logs)}, func(s *config.Rootly) {
		s.URL = config.Secret(f.URL() + "/notify/EscalationPolicy/SECRET-ep")
	})
	f.Close()
	err := r.Publish(context.Background(), vendorAlert(core.StatusFiring))
	if err == nil || !core.IsRetryable(err) {
		t.Fatalf("Publish to a closed server: want a retryable error, got %v", err)
	}
	if strings.Contains(err.Error(), "SECRET") || strings.Contains(logs.String(), "SECRET") {
		t.Errorf("the URL leaked: %v / %s", err, logs.String())
	}
}

func TestRootlyRenderSetsAuthAndMediaTypes(t *testing.T) {
	f := vendorfake.NewRootly(t, rootlyTestToken, rootlyTestSecret)
	tests := []struct {
		mode, path, contentType, auth string
	}{
		{config.RootlyModeAlertmanager, vendorfake.RootlySourcePath, "application/json", "Bearer " + rootlyTestSecret},
		{config.RootlyModeAlertsAPI, "/v1/alerts", jsonAPIType, "Bearer " + rootlyTestToken},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			reqs, err := newTestRootly(t, f, tc.mode, Options{}).Render(context.Background(), vendorAlert(core.StatusFiring))
			if err != nil || len(reqs) != 1 {
				t.Fatalf("Render: want one request, got %d and %v", len(reqs), err)
			}
			req := reqs[0]
			if req.Method != "POST" || req.URL.Path != tc.path {
				t.Errorf("request = %s %s, want POST %s", req.Method, req.URL.Path, tc.path)
			}
			if got := req.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			if got := req.Header.Get("Authorization"); got != tc.auth {
				t.Errorf("Authorization = %q, want %q", got, tc.auth)
			}
			if f.Requests() != 0 {
				t.Error("Render sent a request")
			}
		})
	}
}

func TestRootlyAlertsAPIRefusesACorruptIDFile(t *testing.T) {
	storage := t.TempDir()
	path := filepath.Join(storage, "rootly-t.json")
	if err := os.WriteFile(path, []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &config.Rootly{Mode: config.RootlyModeAlertsAPI, APIURL: "http://127.0.0.1:1", APIToken: "k", HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	_, err := newRootly("t", s, Options{StoragePath: storage})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "remove the file") {
		t.Errorf("a corrupt id file: want the target refused with an error naming the file and what to do, got %v", err)
	}
}

// Publishers are built through New from a loaded config, so check that
// the factory knows the type.
func TestNewBuildsRootlyAndMSTeams(t *testing.T) {
	for _, spec := range []config.Spec{
		&config.Rootly{Mode: config.RootlyModeAlertmanager, URL: "http://127.0.0.1:1/x", Secret: "s"},
		&config.MSTeams{URL: "http://127.0.0.1:1/x"},
	} {
		p, err := New(&config.Target{Name: "t", Spec: spec}, Options{StoragePath: t.TempDir()})
		if err != nil {
			t.Fatalf("New(%T): %v", spec, err)
		}
		if c, ok := p.(io.Closer); ok {
			c.Close()
		}
		if _, ok := p.(Renderer); !ok {
			t.Errorf("%T publisher does not render", spec)
		}
	}
}
