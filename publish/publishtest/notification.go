package publishtest

import (
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// IncidentNotification is a notification of the HighLatency group as a
// target with group_by: notification receives it: a critical and a
// warning alert firing, one alert resolved, urgent first.
func IncidentNotification() *core.Notification {
	starts := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	group := core.Group{
		Receiver: "fanout", Status: core.StatusFiring, GroupKey: `{}:{alertname="HighLatency"}`,
		GroupLabels:       map[string]string{"alertname": "HighLatency"},
		CommonLabels:      map[string]string{"alertname": "HighLatency", "service": "checkout", "job": "api"},
		CommonAnnotations: map[string]string{"summary": "p99 latency above 2s"},
		ExternalURL:       "http://alertmanager:9093",
	}
	alert := func(fp, instance string, sev core.Severity, status core.AlertStatus, start time.Time) core.EnrichedAlert {
		a := core.EnrichedAlert{
			Alert: core.Alert{
				Fingerprint: fp, Status: status,
				Labels: map[string]string{
					"alertname": "HighLatency", "service": "checkout", "job": "api",
					"instance": instance, "severity": string(sev),
				},
				Annotations: map[string]string{
					"summary":     "p99 latency above 2s",
					"description": "The p99 latency of checkout on " + instance + " has been above 2s for 5 minutes.",
				},
				StartsAt:     start,
				GeneratorURL: "http://prometheus:9090/graph?g0.expr=latency",
			},
			Group:          group,
			Classification: core.Classification{Severity: sev, RawSeverity: string(sev)},
			Links: []core.Link{
				{Name: core.LinkRunbook, URL: "https://runbooks.example.com/high-latency"},
				{Name: core.LinkDashboard, URL: "https://grafana.example.com/d/latency?var-instance=" + instance},
			},
			ReceivedAt: starts.Add(5 * time.Minute),
		}
		if status == core.StatusResolved {
			a.Alert.EndsAt = start.Add(3 * time.Minute)
		}
		return a
	}
	return &core.Notification{
		Group: group,
		Alerts: []core.EnrichedAlert{
			alert("a1b2c3d4e5f60718", "api-1:8080", core.SeverityCritical, core.StatusFiring, starts),
			alert("b2c3d4e5f6071829", "api-2:8080", core.SeverityWarning, core.StatusFiring, starts.Add(time.Minute)),
			alert("c3d4e5f60718293a", "api-3:8080", core.SeverityWarning, core.StatusResolved, starts.Add(-time.Minute)),
		},
		ReceivedAt: starts.Add(5 * time.Minute),
	}
}

// ResolvedIncidentNotification is IncidentNotification once every alert
// has resolved.
func ResolvedIncidentNotification() *core.Notification {
	n := IncidentNotification()
	n.Group.Status = core.StatusResolved
	for i := range n.Alerts {
		a := &n.Alerts[i]
		a.Group.Status = core.StatusResolved
		if a.Alert.Status == core.StatusFiring {
			a.Alert.Status, a.Alert.EndsAt = core.StatusResolved, a.Alert.StartsAt.Add(10*time.Minute)
		}
	}
	return n
}
