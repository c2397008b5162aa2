package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/pagerduty/pagerdutytest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

var (
	_ core.GroupPublisher   = (*pagerDuty)(nil)
	_ publish.GroupRenderer = (*pagerDuty)(nil)
)

// alertmanagerDedupKey is what Alertmanager's PagerDuty integration sends
// as dedup_key for the group {}:{alertname="HighLatency"}: the hex
// SHA-256 of the group key.
const alertmanagerDedupKey = "d4061866bc333de2350285b0452a21f78349e3d63b4f06b6c956f64f95d7be36"

func TestPagerDutyGroupEventsMatchGoldenFiles(t *testing.T) {
	tests := []struct {
		name         string
		golden       string
		notification func() *core.Notification
		edit         func(*Config)
	}{
		{name: "firing group triggers with Alertmanager's subject and every alert", golden: "group-firing.json", notification: publishtest.IncidentNotification},
		{name: "resolved group resolves by the group's dedup key", golden: "group-resolved.json", notification: publishtest.ResolvedIncidentNotification},
		{
			name: "templates run over Alertmanager's data", golden: "group-templated.json", notification: publishtest.IncidentNotification,
			edit: func(s *Config) {
				s.Templates = publish.Templates{
					"summary": `{{ .CommonLabels.service }}: {{ len .Alerts.Firing }} firing, {{ len .Alerts.Resolved }} resolved`,
					"source":  `{{ .CommonLabels.job }}`,
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := pagerdutytest.NewPagerDuty(t)
			p := newTestPagerDuty(t, fake.URL(), tc.edit, publish.Options{})
			if err := p.PublishGroup(context.Background(), tc.notification()); err != nil {
				t.Fatalf("PublishGroup: %v (fake rejected: %v)", err, fake.Rejects())
			}
			bodies := fake.Bodies()
			if len(bodies) != 1 {
				t.Fatalf("fake accepted %d events, want 1", len(bodies))
			}
			publishtest.AssertGolden(t, tc.golden, bodies[0])
		})
	}
}

func TestPagerDutyGroupDedupKeyIsAlertmanagers(t *testing.T) {
	fake := pagerdutytest.NewPagerDuty(t)
	p := newTestPagerDuty(t, fake.URL(), nil, publish.Options{})
	partly := publishtest.IncidentNotification()
	partly.Alerts = partly.Alerts[1:] // one warning firing, one resolved
	for _, n := range []*core.Notification{publishtest.IncidentNotification(), partly, publishtest.ResolvedIncidentNotification()} {
		if err := p.PublishGroup(context.Background(), n); err != nil {
			t.Fatalf("PublishGroup: %v (fake rejected: %v)", err, fake.Rejects())
		}
	}
	events := fake.Events()
	for i, want := range []string{"trigger", "trigger", "resolve"} {
		if events[i]["dedup_key"] != alertmanagerDedupKey || events[i]["event_action"] != want {
			t.Errorf("event %d: %v by %v, want %s by %s", i, events[i]["event_action"], events[i]["dedup_key"], want, alertmanagerDedupKey)
		}
	}
	if sev := events[1]["payload"].(map[string]any)["severity"]; sev != "warning" {
		t.Errorf("severity with only a warning firing = %v, want warning", sev)
	}
	if sev := events[0]["payload"].(map[string]any)["severity"]; sev != "critical" {
		t.Errorf("severity with a critical firing = %v, want critical", sev)
	}
}

func TestPagerDutyGroupWithoutGroupKeyFailsPermanently(t *testing.T) {
	fake := pagerdutytest.NewPagerDuty(t)
	p := newTestPagerDuty(t, fake.URL(), nil, publish.Options{})
	n := publishtest.IncidentNotification()
	n.Group.GroupKey = ""
	err := p.PublishGroup(context.Background(), n)
	if !errors.Is(err, publish.ErrNoGroupKey) || core.IsRetryable(err) {
		t.Errorf("PublishGroup: %v, want a permanent ErrNoGroupKey", err)
	}
	if fake.Requests() != 0 {
		t.Errorf("fake got %d requests, want none", fake.Requests())
	}
}

// bigNotification is a firing group of count alerts whose descriptions
// are size bytes each, with a critical alert last.
func bigNotification(count, size int) *core.Notification {
	n := publishtest.IncidentNotification()
	proto := n.Alerts[1]
	n.Alerts = nil
	for i := range count {
		a := proto
		a.Alert.Fingerprint = fmt.Sprintf("%016x", i)
		a.Alert.Labels = map[string]string{"alertname": "HighLatency", "instance": fmt.Sprintf("api-%d", i)}
		a.Alert.Annotations = map[string]string{"description": strings.Repeat("d", size)}
		if i == count-1 {
			a.Classification.Severity = core.SeverityCritical
		}
		n.Alerts = append(n.Alerts, a)
	}
	return n
}

func TestPagerDutyGroupFitsTheEventLimit(t *testing.T) {
	t.Run("alerts past the limit are left out, most urgent kept", func(t *testing.T) {
		fake := pagerdutytest.NewPagerDuty(t)
		p := newTestPagerDuty(t, fake.URL(), nil, publish.Options{})
		if err := p.PublishGroup(context.Background(), bigNotification(2000, 1000)); err != nil {
			t.Fatalf("PublishGroup: %v (fake rejected: %v)", err, fake.Rejects())
		}
		body, ev := fake.Bodies()[0], fake.Events()[0]
		if len(body) > pagerDutyMaxEvent || len(body) < pagerDutyMaxEvent-2000 {
			t.Errorf("event is %d bytes, want just under %d", len(body), pagerDutyMaxEvent)
		}
		d := ev["payload"].(map[string]any)["custom_details"].(map[string]any)
		firing := d["firing"].([]any)
		kept := len(firing)
		if kept == 0 || kept >= 2000 || d["num_firing"] != float64(2000) {
			t.Fatalf("kept %d of num_firing %v, want some of 2000", kept, d["num_firing"])
		}
		if fp := firing[0].(map[string]any)["fingerprint"]; fp != fmt.Sprintf("%016x", 1999) {
			t.Errorf("first alert kept = %v, want the critical one", fp)
		}
		if want := fmt.Sprintf("and %d more (%d firing, 0 resolved)", 2000-kept, 2000-kept); !strings.HasPrefix(d["omitted"].(string), want) {
			t.Errorf("omitted = %q, want it to start %q", d["omitted"], want)
		}
	})
	t.Run("a single alert over the limit has its longest values cut", func(t *testing.T) {
		fake := pagerdutytest.NewPagerDuty(t)
		p := newTestPagerDuty(t, fake.URL(), nil, publish.Options{})
		n := bigNotification(2, 600_000)
		if err := p.PublishGroup(context.Background(), n); err != nil {
			t.Fatalf("PublishGroup: %v (fake rejected: %v)", err, fake.Rejects())
		}
		d := fake.Events()[0]["payload"].(map[string]any)["custom_details"].(map[string]any)
		if got := d["trimmed"]; !publishtest.EqualJSON(got, []any{"firing[0].annotations.description"}) {
			t.Errorf("trimmed = %v, want the kept alert's description", got)
		}
		if !strings.HasPrefix(d["omitted"].(string), "and 1 more") {
			t.Errorf("omitted = %v, want the other alert counted", d["omitted"])
		}
		if len(n.Alerts[0].Alert.Annotations["description"]) != 600_000 {
			t.Error("cutting changed the notification shared with other targets")
		}
	})
	t.Run("summary is cut at 1024 characters", func(t *testing.T) {
		fake := pagerdutytest.NewPagerDuty(t)
		p := newTestPagerDuty(t, fake.URL(), nil, publish.Options{})
		n := publishtest.IncidentNotification()
		n.Group.GroupLabels["alertname"] = strings.Repeat("é", 2000)
		if err := p.PublishGroup(context.Background(), n); err != nil {
			t.Fatalf("PublishGroup: %v (fake rejected: %v)", err, fake.Rejects())
		}
		s := fake.Events()[0]["payload"].(map[string]any)["summary"].(string)
		if utf8.RuneCountInString(s) != 1024 || !strings.HasSuffix(s, "…") {
			t.Errorf("summary has %d characters, want 1024 ending with …", utf8.RuneCountInString(s))
		}
	})
}

func TestPagerDutyGroupFailureHidesTheRoutingKey(t *testing.T) {
	fake := pagerdutytest.NewPagerDuty(t)
	fake.Script(publishtest.Answer{Status: 429, RetryAfter: "3"})
	log, logs := publishtest.DebugLogger()
	p := newTestPagerDuty(t, fake.URL(), nil, publish.Options{Logger: log})
	err := p.PublishGroup(context.Background(), publishtest.IncidentNotification())
	if !core.IsRetryable(err) || core.StatusCode(err) != 429 {
		t.Fatalf("PublishGroup: %v, want a retryable 429", err)
	}
	publishtest.AssertSecretHidden(t, testRoutingKey, err, logs)
}

func TestPagerDutyRenderGroupSendsNothing(t *testing.T) {
	fake := pagerdutytest.NewPagerDuty(t)
	p := newTestPagerDuty(t, fake.URL(), nil, publish.Options{})
	reqs, err := p.RenderGroup(context.Background(), publishtest.IncidentNotification())
	if err != nil || len(reqs) != 1 {
		t.Fatalf("RenderGroup: %d requests, %v; want 1, nil", len(reqs), err)
	}
	if r := reqs[0]; r.Method != http.MethodPost || r.URL.String() != fake.URL() {
		t.Errorf("request = %s %s, want POST %s", r.Method, r.URL, fake.URL())
	}
	if fake.Requests() != 0 {
		t.Errorf("RenderGroup sent %d requests, want none", fake.Requests())
	}
}
