package publish

import (
	"slices"
	"testing"

	"github.com/am-fanout/am-fanout/core"
)

func chatGroup(statuses ...core.AlertStatus) *core.Notification {
	n := &core.Notification{Group: core.Group{Receiver: "team", GroupLabels: map[string]string{"service": "api", "alertname": "Disk"}}}
	for i, s := range statuses {
		sev := core.SeverityWarning
		if i == 1 {
			sev = core.SeverityCritical
		}
		n.Alerts = append(n.Alerts, core.EnrichedAlert{
			Alert: core.Alert{Fingerprint: string(rune('a' + i)), Status: s, Labels: map[string]string{
				"alertname": "Disk", "service": "api", "instance": string(rune('a' + i)),
			}},
			Classification: core.Classification{Severity: sev},
		})
	}
	return n
}

func TestChatGroupTitleCountsLikeAlertmanager(t *testing.T) {
	f, r := core.StatusFiring, core.StatusResolved
	tests := []struct {
		name string
		n    *core.Notification
		want string
	}{
		{name: "firing", n: chatGroup(f, f, f), want: "[FIRING:3] Disk api"},
		{name: "firing and resolved", n: chatGroup(r, f, f), want: "[FIRING:2, RESOLVED:1] Disk api"},
		{name: "resolved only", n: chatGroup(r, r), want: "[RESOLVED:2] Disk api"},
		{name: "no group labels names the common alertname", n: func() *core.Notification {
			n := chatGroup(f)
			n.Group.GroupLabels = nil
			return n
		}(), want: "[FIRING:1] Disk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ChatGroupTitle(tc.n); got != tc.want {
				t.Errorf("title = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestChatGroupAlertsFiringFirst(t *testing.T) {
	n := chatGroup(core.StatusResolved, core.StatusFiring, core.StatusResolved, core.StatusFiring)
	var got []string
	for _, a := range ChatGroupAlerts(n) {
		got = append(got, a.Alert.Fingerprint)
	}
	if want := []string{"b", "d", "a", "c"}; !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestChatGroupLabels(t *testing.T) {
	n := chatGroup(core.StatusFiring, core.StatusFiring)
	n.Alerts[1].Alert.Labels["alertname"] = "Memory"
	common := ChatGroupCommonLabels(n)
	if want := map[string]string{"service": "api"}; len(common) != 1 || common["service"] != want["service"] {
		t.Errorf("common labels = %v, want %v", common, want)
	}
	if got, want := ChatDistinctLabels(&n.Alerts[1], common), []string{"alertname", "instance"}; !slices.Equal(got, want) {
		t.Errorf("distinct labels = %v, want %v (alertname first when it differs)", got, want)
	}
}

func TestChatGroupMoreCountsWhatAlertmanagerCut(t *testing.T) {
	tests := []struct {
		name      string
		alerts    int
		shown     int
		truncated uint64
		want      string
	}{
		{name: "all shown", alerts: 3, shown: 3},
		{name: "some left out", alerts: 5, shown: 3, want: "…and 2 more alerts"},
		{name: "one left out", alerts: 4, shown: 3, want: "…and 1 more alert"},
		{name: "cut by Alertmanager only", alerts: 3, shown: 3, truncated: 7, want: "…and 7 more alerts that Alertmanager left out of the notification"},
		{name: "both", alerts: 5, shown: 3, truncated: 7, want: "…and 9 more alerts (7 of them left out of the notification by Alertmanager)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			statuses := make([]core.AlertStatus, tc.alerts)
			for i := range statuses {
				statuses[i] = core.StatusFiring
			}
			n := chatGroup(statuses...)
			n.Group.TruncatedAlerts = tc.truncated
			if got := ChatGroupMore(n, tc.shown); got != tc.want {
				t.Errorf("more = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStateStyleOfGroup(t *testing.T) {
	style := StateStyle[string]{Resolved: "green", Critical: "red", Warning: "orange", Info: "blue"}
	f, r := core.StatusFiring, core.StatusResolved
	tests := []struct {
		name string
		n    *core.Notification
		want string
	}{
		{name: "the most severe firing alert", n: chatGroup(f, f), want: "red"},
		{name: "a resolved critical alert does not count", n: chatGroup(f, r), want: "orange"},
		{name: "resolved only is resolved", n: chatGroup(r, r), want: "green"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := style.OfGroup(tc.n); got != tc.want {
				t.Errorf("style = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCutRemovesByPriority(t *testing.T) {
	// A message of 10 alerts of size 10 and a text of 50, to fit in limit.
	tests := []struct {
		name               string
		limit              int
		wantAlerts, wantTx int
		wantFit            bool
	}{
		{name: "fits as is", limit: 150, wantAlerts: 10, wantTx: 50, wantFit: true},
		{name: "alerts go first", limit: 125, wantAlerts: 7, wantTx: 50, wantFit: true},
		{name: "then text, one alert kept", limit: 40, wantAlerts: 1, wantTx: 30, wantFit: true},
		{name: "cannot fit", limit: 5, wantAlerts: 1, wantTx: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alerts, text := 10, 50
			fit := Cut([]CutStep{
				{Max: 9, Remove: func(n int) { alerts = 10 - n }},
				{Max: 50, Remove: func(n int) { text = 50 - n }},
			}, func() bool { return alerts*10+text <= tc.limit })
			if fit != tc.wantFit || alerts != tc.wantAlerts || text != tc.wantTx {
				t.Errorf("fit %v with %d alerts and %d text, want %v with %d and %d", fit, alerts, text, tc.wantFit, tc.wantAlerts, tc.wantTx)
			}
		})
	}
}
