package e2e

import (
	"fmt"
	"net/http"
	"testing"
)

// retryConfig sends alert instance "p" to a steady target and instance "q"
// to a flaky one, with pending deliveries in memory (outbox disabled):
// the same pipeline without durability.
const retryConfig = `
outbox:
  enabled: false
targets:
  - name: steady
    type: webhook
    url: %s
    match: ['instance="p"']
  - name: flaky
    type: webhook
    url: %s
    match: ['instance="q"']
`

// TestFailedDeliveryIsRetriedWithoutResend: when one alert of a
// notification fails at its target, am-fanout has already accepted it
// (200, nothing for Alertmanager to resend) and the target's lane retries
// it; the alert that arrived is not delivered twice.
func TestFailedDeliveryIsRetriedWithoutResend(t *testing.T) {
	steady := newTargetServer(t, http.StatusOK)
	flaky := newTargetServer(t, http.StatusInternalServerError, http.StatusOK)
	f := startFanout(t, fmt.Sprintf(retryConfig, steady.URL(), flaky.URL()))
	// A group wait of a second puts both alerts into one notification.
	am := startAlertmanager(t, f.url, "1s")

	am.postAlerts(t,
		postableAlert{Labels: map[string]string{"alertname": "E2ERetry", "instance": "p"}},
		postableAlert{Labels: map[string]string{"alertname": "E2ERetry", "instance": "q"}},
	)
	waitFor(t, waitTimeout, "the flaky target to get the alert again after failing once", func() (bool, string) {
		n := len(flaky.deliveries())
		return n >= 2, fmt.Sprintf("%d deliveries", n)
	})
	f.waitMetric(t, "am_fanout_webhook_requests_total", map[string]string{"code": "200"}, 1)

	fams := f.metrics(t)
	if v, _ := metricValue(fams, "am_fanout_webhook_requests_total", map[string]string{"code": "503"}); v != 0 {
		t.Errorf("am_fanout_webhook_requests_total{code=\"503\"} = %v, want 0: the accepted delivery is retried by am-fanout, not resent", v)
	}
	if v, _ := metricValue(fams, "am_fanout_delivery_retries_total", map[string]string{"target": "flaky"}); v != 1 {
		t.Errorf("am_fanout_delivery_retries_total{target=\"flaky\"} = %v, want 1", v)
	}
	for _, c := range []struct {
		target   *targetServer
		name     string
		instance string
		want     int
	}{
		{steady, "steady", "p", 1},
		{flaky, "flaky", "q", 2},
	} {
		msgs := c.target.amMessages(t)
		if len(msgs) != c.want {
			t.Errorf("%s got %d deliveries, want %d", c.name, len(msgs), c.want)
		}
		for _, m := range msgs {
			if len(m.Alerts) != 1 || m.Alerts[0].Labels["instance"] != c.instance {
				t.Errorf("%s got %+v, want only the alert of instance %s", c.name, m.Alerts, c.instance)
			}
		}
	}
}
