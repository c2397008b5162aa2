package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// waitTimeout bounds every wait for something to arrive.
const waitTimeout = 20 * time.Second

// secretToken is part of some target URLs; it must never be shown.
const secretToken = "e2e-s3cr3t-t0k3n"

// deliveryConfig is am-fanout's config for the Alertmanager test: one
// webhook never answering, with a breaker that opens after two failures,
// one answering 500, a plain and an enriched webhook, and a file. The
// broken targets come first, so that a fan-out that waited for them would
// show. Passive health is left out of target selection so that the
// blackhole is skipped because its breaker opened and for no other reason.
const deliveryConfig = `
# Pending deliveries in memory, and answers after the first attempts, so
# that two answered notifications mean every target has had its turn. The
# durable outbox is proved in crash_test.go.
outbox:
  enabled: false
  wait_for_first_attempt: true
defaults:
  timeout: 5s
fanout:
  timeout: 20s
  health_strategy: publish_to_all
targets:
  - name: blackhole
    type: webhook
    url: %s
    timeout: 1s
    breaker: {failures: 2, open_for: 1h, half_open_requests: 1}
  - name: failing
    type: webhook
    url: %s
    breaker: {failures: 100, open_for: 1h, half_open_requests: 1}
  - name: all-alertmanager
    type: webhook
    url: %s
    format: alertmanager
  - name: critical-enriched
    type: webhook
    url: %s
    format: enriched
    match: ['severity="critical"']
  - name: audit
    type: file
    path: data/alerts.jsonl
`

// deliveryEnv is Alertmanager → am-fanout → the targets of deliveryConfig.
type deliveryEnv struct {
	am        *alertmanager
	fanout    *fanoutServer
	all       *targetServer // every alert, Alertmanager format
	critical  *targetServer // severity="critical" only, enriched format
	failing   *targetServer // answers 500
	blackhole *blackhole    // never answers
}

func newDeliveryEnv(t *testing.T) *deliveryEnv {
	t.Helper()
	e := &deliveryEnv{
		all:       newTargetServer(t, http.StatusOK),
		critical:  newTargetServer(t, http.StatusOK),
		failing:   newTargetServer(t, http.StatusInternalServerError),
		blackhole: newBlackhole(t),
	}
	// The broken targets' URLs hold a token, as real webhook URLs often do;
	// their errors are the likeliest place for it to leak.
	e.fanout = startFanout(t, fmt.Sprintf(deliveryConfig,
		e.blackhole.URL()+"/"+secretToken, e.failing.URL()+"/"+secretToken, e.all.URL(), e.critical.URL()))
	e.am = startAlertmanager(t, e.fanout.url, "0s")
	return e
}

// auditLines reads the file target's lines, each an enriched alert.
func (e *deliveryEnv) auditLines(t *testing.T) []core.EnrichedAlert {
	t.Helper()
	return readJSONLines(t, filepath.Join(e.fanout.dir, "data", "alerts.jsonl"))
}

// TestAlertmanagerToTargets routes alerts from a real Alertmanager through
// am-fanout to local targets. The steps build on each other: the breaker
// of the blackhole opens from the failures of the first step.
func TestAlertmanagerToTargets(t *testing.T) {
	e := newDeliveryEnv(t)
	steps := []struct {
		name string
		run  func(*testing.T, *deliveryEnv)
	}{
		{"firing alerts reach every target whose matchers select them", firingAlertsReachMatchingTargets},
		{"a failing and a hanging target do not hold up the others", brokenTargetsDoNotHoldUpOthers},
		{"a resolved alert reaches the targets that selected it", resolvedAlertReachesTargets},
		{"a never-answering target is skipped once its breaker is open", openBreakerSkipsBlackhole},
		{"a notification's answer reports every target's outcome", answerReportsEveryTarget},
		{"no answer, metric, API or log line holds a URL's token", tokenNeverLeaks},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, e) }) {
			return
		}
	}
}

