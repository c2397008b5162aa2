package publish

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

func TestGroupSubjectIsAlertmanagersSubject(t *testing.T) {
	defaults, err := alertmanagerDefaults()
	if err != nil {
		t.Fatal(err)
	}
	firing := testNotification()
	wider := testNotification()
	wider.Group.CommonLabels = map[string]string{"alertname": "Disk", "cluster": "eu-1", "severity": "warning"}
	resolved := testNotification()
	resolved.Alerts = resolved.Alerts[1:]
	bare := &core.Notification{Alerts: []core.EnrichedAlert{{Alert: core.Alert{Status: core.StatusFiring}}}}
	for name, n := range map[string]*core.Notification{"firing": firing, "common labels beyond the group's": wider, "resolved": resolved, "no labels": bare} {
		t.Run(name, func(t *testing.T) {
			want, err := defaults.ExecuteTextString(`{{ template "__subject" . }}`, AlertmanagerNotification(n).Data)
			if err != nil {
				t.Fatal(err)
			}
			if got := GroupSubject(n); got != strings.TrimSpace(want) {
				t.Errorf("GroupSubject = %q, Alertmanager's __subject renders %q", got, want)
			}
		})
	}
}

func TestUrgentFirstOrdersFiringBySeverityPriorityAndStart(t *testing.T) {
	at := func(s int64) time.Time { return time.Unix(s, 0) }
	alert := func(fp string, st core.AlertStatus, sev core.Severity, prio string, start int64) core.EnrichedAlert {
		return core.EnrichedAlert{
			Alert:          core.Alert{Fingerprint: fp, Status: st, StartsAt: at(start)},
			Classification: core.Classification{Severity: sev, Priority: prio},
		}
	}
	n := &core.Notification{Alerts: []core.EnrichedAlert{
		alert("resolved-critical", core.StatusResolved, core.SeverityCritical, "P1", 1),
		alert("info", core.StatusFiring, core.SeverityInfo, "", 1),
		alert("critical-P2", core.StatusFiring, core.SeverityCritical, "P2", 1),
		alert("none", core.StatusFiring, "", "", 1),
		alert("critical-P1-newer", core.StatusFiring, core.SeverityCritical, "P1", 9),
		alert("critical-P1-older", core.StatusFiring, core.SeverityCritical, "P1", 5),
		alert("warning", core.StatusFiring, core.SeverityWarning, "P1", 1),
	}}
	want := []string{"critical-P1-older", "critical-P1-newer", "critical-P2", "warning", "info", "none", "resolved-critical"}
	var got []string
	for _, a := range UrgentFirst(n) {
		got = append(got, a.Alert.Fingerprint)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("order = %v, want %v", got, want)
	}
	if m := MostUrgent(n); m.Alert.Fingerprint != want[0] || m != &n.Alerts[5] {
		t.Errorf("MostUrgent = %s, want %s of the notification itself", m.Alert.Fingerprint, want[0])
	}
	if MostUrgent(&core.Notification{}) != nil {
		t.Error("MostUrgent of no alerts is not nil")
	}
}

func TestGroupIncidentKey(t *testing.T) {
	n := testNotification()
	if k, err := GroupIncidentKey(n); err != nil || k != GroupKeyHash(n.Group.GroupKey) || len(k) != 64 {
		t.Errorf("GroupIncidentKey = %q, %v; want the 64-character hash of the group key", k, err)
	}
	n.Group.GroupKey = ""
	_, err := GroupIncidentKey(n)
	if !errors.Is(err, ErrNoGroupKey) || core.IsRetryable(err) {
		t.Errorf("without a group key: %v, want a permanent ErrNoGroupKey", err)
	}
}
