package pagerduty

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/publish/pagerduty/pagerdutytest"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

const testRoutingKey = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32"

// newTestPagerDuty builds a publisher for the fake from a config block
// completed with the defaults newSpec gives.
func newTestPagerDuty(t *testing.T, url string, edit func(*Config), o publish.Options) *pagerDuty {
	t.Helper()
	s := &Config{
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
		edit   func(*Config)
	}{
		{name: "firing alert triggers with payload, links and client", golden: "firing.json", alert: publishtest.IncidentAlert},
		{name: "resolved alert resolves by the same dedup key", golden: "resolved.json", alert: publishtest.ResolvedIncidentAlert},
		{
			name: "templates, severity map, images and custom client apply", golden: "custom.json",
			alert: func() *core.EnrichedAlert {
				a := publishtest.IncidentAlert()
				a.Classification.Severity = core.SeverityWarning
				return a
			},
			edit: func(s *Config) {
				s.SeverityMap = map[string]string{"warning": "error"}
				s.Templates = publish.Templates{
					"summary": `{{ .Alert.Labels.service }} is slow ({{ .Alert.Labels.cluster }})`,
					"source":  `{{ .Alert.Labels.cluster }}/{{ .Alert.Labels.instance }}`,
				}
				s.Images = []PagerDutyImage{{Src: "https://grafana.example.com/render/latency.png", Href: "https://grafana.example.com/d/latency", Alt: "latency"}}
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
			fake := pagerdutytest.NewPagerDuty(t)
			p := newTestPagerDuty(t, fake.URL(), tc.edit, publish.Options{})
			if err := p.Publish(context.Background(), tc.alert()); err != nil {
				t.Fatalf("Publish: %v (fake rejected: %v)", err, fake.Rejects())
			}
			bodies := fake.Bodies()
			if len(bodies) != 1 {
				t.Fatalf("fake accepted %d events, want 1", len(bodies))
			}
			publishtest.AssertGolden(t, tc.golden, bodies[0])
		})
	}
}

func TestPagerDutyDedupKeyIsStableAndShared(t *testing.T) {
	fake := pagerdutytest.NewPagerDuty(t)
	p1 := newTestPagerDuty(t, fake.URL(), nil, publish.Options{})
	p2 := newTestPagerDuty(t, fake.URL(), nil, publish.Options{}) // as after a restart
	if err := p1.Publish(context.Background(), publishtest.IncidentAlert()); err != nil {
		t.Fatalf("trigger: %v", err)
	}
	if err := p2.Publish(context.Background(), publishtest.ResolvedIncidentAlert()); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	events := fake.Events()
	if events[0]["dedup_key"] != "a1b2c3d4e5f60718" || events[1]["dedup_key"] != events[0]["dedup_key"] {
		t.Errorf("dedup keys = %v then %v, want the fingerprint both times", events[0]["dedup_key"], events[1]["dedup_key"])
	}
	noFP := publishtest.IncidentAlert()
	noFP.Alert.Fingerprint = ""
	if k1, k2 := publish.IncidentKey(noFP), publish.IncidentKey(noFP); k1 != k2 || len(k1) != 64 {
		t.Errorf("key without fingerprint = %q then %q, want one 64-character label hash", k1, k2)
	}
}

