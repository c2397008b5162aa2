package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// resolveConfig delivers every alert, through the outbox, to two webhooks
// (one of each format) and a file.
const resolveConfig = `
targets:
  - name: pager
    type: webhook
    url: %s
    format: alertmanager
  - name: ticketing
    type: webhook
    url: %s
    format: enriched
  - name: audit
    type: file
    path: data/alerts.jsonl
`

// resolveEnv is Alertmanager → am-fanout → the targets of resolveConfig.
type resolveEnv struct {
	am               *alertmanager
	fanout           *fanoutServer
	pager, ticketing *targetServer
}

// arrivals says when each target first received the alert of the name in
// the status; a target missing from the map has not received it.
func (e *resolveEnv) arrivals(t *testing.T, alertname string, status core.AlertStatus) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	for i, m := range e.pager.amMessages(t) {
		for _, a := range m.Alerts {
			if _, seen := out["pager"]; !seen && a.Labels["alertname"] == alertname && a.Status == string(status) {
				out["pager"] = e.pager.deliveries()[i].at
			}
		}
	}
	for i, a := range e.ticketing.enrichedAlerts(t) {
		if _, seen := out["ticketing"]; !seen && a.Alert.Labels["alertname"] == alertname && a.Alert.Status == status {
			out["ticketing"] = e.ticketing.deliveries()[i].at
		}
	}
	// The file target's line carries when am-fanout received the alert.
	lines := readJSONLines(t, filepath.Join(e.fanout.dir, "data", "alerts.jsonl"))
	if a := findEnriched(lines, alertname, status); a != nil {
		out["audit"] = a.ReceivedAt
	}
	return out
}

// waitEveryTarget waits until every target has the alert in the status
// and says when each got it.
func (e *resolveEnv) waitEveryTarget(t *testing.T, alertname string, status core.AlertStatus) map[string]time.Time {
	t.Helper()
	var got map[string]time.Time
	waitFor(t, waitTimeout, fmt.Sprintf("every target to receive %s %s", alertname, status), func() (bool, string) {
		got = e.arrivals(t, alertname, status)
		return len(got) == 3, fmt.Sprintf("received by %d of 3 targets: %v", len(got), got)
	})
	return got
}

// startsAt is the start of the alert of the name in the status as the
// Alertmanager-format target received it.
func (e *resolveEnv) startsAt(t *testing.T, alertname string, status core.AlertStatus) time.Time {
	t.Helper()
	m, _, _ := e.pager.findAM(t, alertname, string(status))
	for _, a := range m.Alerts {
		if a.Labels["alertname"] == alertname {
			return a.StartsAt
		}
	}
	t.Fatalf("pager has no %s %s", alertname, status)
	return time.Time{}
}

// apiStartsAt is the start of the alert of the name as Alertmanager's
// GET /api/v2/alerts shows it, which is what a script that keeps the start
// reads back (in milliseconds).
func (am *alertmanager) apiStartsAt(t *testing.T, alertname string) time.Time {
	t.Helper()
	q := url.Values{"filter": {fmt.Sprintf("alertname=%q", alertname)}}
	resp, err := client.Get(am.url + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		t.Fatalf("GET /api/v2/alerts: %v", err)
	}
	defer resp.Body.Close()
	var alerts []struct {
		StartsAt time.Time `json:"startsAt"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v2/alerts answered %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil || len(alerts) != 1 {
		t.Fatalf("GET /api/v2/alerts for %s: %v, %d alerts, want one", alertname, err, len(alerts))
	}
	return alerts[0].StartsAt
}

// TestResolveThroughAlertmanagersAPI: an alert resolved through
// POST /api/v2/alerts reaches every target, both when the resolve gives
// only an end in the past (Alertmanager then sets its start to that end,
// before the firing's) and when it keeps the start read from the API and
// ends now (Alertmanager's merge keeps the earliest start, the one
// truncated to milliseconds).
func TestResolveThroughAlertmanagersAPI(t *testing.T) {
	e := &resolveEnv{pager: newTargetServer(t, http.StatusOK), ticketing: newTargetServer(t, http.StatusOK)}
	e.fanout = startFanout(t, fmt.Sprintf(resolveConfig, e.pager.URL(), e.ticketing.URL()))
	e.am = startAlertmanager(t, e.fanout.url, "0s")

	for _, tc := range []struct {
		name      string
		alertname string
		resolve   func(labels map[string]string) postableAlert
	}{
		{"only endsAt, in the past", "E2EResolveEndsOnly", func(labels map[string]string) postableAlert {
			return postableAlert{Labels: labels, EndsAt: time.Now().Add(-time.Minute)}
		}},
		{"startsAt kept, endsAt now", "E2EResolveKeepsStart", func(labels map[string]string) postableAlert {
			return postableAlert{Labels: labels, StartsAt: e.am.apiStartsAt(t, labels["alertname"]), EndsAt: time.Now()}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labels := map[string]string{"alertname": tc.alertname}
			e.am.postAlerts(t, postableAlert{Labels: labels})
			e.waitEveryTarget(t, tc.alertname, core.StatusFiring)

			resolvedAt := time.Now()
			e.am.postAlerts(t, tc.resolve(labels))
			got := e.waitEveryTarget(t, tc.alertname, core.StatusResolved)

			// The case only proves something while Alertmanager moves the
			// resolve's start before the firing's.
			fired, ended := e.startsAt(t, tc.alertname, core.StatusFiring), e.startsAt(t, tc.alertname, core.StatusResolved)
			if !ended.Before(fired) {
				t.Fatalf("the resolve starts at %s, not before the firing's %s: Alertmanager no longer moves it back",
					ended.Format(time.RFC3339Nano), fired.Format(time.RFC3339Nano))
			}
			last := got["pager"]
			if got["ticketing"].After(last) {
				last = got["ticketing"]
			}
			t.Logf("%s: the resolve (start moved back by %s) reached both webhook targets %s after it was posted to Alertmanager, %s after am-fanout received it",
				tc.name, fired.Sub(ended), last.Sub(resolvedAt).Round(time.Millisecond), last.Sub(got["audit"]).Round(time.Microsecond))
		})
	}
}
