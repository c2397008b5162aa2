package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish/vendorfake"
)

const testRoutingKey = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32"

// incidentTestAlert is a firing alert as enrichment produces it, with
// every link kind, for the PagerDuty and Opsgenie tests.
func incidentTestAlert() *core.EnrichedAlert {
	starts := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return &core.EnrichedAlert{
		Alert: core.Alert{
			Fingerprint: "a1b2c3d4e5f60718",
			Status:      core.StatusFiring,
			Labels: map[string]string{
				"alertname": "HighLatency", "severity": "critical", "service": "checkout",
				"job": "api", "instance": "api-1:8080", "cluster": "eu-1",
			},
			Annotations: map[string]string{
				"summary":     "p99 latency above 2s",
				"description": "The p99 latency of checkout has been above 2s for 5 minutes.",
				"runbook_url": "https://runbooks.example.com/high-latency",
			},
			StartsAt:     starts,
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=latency",
		},
		Group: core.Group{
			Receiver:    "fanout",
			Status:      core.StatusFiring,
			GroupKey:    `{}:{alertname="HighLatency"}`,
			GroupLabels: map[string]string{"alertname": "HighLatency"},
			ExternalURL: "http://alertmanager:9093",
		},
		Classification: core.Classification{Severity: core.SeverityCritical, RawSeverity: "critical"},
		Links: []core.Link{
			{Name: core.LinkSource, URL: "http://prometheus:9090/graph?g0.expr=latency"},
			{Name: core.LinkRunbook, URL: "https://runbooks.example.com/high-latency"},
			{Name: core.LinkDashboard, URL: "https://grafana.example.com/d/latency"},
			{Name: core.LinkSilence, URL: "http://alertmanager:9093/#/silences/new?filter=%7Balertname%3D%22HighLatency%22%7D"},
		},
		ReceivedAt: starts.Add(30 * time.Second),
	}
}

func resolvedIncidentAlert() *core.EnrichedAlert {
	a := incidentTestAlert()
	a.Alert.Status, a.Group.Status = core.StatusResolved, core.StatusResolved
	a.Alert.EndsAt = a.Alert.StartsAt.Add(10 * time.Minute)
	return a
}