func TestPagerDutyTruncatesUnderLimits(t *testing.T) {
	t.Run("summary is cut visibly at 1024 characters", func(t *testing.T) {
		fake := pagerdutytest.NewPagerDuty(t)
		p := newTestPagerDuty(t, fake.URL(), nil, publish.Options{})
		a := publishtest.IncidentAlert()
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
		fake := pagerdutytest.NewPagerDuty(t)
		p := newTestPagerDuty(t, fake.URL(), nil, publish.Options{})
		a := publishtest.IncidentAlert()
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
		if got := d["trimmed"]; !publishtest.EqualJSON(got, []any{"annotations.big"}) {
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
		fake := pagerdutytest.NewPagerDuty(t)
		p := newTestPagerDuty(t, fake.URL(), nil, publish.Options{})
		a := publishtest.IncidentAlert()
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

func TestPagerDutyClassifiesAnswers(t *testing.T) {
	invalid := `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`
	tests := []struct {
		name           string
		script         []publishtest.Answer
		wantStatus     int
		wantRetryable  bool
		wantRetryAfter time.Duration
	}{
		{name: "429 is retryable with Retry-After", script: []publishtest.Answer{{Status: 429, RetryAfter: "7"}}, wantStatus: 429, wantRetryable: true, wantRetryAfter: 7 * time.Second},
		{name: "502 is retryable", script: []publishtest.Answer{{Status: 502, Body: "Bad Gateway"}}, wantStatus: 502, wantRetryable: true},
		{name: "400 invalid event is permanent", script: []publishtest.Answer{{Status: 400, Body: invalid}}, wantStatus: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			fake := pagerdutytest.NewPagerDuty(t)
			fake.Script(tc.script...)
			p := newTestPagerDuty(t, fake.URL(), nil, publish.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			err := p.Publish(context.Background(), publishtest.IncidentAlert())
			if err == nil {
				t.Fatal("Publish: want an error, got none")
			}
			if core.StatusCode(err) != tc.wantStatus || core.IsRetryable(err) != tc.wantRetryable || core.RetryAfter(err) != tc.wantRetryAfter {
				t.Errorf("error %v: status %d retryable %v retry-after %v, want %d %v %v", err,
					core.StatusCode(err), core.IsRetryable(err), core.RetryAfter(err), tc.wantStatus, tc.wantRetryable, tc.wantRetryAfter)
			}
			publishtest.AssertSecretHidden(t, testRoutingKey, err, &logs)
			if tc.wantRetryable {
				if err := p.Publish(context.Background(), publishtest.IncidentAlert()); err != nil {
					t.Errorf("second Publish after %d: %v, want success", tc.wantStatus, err)
				}
			}
		})
	}
}

func TestPagerDutyNetworkErrorIsRetryableWithoutSecret(t *testing.T) {
	fake := pagerdutytest.NewPagerDuty(t)
	url := fake.URL()
	fake.Close()
	var logs bytes.Buffer
	p := newTestPagerDuty(t, url, nil, publish.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	err := p.Publish(context.Background(), publishtest.IncidentAlert())
	if err == nil || !core.IsRetryable(err) {
		t.Fatalf("Publish to a closed server: %v, want a retryable error", err)
	}
	publishtest.AssertSecretHidden(t, testRoutingKey, err, &logs)
}

func TestPagerDutyTemplateFailureFallsBack(t *testing.T) {
	fake := pagerdutytest.NewPagerDuty(t)
	var logs bytes.Buffer
	var failed []string
	p := newTestPagerDuty(t, fake.URL(), func(s *Config) {
		s.Templates = publish.Templates{"summary": `{{ template "missing" . }}`}
	}, publish.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnTemplateError: func(target, field string) { failed = append(failed, target+"/"+field) }})
	if err := p.Publish(context.Background(), publishtest.IncidentAlert()); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	events := fake.Events()
	if s := events[0]["payload"].(map[string]any)["summary"]; s != "HighLatency: p99 latency above 2s" {
		t.Errorf("summary = %q, want the default rendering", s)
	}
	if len(failed) != 1 || failed[0] != "pd/summary" {
		t.Errorf("template errors reported = %v, want [pd/summary]", failed)
	}
	publishtest.AssertSecretHidden(t, testRoutingKey, nil, &logs)
}

func TestPagerDutyRenderSendsNothing(t *testing.T) {
	fake := pagerdutytest.NewPagerDuty(t)
	p := newTestPagerDuty(t, fake.URL(), nil, publish.Options{})
	reqs, err := p.Render(context.Background(), publishtest.IncidentAlert())
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