func firingAlertsReachMatchingTargets(t *testing.T, e *deliveryEnv) {
	e.am.amtoolAdd(t, "alertname=E2ECritical", "severity=critical", "service=db",
		"--annotation=summary=database is down")
	e.am.postAlerts(t, postableAlert{
		Labels:      map[string]string{"alertname": "E2EWarning", "severity": "warning", "service": "web"},
		Annotations: map[string]string{"summary": "web answers slowly"},
	})
	// am-fanout answers Alertmanager only after every delivery finished,
	// so two answered notifications mean every target has had its turn.
	e.fanout.waitMetric(t, "am_fanout_webhook_requests_total", map[string]string{"code": "200"}, 2)

	for _, name := range []string{"E2ECritical", "E2EWarning"} {
		msg, _, ok := e.all.findAM(t, name, "firing")
		if !ok {
			t.Fatalf("all-alertmanager never received %s firing; got %d deliveries", name, len(e.all.deliveries()))
		}
		checkAMMessage(t, msg, e.am.url, name, "firing")
	}

	crit := e.critical.enrichedAlerts(t)
	if len(crit) != 1 {
		t.Fatalf("critical-enriched (match severity=\"critical\") got %d deliveries, want exactly the one critical alert: %+v", len(crit), crit)
	}
	firing, _, _ := e.all.findAM(t, "E2ECritical", "firing")
	checkEnriched(t, crit[0], e.am.url, firing.Alerts[0].Fingerprint, "E2ECritical", core.StatusFiring)
	for _, d := range e.critical.deliveries() {
		if d.contentType != "application/json" {
			t.Errorf("critical-enriched got Content-Type %q, want application/json", d.contentType)
		}
	}

	lines := e.auditLines(t)
	for _, name := range []string{"E2ECritical", "E2EWarning"} {
		if findEnriched(lines, name, core.StatusFiring) == nil {
			t.Errorf("the file target has no firing line for %s; lines: %+v", name, lines)
		}
	}
}

func brokenTargetsDoNotHoldUpOthers(t *testing.T, e *deliveryEnv) {
	// Each firing alert had its first attempt at the failing target; its
	// lane then probes it one delivery at a time, so more may follow.
	if n := len(e.failing.deliveries()); n < 2 {
		t.Errorf("the target answering 500 got %d requests, want at least one per firing alert (2)", n)
	}
	fams := e.fanout.metrics(t)
	if v, _ := metricValue(fams, "am_fanout_target_failure_total", map[string]string{"target": "failing", "type": "webhook"}); v < 2 {
		t.Errorf("am_fanout_target_failure_total{target=\"failing\"} = %v, want at least 2", v)
	}
	if v, _ := metricValue(fams, "am_fanout_target_success_total", map[string]string{"target": "all-alertmanager", "type": "webhook"}); v != 2 {
		t.Errorf("am_fanout_target_success_total{target=\"all-alertmanager\"} = %v, want 2 despite the failing targets", v)
	}

	// The blackhole held each request until its 1s timeout; the healthy
	// target must have had the same alert before am-fanout gave up on the
	// blackhole, which a sequential fan-out could not do.
	conns := e.blackhole.connections()
	if len(conns) != 2 {
		t.Fatalf("the blackhole saw %d connections, want one per firing alert (2)", len(conns))
	}
	for _, c := range conns {
		if c.closed.IsZero() {
			t.Errorf("am-fanout still holds a connection to the blackhole; its 1s timeout should have closed it")
			continue
		}
		name := alertnameIn(c.request, "E2ECritical", "E2EWarning")
		if name == "" {
			t.Errorf("the blackhole got a request for neither alert: %q", c.request)
			continue
		}
		_, at, _ := e.all.findAM(t, name, "firing")
		if !at.Before(c.closed) {
			t.Errorf("all-alertmanager got %s at %s, only after am-fanout gave up on the blackhole at %s",
				name, at.Format(time.StampMicro), c.closed.Format(time.StampMicro))
		}
	}
}

func resolvedAlertReachesTargets(t *testing.T, e *deliveryEnv) {
	e.am.amtoolAdd(t, "alertname=E2ECritical", "severity=critical", "service=db",
		"--annotation=summary=database is down", "--end="+time.Now().UTC().Format(time.RFC3339))
	waitFor(t, waitTimeout, "all-alertmanager to receive E2ECritical resolved", func() (bool, string) {
		_, _, ok := e.all.findAM(t, "E2ECritical", "resolved")
		return ok, fmt.Sprintf("%d deliveries", len(e.all.deliveries()))
	})
	e.fanout.waitMetric(t, "am_fanout_webhook_requests_total", map[string]string{"code": "200"}, 3)

	firing, _, _ := e.all.findAM(t, "E2ECritical", "firing")
	resolved, _, _ := e.all.findAM(t, "E2ECritical", "resolved")
	checkAMMessage(t, resolved, e.am.url, "E2ECritical", "resolved")
	if got, want := resolved.Alerts[0].Fingerprint, firing.Alerts[0].Fingerprint; got != want {
		t.Errorf("the resolved alert has fingerprint %s, the firing one %s", got, want)
	}

	crit := e.critical.enrichedAlerts(t)
	if len(crit) != 2 {
		t.Fatalf("critical-enriched got %d deliveries, want the critical alert firing then resolved: %+v", len(crit), crit)
	}
	checkEnriched(t, crit[1], e.am.url, firing.Alerts[0].Fingerprint, "E2ECritical", core.StatusResolved)
	if crit[1].Alert.EndsAt.IsZero() {
		t.Errorf("the resolved enriched alert has no endsAt")
	}
	if findEnriched(e.auditLines(t), "E2ECritical", core.StatusResolved) == nil {
		t.Errorf("the file target has no resolved line for E2ECritical")
	}
}

