package e2e

import (
	"fmt"
	"net/http"
	"testing"
)

// retryConfig sends alert instance "p" to a steady target and instance "q"
// to a flaky one. Health is left out of target selection so that the flaky
// target's first failure cannot get it skipped on the resend.
const retryConfig = `
# These tests prove the fan-out's own contract: results in the answer,
# 503 so that Alertmanager retries. The outbox, which answers once the
# deliveries are on disk and retries by itself, is proved in crash_test.go.
outbox:
  enabled: false
fanout:
  health_strategy: publish_to_all
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

// TestAlertmanagerRetriesWithoutDuplicates: when one alert of a
// notification reaches no target, am-fanout answers 503, Alertmanager
// resends the whole notification, and am-fanout delivers only what is
// missing: the alert that had already arrived is not delivered twice.
func TestAlertmanagerRetriesWithoutDuplicates(t *testing.T) {
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
	if v, _ := metricValue(fams, "am_fanout_webhook_requests_total", map[string]string{"code": "503"}); v != 1 {
		t.Errorf("am_fanout_webhook_requests_total{code=\"503\"} = %v, want 1: the first notification reached no target for instance q", v)
	}
	already := map[string]string{"target": "steady", "skip_reason": "already_delivered"}
	if v, _ := metricValue(fams, "am_fanout_target_skipped_total", already); v != 1 {
		t.Errorf("%s = %v, want 1: the resent notification held instance p again", series("am_fanout_target_skipped_total", already), v)
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
