package publish

import (
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

func testNotification() *core.Notification {
	return &core.Notification{
		Group: core.Group{
			Receiver: "team", GroupKey: `{}:{alertname="Disk"}`, ExternalURL: "http://am:9093",
			GroupLabels: map[string]string{"alertname": "Disk"}, CommonLabels: map[string]string{"alertname": "Disk"},
		},
		Alerts: []core.EnrichedAlert{
			{Alert: core.Alert{Fingerprint: "a1", Status: core.StatusFiring, Labels: map[string]string{"alertname": "Disk", "instance": "n1"}, StartsAt: time.Unix(100, 0)}},
			{Alert: core.Alert{Fingerprint: "a2", Status: core.StatusResolved, Labels: map[string]string{"alertname": "Disk", "instance": "n2"}, StartsAt: time.Unix(90, 0), EndsAt: time.Unix(120, 0)}},
		},
	}
}

func TestRenderGroupRunsAlertmanagerDefaultTemplates(t *testing.T) {
	tt, err := NewTextTemplates("chat", Templates{
		"title": `{{ template "slack.default.title" . }}`,
		"text":  `{{ len .Alerts.Firing }} firing, {{ len .Alerts.Resolved }} resolved for {{ .CommonLabels.alertname }}`,
		"bad":   `{{ .NoSuchField }}`,
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := testNotification()
	// Alertmanager's slack.default.title: [STATUS:count] labels.
	if got, want := tt.RenderGroup("title", n, "fallback"), "[FIRING:1] Disk"; got != want {
		t.Errorf("title = %q, want %q", got, want)
	}
	if got, want := tt.RenderGroup("text", n, "fallback"), "1 firing, 1 resolved for Disk"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	if got := tt.RenderGroup("bad", n, "fallback"); got != "fallback" {
		t.Errorf("a failing template rendered %q, want the fallback", got)
	}
	if got := tt.RenderGroup("none", n, "fallback"); got != "fallback" {
		t.Errorf("a field without template rendered %q, want the fallback", got)
	}
}

func TestAlertmanagerNotificationStatusAndHash(t *testing.T) {
	n := testNotification()
	p := AlertmanagerNotification(n)
	if p.Status != "firing" || len(p.Alerts) != 2 || p.GroupKey != n.Group.GroupKey || p.Version != "4" {
		t.Errorf("payload = %+v", p)
	}
	// Alertmanager's notify.Key.Hash is the hex SHA-256 of the key; the
	// FIPS 180-2 vector for "abc".
	if got, want := GroupKeyHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("GroupKeyHash(abc) = %q, want %q", got, want)
	}
}