// newTestPagerDuty builds a publisher for the fake from a config block
// completed with the defaults newSpec gives.
func newTestPagerDuty(t *testing.T, url string, edit func(*config.PagerDuty), o Options) *pagerDuty {
	t.Helper()
	s := &config.PagerDuty{
		RoutingKey: testRoutingKey, URL: url, Client: "am-fanout",
		ComponentLabel: "service", GroupLabel: "job", ClassLabel: "alertname",
		HTTPConfig: commoncfg.DefaultHTTPClientConfig,
	}
	if edit != nil {
		edit(s)
	}
	p, err := newPagerDuty("pd", s, o)
	if err != nil {
		t.Fatalf("newPagerDuty: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestPagerDutyEventsMatchGoldenFiles(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		alert  func() *core.EnrichedAlert
		edit   func(*config.PagerDuty)
	}{
		{name: "firing alert triggers with payload, links and client", golden: "firing.json", alert: incidentTestAlert},
		{name: "resolved alert resolves by the same dedup key", golden: "resolved.json", alert: resolvedIncidentAlert},
		{
			name: "templates, severity map, images and custom client apply", golden: "custom.json",
			alert: func() *core.EnrichedAlert {
				a := incidentTestAlert()
				a.Classification.Severity = core.SeverityWarning
				return a
			},
			edit: func(s *config.PagerDuty) {
				s.SeverityMap = map[string]string{"warning": "error"}
				s.Templates = config.Templates{
					"summary": `{{ .Alert.Labels.service }} is slow ({{ .Alert.Labels.cluster }})`,
					"source":  `{{ .Alert.Labels.cluster }}/{{ .Alert.Labels.instance }}`,
				}
				s.Images = []config.PagerDutyImage{{Src: "https://grafana.example.com/render/latency.png", Href: "https://grafana.example.com/d/latency", Alt: "latency"}}
				s.Client, s.ClientURL, s.ClassLabel = "prod alerting", "https://alerts.example.com", ""
			},
		},
		{
			name: "bare alert falls back to the Alertmanager host and error severity", golden: "bare.json",
			alert: func() *core.EnrichedAlert {
				return &core.EnrichedAlert{
					Alert: core.Alert{Fingerprint: "0000000000000001", Status: core.StatusFiring, Labels: map[string]string{"alertname": "Watchdog"}},
					Group: core.Group{ExternalURL: "http://alertmanager.example.com:9093/am"},
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := vendorfake.NewPagerDuty(t)
			p := newTestPagerDuty(t, fake.URL(), tc.edit, Options{})
			if err := p.Publish(context.Background(), tc.alert()); err != nil {
				t.Fatalf("Publish: %v (fake rejected: %v)", err, fake.Rejects())
			}
			bodies := fake.Bodies()
			if len(bodies) != 1 {
				t.Fatalf("fake accepted %d events, want 1", len(bodies))
			}
			assertGolden(t, "pagerduty/"+tc.golden, bodies[0])
		})
	}
}

func TestPagerDutyDedupKeyIsStableAndShared(t *testing.T) {
	fake := vendorfake.NewPagerDuty(t)
	p1 := newTestPagerDuty(t, fake.URL(), nil, Options{})
	p2 := newTestPagerDuty(t, fake.URL(), nil, Options{}) // as after a restart
	if err := p1.Publish(context.Background(), incidentTestAlert()); err != nil {
		t.Fatalf("trigger: %v", err)
	}
	if err := p2.Publish(context.Background(), resolvedIncidentAlert()); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	events := fake.Events()
	if events[0]["dedup_key"] != "a1b2c3d4e5f60718" || events[1]["dedup_key"] != events[0]["dedup_key"] {
		t.Errorf("dedup keys = %v then %v, want the fingerprint both times", events[0]["dedup_key"], events[1]["dedup_key"])
	}
	noFP := incidentTestAlert()
	noFP.Alert.Fingerprint = ""
	if k1, k2 := incidentKey(noFP), incidentKey(noFP); k1 != k2 || len(k1) != 64 {
		t.Errorf("key without fingerprint = %q then %q, want one 64-character label hash", k1, k2)
	}
}

func TestPagerDutyTruncatesUnderLimits(t *testing.T) {
	t.Run("summary is cut visibly at 1024 characters", func(t *testing.T) {
		fake := vendorfake.NewPagerDuty(t)
		p := newTestPagerDuty(t, fake.URL(), nil, Options{})
		a := incidentTestAlert()
		a.Alert.Annotations["summary"] = strings.Repeat("é", 3000)
		if err := p.Publish(context.Background(), a); err != nil {
			t.Fatalf("Publish: %v (fake rejected: %v)", err, fake.Rejects())
		}
		events := fake.Events()
		s := events[0]["payload"].(map[string]any)["summary"].(string)
		if utf8.RuneCountInString(s) != 1024 || !strings.HasSuffix(s, "…") {
			t.Errorf("summary has %d characters ending %q, want 1024 ending with …", utf8.RuneCountInString(s), s[len(s)-6:])
		}
	})
	t.Run("biggest details are trimmed first to fit 512 KB", func(t *testing.T) {
		fake := vendorfake.NewPagerDuty(t)
		p := newTestPagerDuty(t, fake.URL(), nil, Options{})
		a := incidentTestAlert()
		medium := strings.Repeat("m", 200_000)
		a.Alert.Annotations["big"] = strings.Repeat("b", 400_000)
		a.Alert.Annotations["medium"] = medium
		if err := p.Publish(context.Background(), a); err != nil {
			t.Fatalf("Publish: %v (fake rejected: %v)", err, fake.Rejects())
		}
		events, bodies := fake.Events(), fake.Bodies()
		if n := len(bodies[0]); n > pagerDutyMaxEvent || n < pagerDutyMaxEvent-1024 {
			t.Errorf("event is %d bytes, want just under %d", n, pagerDutyMaxEvent)
		}
		d := events[0]["payload"].(map[string]any)["custom_details"].(map[string]any)
		ann := d["annotations"].(map[string]any)
		if got := d["trimmed"]; !equalJSON(got, []any{"annotations.big"}) {
			t.Errorf("trimmed = %v, want only annotations.big", got)
		}
		if !strings.HasSuffix(ann["big"].(string), "…") || ann["medium"] != medium {
			t.Errorf("want big cut with … and medium intact")
		}
		if a.Alert.Annotations["big"] != strings.Repeat("b", 400_000) {
			t.Errorf("trimming changed the alert shared with other targets")
		}
	})
	t.Run("details too many to trim are replaced by a note", func(t *testing.T) {
		fake := vendorfake.NewPagerDuty(t)
		p := newTestPagerDuty(t, fake.URL(), nil, Options{})
		a := incidentTestAlert()
		for i := range 6000 {
			a.Alert.Labels[strings.Repeat("k", 80)+strings.Repeat("x", i%50)+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676))] = "value-0123456789"
		}
		if err := p.Publish(context.Background(), a); err != nil {
			t.Fatalf("Publish: %v (fake rejected: %v)", err, fake.Rejects())
		}
		events := fake.Events()
		d := events[0]["payload"].(map[string]any)["custom_details"].(map[string]any)
		if note, _ := d["note"].(string); !strings.Contains(note, "custom details removed") || d["labels"] != nil {
			t.Errorf("custom_details = %.200v, want only the removal note", d)
		}
	})
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestPagerDutyClassifiesAnswers(t *testing.T) {
	invalid := `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`
	tests := []struct {
		name           string
		script         []vendorfake.Answer
		wantStatus     int
		wantRetryable  bool
		wantRetryAfter time.Duration
	}{
		{name: "429 is retryable with Retry-After", script: []vendorfake.Answer{{Status: 429, RetryAfter: "7"}}, wantStatus: 429, wantRetryable: true, wantRetryAfter: 7 * time.Second},
		{name: "502 is retryable", script: []vendorfake.Answer{{Status: 502, Body: "Bad Gateway"}}, wantStatus: 502, wantRetryable: true},
		{name: "400 invalid event is permanent", script: []vendorfake.Answer{{Status: 400, Body: invalid}}, wantStatus: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			fake := vendorfake.NewPagerDuty(t)
			fake.Script(tc.script...)
			p := newTestPagerDuty(t, fake.URL(), nil, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			err := p.Publish(context.Background(), incidentTestAlert())
			if err == nil {
				t.Fatal("Publish: want an error, got none")
			}
			if core.StatusCode(err) != tc.wantStatus || core.IsRetryable(err) != tc.wantRetryable || core.RetryAfter(err) != tc.wantRetryAfter {
				t.Errorf("error %v: status %d retryable %v retry-after %v, want %d %v %v", err,
					core.StatusCode(err), core.IsRetryable(err), core.RetryAfter(err), tc.wantStatus, tc.wantRetryable, tc.wantRetryAfter)
			}
			assertKeyHidden(t, testRoutingKey, err, &logs)
			if tc.wantRetryable {
				if err := p.Publish(context.Background(), incidentTestAlert()); err != nil {
					t.Errorf("second Publish after %d: %v, want success", tc.wantStatus, err)
				}
			}
		})
	}
}

func TestPagerDutyNetworkErrorIsRetryableWithoutSecret(t *testing.T) {
	fake := vendorfake.NewPagerDuty(t)
	url := fake.URL()
	fake.Close()
	var logs bytes.Buffer
	p := newTestPagerDuty(t, url, nil, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	err := p.Publish(context.Background(), incidentTestAlert())
	if err == nil || !core.IsRetryable(err) {
		t.Fatalf("Publish to a closed server: %v, want a retryable error", err)
	}
	assertKeyHidden(t, testRoutingKey, err, &logs)
}

func TestPagerDutyTemplateFailureFallsBack(t *testing.T) {
	fake := vendorfake.NewPagerDuty(t)
	var logs bytes.Buffer
	var failed []string
	p := newTestPagerDuty(t, fake.URL(), func(s *config.PagerDuty) {
		s.Templates = config.Templates{"summary": `{{ template "missing" . }}`}
	}, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnTemplateError: func(target, field string) { failed = append(failed, target+"/"+field) }})
	if err := p.Publish(context.Background(), incidentTestAlert()); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	events := fake.Events()
	if s := events[0]["payload"].(map[string]any)["summary"]; s != "HighLatency: p99 latency above 2s" {
		t.Errorf("summary = %q, want the default rendering", s)
	}
	if len(failed) != 1 || failed[0] != "pd/summary" {
		t.Errorf("template errors reported = %v, want [pd/summary]", failed)
	}
	assertKeyHidden(t, testRoutingKey, nil, &logs)
}

func TestPagerDutyRenderSendsNothing(t *testing.T) {
	fake := vendorfake.NewPagerDuty(t)
	p := newTestPagerDuty(t, fake.URL(), nil, Options{})
	reqs, err := p.Render(context.Background(), incidentTestAlert())
	if err != nil || len(reqs) != 1 {
		t.Fatalf("Render: %d requests, %v; want 1, nil", len(reqs), err)
	}
	if r := reqs[0]; r.Method != http.MethodPost || r.URL.String() != fake.URL() || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %s (%s), want POST %s (application/json)", r.Method, r.URL, r.Header.Get("Content-Type"), fake.URL())
	}
	if events := fake.Events(); len(events) != 0 {
		t.Errorf("Render sent %d events, want none", len(events))
	}
}

// assertKeyHidden fails when the secret key appears in err or in the logs.
func assertKeyHidden(t *testing.T, secret string, err error, logs *bytes.Buffer) {
	t.Helper()
	if err != nil {
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), secret) {
				t.Errorf("error %q reveals the secret", e)
			}
		}
	}
	if bytes.Contains(logs.Bytes(), []byte(secret)) {
		t.Errorf("logs reveal the secret:\n%s", logs.Bytes())
	}
}