func openBreakerSkipsBlackhole(t *testing.T, e *deliveryEnv) {
	fams := e.fanout.metrics(t)
	blackhole := map[string]string{"target": "blackhole"}
	if v, _ := metricValue(fams, "am_fanout_target_failure_total", blackhole); v != 2 {
		t.Errorf("am_fanout_target_failure_total{target=\"blackhole\"} = %v, want 2 (the failures that opened its breaker)", v)
	}
	skipped := map[string]string{"target": "blackhole", "type": "webhook", "skip_reason": "circuit_open"}
	if v, _ := metricValue(fams, "am_fanout_target_skipped_total", skipped); v < 1 {
		t.Errorf("%s = %v, want at least 1 (the resolved alert)", series("am_fanout_target_skipped_total", skipped), v)
	}
	if v, found := metricValue(fams, "am_fanout_breaker_state", blackhole); !found || v != 2 {
		t.Errorf("am_fanout_breaker_state{target=\"blackhole\"} = %v (present: %v), want 2 (open)", v, found)
	}
	if v, found := metricValue(fams, "am_fanout_breaker_state", map[string]string{"target": "all-alertmanager"}); !found || v != 0 {
		t.Errorf("am_fanout_breaker_state{target=\"all-alertmanager\"} = %v (present: %v), want 0 (closed)", v, found)
	}
	if n := len(e.blackhole.connections()); n != 2 {
		t.Errorf("the blackhole saw %d connections, want 2: with its breaker open am-fanout must not try it again", n)
	}
	checkTargetsAPI(t, e.fanout, "blackhole", "open")
	checkTargetsAPI(t, e.fanout, "all-alertmanager", "closed")
}

func answerReportsEveryTarget(t *testing.T, e *deliveryEnv) {
	payload := v4Payload(t, "firing", map[string]string{"alertname": "E2EDirect", "severity": "critical"})
	code, _, ans, raw := e.fanout.postWebhook(t, payload)
	if code != http.StatusOK {
		t.Fatalf("POST /webhook answered %d, want 200: %s", code, raw)
	}
	if len(ans.Alerts) != 1 {
		t.Fatalf("the answer holds %d alerts, want 1: %s", len(ans.Alerts), raw)
	}
	want := map[string]targetResult{
		"all-alertmanager":  {Type: "webhook", Result: "success"},
		"critical-enriched": {Type: "webhook", Result: "success"},
		"failing":           {Type: "webhook", Result: "failure", StatusCode: http.StatusInternalServerError},
		"blackhole":         {Type: "webhook", Result: "skipped", SkipReason: "circuit_open"},
		"audit":             {Type: "file", Result: "success"},
	}
	checkResults(t, ans.Alerts[0].Result.Results, want, raw)
	if bytes.Contains(raw, []byte(secretToken)) {
		t.Errorf("the /webhook answer shows a target URL's token: %s", raw)
	}
	r := ans.Alerts[0].Result
	if r.TotalTargets != 5 || r.SuccessCount != 3 || r.FailureCount != 1 || r.SkippedCount != 1 {
		t.Errorf("counts total/success/failure/skipped = %d/%d/%d/%d, want 5/3/1/1: %s",
			r.TotalTargets, r.SuccessCount, r.FailureCount, r.SkippedCount, raw)
	}
}

func tokenNeverLeaks(t *testing.T, e *deliveryEnv) {
	if conns := e.blackhole.connections(); len(conns) == 0 || !bytes.Contains(conns[0].request, []byte("/"+secretToken+" HTTP/1.1")) {
		t.Fatalf("the blackhole was not called on its URL with the token, so this check would prove nothing")
	}
	for _, path := range []string{"/metrics", "/api/v1/targets", "/api/v1/status"} {
		resp, err := client.Get(e.fanout.url + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s, %v", path, resp.Status, err)
		}
		if bytes.Contains(body, []byte(secretToken)) {
			t.Errorf("GET %s shows a target URL's token", path)
		}
	}
	if out := e.fanout.proc.out.String(); strings.Contains(out, secretToken) {
		t.Errorf("am-fanout's log (debug level) shows a target URL's token")
	}
}

