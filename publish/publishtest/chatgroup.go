package publishtest

import (
	"fmt"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// ChatNotification is a notification of the HighLatency group grouped by
// alertname and service, with firing alerts then resolved ones, each on
// its own instance and pod, every link set; truncated is how many alerts
// Alertmanager cut from it.
func ChatNotification(firing, resolved int, truncated uint64) *core.Notification {
	starts := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	n := &core.Notification{
		Group: core.Group{
			Receiver: "fanout", Status: core.StatusFiring, GroupKey: `{}/{severity="critical"}:{alertname="HighLatency", service="checkout"}`,
			GroupLabels:       map[string]string{"alertname": "HighLatency", "service": "checkout"},
			CommonLabels:      map[string]string{"alertname": "HighLatency", "service": "checkout", "severity": "critical", "cluster": "eu-1"},
			CommonAnnotations: map[string]string{},
			ExternalURL:       "http://alertmanager:9093",
			TruncatedAlerts:   truncated,
		},
		ReceivedAt: starts.Add(30 * time.Second),
	}
	if firing == 0 {
		n.Group.Status = core.StatusResolved
	}
	for i := range firing + resolved {
		a := ChatAlert(i >= firing)
		a.Group = n.Group
		a.Alert.Fingerprint = fmt.Sprintf("a1b2c3d4e5f6%04d", i)
		a.Alert.Labels["instance"] = fmt.Sprintf("10.0.0.%d:8080", i+1)
		a.Alert.Labels["pod"] = fmt.Sprintf("checkout-%d", i+1)
		a.Alert.Annotations["summary"] = fmt.Sprintf("p99 latency above 2s on 10.0.0.%d", i+1)
		a.Alert.StartsAt = starts.Add(time.Duration(i) * time.Minute)
		if a.Alert.Status == core.StatusResolved {
			a.Alert.EndsAt = a.Alert.StartsAt.Add(10 * time.Minute)
		}
		a.Alert.GeneratorURL = fmt.Sprintf("http://prometheus:9090/graph?g0.expr=latency&instance=%d", i+1)
		n.Alerts = append(n.Alerts, *a)
	}
	return n
}

// OversizedChatNotification is a notification of count OversizedAlerts,
// each its own alert (fingerprint and instance "0", "1", …).
func OversizedChatNotification(count int) *core.Notification {
	n := ChatNotification(0, 0, 0)
	for i := range count {
		a := OversizedAlert()
		a.Alert.Fingerprint = fmt.Sprint(i)
		a.Alert.Labels["instance"] = fmt.Sprint(i)
		n.Alerts = append(n.Alerts, *a)
	}
	return n
}