// checkResults compares per-target results by target name; errors and
// durations must be present where they apply.
func checkResults(t *testing.T, got []targetResult, want map[string]targetResult, raw []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d target results, want %d: %s", len(got), len(want), raw)
	}
	for _, r := range got {
		w, ok := want[r.Target]
		if !ok {
			t.Errorf("unexpected result for target %q: %+v", r.Target, r)
			continue
		}
		if r.Type != w.Type || r.Result != w.Result || r.StatusCode != w.StatusCode || r.SkipReason != w.SkipReason {
			t.Errorf("target %s: got type=%s result=%s status_code=%d skip_reason=%q, want type=%s result=%s status_code=%d skip_reason=%q",
				r.Target, r.Type, r.Result, r.StatusCode, r.SkipReason, w.Type, w.Result, w.StatusCode, w.SkipReason)
		}
		if (r.Result == "failure") != (r.Error != "") {
			t.Errorf("target %s: result %s with error %q; failures and only failures carry an error", r.Target, r.Result, r.Error)
		}
		if _, err := time.ParseDuration(r.Duration); err != nil {
			t.Errorf("target %s: duration %q is not a Go duration: %v", r.Target, r.Duration, err)
		}
	}
}

// checkAMMessage checks a webhook target's Alertmanager-format body: a v4
// payload holding exactly this one alert with its group context.
func checkAMMessage(t *testing.T, m amMessage, amURL, alertname, status string) {
	t.Helper()
	if m.Version != "4" || m.Receiver != "am-fanout" || m.ExternalURL != amURL {
		t.Errorf("%s %s: version=%q receiver=%q externalURL=%q, want 4, am-fanout, %s", alertname, status, m.Version, m.Receiver, m.ExternalURL, amURL)
	}
	if want := fmt.Sprintf(`{}:{alertname=%q}`, alertname); m.GroupKey != want {
		t.Errorf("%s %s: groupKey %q, want %q", alertname, status, m.GroupKey, want)
	}
	if len(m.Alerts) != 1 {
		t.Fatalf("%s %s: %d alerts in one delivery, want 1", alertname, status, len(m.Alerts))
	}
	a := m.Alerts[0]
	if a.Status != status || m.Status != status || a.Fingerprint == "" || a.StartsAt.IsZero() {
		t.Errorf("%s: alert status=%q payload status=%q fingerprint=%q startsAt=%s, want %s, %s, set, set",
			alertname, a.Status, m.Status, a.Fingerprint, a.StartsAt, status, status)
	}
}

// checkEnriched checks an enriched alert against what Alertmanager sent.
func checkEnriched(t *testing.T, a core.EnrichedAlert, amURL, fingerprint, alertname string, status core.AlertStatus) {
	t.Helper()
	if a.Alert.Labels["alertname"] != alertname || a.Alert.Status != status {
		t.Errorf("enriched alert is %s %s, want %s %s", a.Alert.Labels["alertname"], a.Alert.Status, alertname, status)
	}
	if a.Alert.Fingerprint != fingerprint {
		t.Errorf("enriched %s has fingerprint %q, Alertmanager's is %q", alertname, a.Alert.Fingerprint, fingerprint)
	}
	if a.Classification.Severity != core.SeverityCritical {
		t.Errorf("enriched %s has severity %q, want critical", alertname, a.Classification.Severity)
	}
	if a.Group.Receiver != "am-fanout" || a.Group.ExternalURL != amURL || !strings.Contains(a.Group.GroupKey, alertname) {
		t.Errorf("enriched %s has group receiver=%q externalURL=%q groupKey=%q, want am-fanout, %s and a key naming the alert",
			alertname, a.Group.Receiver, a.Group.ExternalURL, a.Group.GroupKey, amURL)
	}
}

func findEnriched(as []core.EnrichedAlert, alertname string, status core.AlertStatus) *core.EnrichedAlert {
	for i := range as {
		if as[i].Alert.Labels["alertname"] == alertname && as[i].Alert.Status == status {
			return &as[i]
		}
	}
	return nil
}

// alertnameIn returns the first of names that a raw request body labels
// an alert with.
func alertnameIn(request []byte, names ...string) string {
	for _, n := range names {
		if bytes.Contains(request, fmt.Appendf(nil, `"alertname":%q`, n)) {
			return n
		}
	}
	return ""
}

// readJSONLines decodes a file target's output, one enriched alert per
// line; a missing file has no lines.
func readJSONLines(t *testing.T, path string) []core.EnrichedAlert {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("opening the file target's output: %v", err)
	}
	defer f.Close()
	var out []core.EnrichedAlert
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var a core.EnrichedAlert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("%s: line %d is not an enriched alert: %v: %s", path, len(out)+1, err, sc.Bytes())
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return out
}
