package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/publish/discord/discordtest"
	"github.com/am-fanout/am-fanout/publish/msteams/msteamstest"
	"github.com/am-fanout/am-fanout/publish/pagerduty/pagerdutytest"
	"github.com/am-fanout/am-fanout/publish/slack/slacktest"
)

// These tests put a real Alertmanager in front of am-fanout and storm one
// pipeline with throttling, outages, a crash and bursts, each measuring
// how soon the backlog reaches its target once the target lets it. The
// outbox runs with its defaults: durable in bbolt, a failing target
// probed one delivery at a time on a backoff capped at 5s, its breaker
// opening after 5 failures for 5s.

// stormWebhookConfig is one webhook target, unlimited in pace, in the
// Alertmanager format: one alert a request.
const stormWebhookConfig = `
targets:
  - name: storm
    type: webhook
    url: %s
`

// numberedAlerts are n alerts of one alert name, told apart by their
// instance label, numbered from first.
func numberedAlerts(alertname string, first, n int) []postableAlert {
	alerts := make([]postableAlert, n)
	for i := range alerts {
		alerts[i] = postableAlert{Labels: map[string]string{
			"alertname": alertname, "severity": "warning", "instance": stormInstance(alertname, first+i),
		}}
	}
	return alerts
}

func stormInstance(alertname string, i int) string { return fmt.Sprintf("%s-%04d", alertname, i) }

// delivered says when the target first accepted each alert, by instance.
func (s *scriptedTarget) delivered(t *testing.T) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	for _, r := range s.requests() {
		if r.status/100 != 2 {
			continue
		}
		m := decodeAM(t, r.body)
		for _, a := range m.Alerts {
			if _, seen := out[a.Labels["instance"]]; !seen {
				out[a.Labels["instance"]] = r.at
			}
		}
	}
	return out
}

// waitDelivered waits until the target accepted n distinct alerts and
// returns when the last of them arrived.
func (s *scriptedTarget) waitDelivered(t *testing.T, n int, timeout time.Duration) time.Time {
	t.Helper()
	var got map[string]time.Time
	waitFor(t, timeout, fmt.Sprintf("%d alerts delivered", n), func() (bool, string) {
		got = s.delivered(t)
		return len(got) >= n, fmt.Sprintf("%d delivered in %d requests", len(got), len(s.requests()))
	})
	var last time.Time
	for _, at := range got {
		if at.After(last) {
			last = at
		}
	}
	return last
}

// TestStormRetryAfterPausesTheLane: a target answers 429 with
// Retry-After: 2 for 6s from its first request. Its lane pauses for each
// Retry-After and asks one delivery at a time meanwhile, so all 20 alerts
// arrive within a Retry-After of the end of the throttling.
func TestStormRetryAfterPausesTheLane(t *testing.T) {
	const throttledFor, retryAfter = 6 * time.Second, 2 * time.Second
	target := newScriptedTarget(t,
		phase{status: http.StatusTooManyRequests, retryAfter: "2", lasts: throttledFor},
		phase{status: http.StatusOK})
	f := startFanout(t, fmt.Sprintf(stormWebhookConfig, target.URL()))
	// A group wait of a second puts the 20 alerts in one notification.
	am := startAlertmanager(t, f.url, "1s")
	am.postAlerts(t, numberedAlerts("E2EStorm429", 0, 20)...)

	last := target.waitDelivered(t, 20, time.Minute)
	first, _ := target.phaseBegan(0)
	took := last.Sub(first)
	counts := target.statuses()
	t.Logf("429 with Retry-After: 2 for %s: all 20 alerts delivered %s after the first 429, %s after the throttling ended; %d answers 429, %d 200",
		throttledFor, took.Round(time.Millisecond), (took - throttledFor).Round(time.Millisecond), counts[http.StatusTooManyRequests], counts[http.StatusOK])
	if limit := throttledFor + retryAfter + 4*time.Second; took > limit {
		t.Errorf("the last alert arrived %s after the first 429, want within %s (6s of 429, a Retry-After, 4s of slack)", took, limit)
	}
	// The first attempts (fanout.max_concurrent, 10, at once), then one
	// probe per pause.
	if n := counts[http.StatusTooManyRequests]; n > 20+2*int(throttledFor/retryAfter) {
		t.Errorf("%d requests answered 429, want the first attempts and about one per Retry-After", n)
	}
}

// TestStormOutageAcrossAKill: a target is down (503) for 20s; halfway
// through, am-fanout is killed with SIGKILL and restarted on its storage
// and address, and more alerts come. The restarted process resumes the
// durable backlog, and the last alert arrives within the backoff cap (5s)
// of the target's recovery.
func TestStormOutageAcrossAKill(t *testing.T) {
	const outage = 20 * time.Second
	target := newScriptedTarget(t, phase{status: http.StatusServiceUnavailable, lasts: outage}, phase{status: http.StatusOK})
	dir := t.TempDir()
	c := &crashProcess{t: t, cfgFile: filepath.Join(dir, "am-fanout.yml"), storage: filepath.Join(dir, "storage"), sameAddress: true,
		config: func(int) string { return fmt.Sprintf(stormWebhookConfig, target.URL()) }}
	c.start()
	am := startAlertmanager(t, *c.url.Load(), "1s")
	am.postAlerts(t, numberedAlerts("E2EStormOutage", 0, 20)...)

	var down time.Time
	waitFor(t, waitTimeout, "the first attempt", func() (bool, string) {
		var ok bool
		down, ok = target.phaseBegan(0)
		return ok, "no request yet"
	})
	time.Sleep(time.Until(down.Add(outage / 2)))
	pending := c.kill()
	killedAt := time.Since(down)
	c.number++
	c.start()
	am.postAlerts(t, numberedAlerts("E2EStormOutage", 20, 20)...)

	last := target.waitDelivered(t, 40, outage+time.Minute)
	up, _ := target.phaseBegan(1)
	late := last.Sub(up)
	// The backlog waits for the lane's next probe: how late depends on
	// where the recovery falls between two probes.
	var probed time.Time
	for _, r := range target.requests() {
		if r.status == http.StatusServiceUnavailable {
			probed = r.at
		}
	}
	t.Logf("down for %s, killed %s into it with %d deliveries pending, 20 more alerts after the restart: the last of 40 delivered %s after the recovery (the last failed probe %s before it); %d requests failed",
		outage, killedAt.Round(time.Millisecond), len(pending), late.Round(time.Millisecond), up.Sub(probed).Round(time.Millisecond),
		target.statuses()[http.StatusServiceUnavailable])
	if len(pending) != 20 {
		t.Errorf("the killed process left %d deliveries pending, want the 20 alerts it could not deliver", len(pending))
	}
	if late > 7*time.Second {
		t.Errorf("the last alert arrived %s after the target recovered, want within 7s (the 5s between probes and slack)", late)
	}
}

// TestStormFlappingTargetDrains: 1500 alerts pending for a target that
// fails, is up for a moment (300 deliveries), fails again, then is up for
// good. At an unlimited pace the backlog is drained within 15s of the
// final recovery: the wait for one probe, then the rest at once.
func TestStormFlappingTargetDrains(t *testing.T) {
	const briefly = 300
	target := newScriptedTarget(t,
		phase{status: http.StatusServiceUnavailable, lasts: 4 * time.Second},
		phase{status: http.StatusOK, answers: briefly},
		phase{status: http.StatusServiceUnavailable, lasts: 4 * time.Second},
		phase{status: http.StatusOK})
	// Not every delivery logged: there are 1500.
	f := startFanout(t, fmt.Sprintf(stormWebhookConfig, target.URL()), "--log.level=info")
	am := startAlertmanager(t, f.url, "1s")
	// Through Alertmanager, in three POSTs of 500 alerts of one name each:
	// three notifications of 500.
	for g := range 3 {
		am.postAlerts(t, numberedAlerts(fmt.Sprintf("E2EStormFlap%d", g), 0, 500)...)
	}

	last := target.waitDelivered(t, 1500, 2*time.Minute)
	var began [4]time.Time
	for i := range began {
		began[i], _ = target.phaseBegan(i)
	}
	took := last.Sub(began[3])
	counts := target.statuses()
	t.Logf("1500 alerts to a flapping target (down %s, up for %d deliveries in %s, down %s): drained %s after the final recovery; %d requests failed, %d accepted",
		began[1].Sub(began[0]).Round(time.Millisecond), briefly, began[2].Sub(began[1]).Round(time.Millisecond), began[3].Sub(began[2]).Round(time.Millisecond),
		took.Round(time.Millisecond), counts[http.StatusServiceUnavailable], counts[http.StatusOK])
	if took > 15*time.Second {
		t.Errorf("the backlog drained %s after the final recovery, want within 15s", took)
	}
}

// stormBoundsConfig is one webhook target paced at 20 deliveries a second
// behind an outbox bounded at 20 pending deliveries: one notification of
// 20 alerts fills it, and the lane takes a second to empty it. Webhooks
// wait up to 8s for room, within the 10s Alertmanager gives a
// notification (notify.MinTimeout) with this group_interval.
const stormBoundsConfig = `
outbox:
  max_pending: 20
  wait_for_room: 8s
targets:
  - name: storm
    type: webhook
    url: %s
    rate_limit: {per_second: 20, burst: 1}
`

// TestStormAtTheBoundsWaitsForRoom: five notifications of 20 alerts come
// at once to an outbox with room for one. Each webhook waits for the
// room the lane's deliveries free instead of being answered 503, so all
// 100 alerts arrive in about the five seconds the pace takes, and no
// notification is refused or has to wait for Alertmanager's retry.
func TestStormAtTheBoundsWaitsForRoom(t *testing.T) {
	target := newScriptedTarget(t, phase{status: http.StatusOK})
	f := startFanout(t, fmt.Sprintf(stormBoundsConfig, target.URL()))
	am := startAlertmanager(t, f.url, "1s")
	var alerts []postableAlert
	for g := range 5 {
		alerts = append(alerts, numberedAlerts(fmt.Sprintf("E2EStormBounds%d", g), 0, 20)...)
	}
	start := time.Now()
	am.postAlerts(t, alerts...)

	last := target.waitDelivered(t, 100, time.Minute)
	fams := f.metrics(t)
	refused, _ := metricValue(fams, "am_fanout_webhook_requests_total", map[string]string{"code": "503"})
	accepted, _ := metricValue(fams, "am_fanout_webhook_requests_total", map[string]string{"code": "200"})
	var waits uint64
	var waited float64
	if fam := fams["am_fanout_webhook_room_wait_seconds"]; fam != nil {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == "room" {
					waits, waited = m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	t.Logf("5 notifications of 20 alerts to an outbox with room for 20, drained at 20/s: all 100 delivered %s after they were posted; %v webhooks answered 200, %v 503; %d waited for room, %.1fs in all",
		last.Sub(start).Round(time.Millisecond), accepted, refused, waits, waited)
	if refused != 0 {
		t.Errorf("%v webhooks answered 503, want none: each had room within its wait", refused)
	}
	if waits == 0 {
		t.Errorf("no webhook waited for room, want the ones that came while the outbox was full to have")
	}
}

// stormGroupConfig has three chat targets, one message per notification
// by default, and two incident targets, one delivery per alert.
const stormGroupConfig = `
targets:
  - name: slack
    type: slack
    url: '%s'
  - name: teams
    type: msteams
    url: '%s'
  - name: discord
    type: discord
    url: '%s'
  - name: pagerduty
    type: pagerduty
    url: '%s'
    routing_key: '%s'
    # The fake takes 120 events a minute; a burst of 50 stays within it
    # and spares the test the default pace's 18s.
    rate_limit: {burst: 50}
  - name: webhook
    type: webhook
    url: %s
`

// TestStormOneGroupOneChatMessage: one Alertmanager notification of 50
// alerts is one message to each chat target and 50 deliveries to each
// incident target.
func TestStormOneGroupOneChatMessage(t *testing.T) {
	slack := slacktest.NewSlack(t, "")
	teams := msteamstest.NewTeams(t, vendorTeamsSig)
	discord := discordtest.NewDiscord(t)
	pd := pagerdutytest.NewPagerDuty(t)
	hook := newTargetServer(t, http.StatusOK)
	f := startFanout(t, fmt.Sprintf(stormGroupConfig, slack.WebhookURL(), teams.URL(), discord.URL(), pd.URL(), vendorRoutingKey, hook.URL()))
	// A group wait of 2s puts all 50 in the group's first notification.
	am := startAlertmanager(t, f.url, "2s")
	posted := time.Now()
	am.postAlerts(t, numberedAlerts("E2EStormGroup", 0, 50)...)

	counts := func() map[string][2]int { // target → accepted, requests
		return map[string][2]int{
			"slack":     {len(slack.Calls()), slack.Requests()},
			"teams":     {len(teams.Bodies()), teams.Requests()},
			"discord":   {len(discord.Bodies()), discord.Requests()},
			"pagerduty": {len(pd.Events()), pd.Requests()},
			"webhook":   {len(hook.deliveries()), len(hook.deliveries())},
		}
	}
	want := map[string]int{"slack": 1, "teams": 1, "discord": 1, "pagerduty": 50, "webhook": 50}
	waitFor(t, waitTimeout, "every target to have its messages", func() (bool, string) {
		got := counts()
		for name, n := range want {
			if got[name][0] < n {
				return false, fmt.Sprintf("accepted, requests: %v", got)
			}
		}
		return true, ""
	})
	took := time.Since(posted)
	// Anything more would come within Alertmanager's group interval (1s).
	time.Sleep(2 * time.Second)
	got := counts()
	t.Logf("one notification of 50 alerts, all delivered %s after the POST to Alertmanager: accepted/requests %v", took.Round(time.Millisecond), got)
	for name, n := range want {
		if got[name] != [2]int{n, n} {
			t.Errorf("%s accepted %d of %d requests, want exactly %d of %d", name, got[name][0], got[name][1], n, n)
		}
	}
	for name, bodies := range map[string][][]byte{"slack": callBodies(slack.Calls()), "teams": teams.Bodies(), "discord": discord.Bodies()} {
		if len(bodies) == 1 && !strings.Contains(string(bodies[0]), "FIRING:50") {
			t.Errorf("the %s message does not count the group's 50 firing alerts: %s", name, bodies[0])
		}
	}
	keys := map[any]bool{}
	for _, ev := range pd.Events() {
		keys[ev["dedup_key"]] = true
	}
	if len(keys) != 50 {
		t.Errorf("PagerDuty got %d distinct dedup keys, want one per alert (50)", len(keys))
	}
	instances := map[string]bool{}
	for _, d := range hook.deliveries() {
		for _, a := range decodeAM(t, d.body).Alerts {
			instances[a.Labels["instance"]] = true
		}
	}
	if len(instances) != 50 {
		t.Errorf("the webhook got %d distinct alerts, want 50", len(instances))
	}
}

func callBodies(calls []slacktest.SlackCall) [][]byte {
	out := make([][]byte, len(calls))
	for i, c := range calls {
		out[i] = c.Body
	}
	return out
}

// stormSlackConfig is a Slack incoming webhook at its default pace (1 a
// second, a burst of 3, as the fake enforces), whose group message names
// every alert by its instance.
const stormSlackConfig = `
targets:
  - name: chat
    type: slack
    url: '%s'
    templates:
      text: '{{ range .Alerts }}{{ .Labels.instance }} {{ end }}'
`

// TestStormSlackBurstIsCoalesced: 200 alerts of 5 groups arrive over 8s,
// so Alertmanager notifies each group about every second while Slack
// takes one message a second. The lane paces to Slack's limit (no 429)
// and coalesces each group's pending messages into its newest, so each
// group gets a handful of messages and its last names all its alerts.
func TestStormSlackBurstIsCoalesced(t *testing.T) {
	const groups, perGroup = 5, 40
	slack := slacktest.NewSlack(t, "")
	f := startFanout(t, fmt.Sprintf(stormSlackConfig, slack.WebhookURL()))
	am := startAlertmanager(t, f.url, "0s")
	name := func(g int) string { return fmt.Sprintf("E2EStormChat%d", g) }

	// Every 200ms, each group gets one more alert.
	for i := range perGroup {
		var alerts []postableAlert
		for g := range groups {
			alerts = append(alerts, numberedAlerts(name(g), i, 1)...)
		}
		am.postAlerts(t, alerts...)
		time.Sleep(200 * time.Millisecond)
	}
	posted := time.Now()

	// byGroup sorts the accepted messages by group, in order.
	byGroup := func() [][]string {
		out := make([][]string, groups)
		for _, c := range slack.Calls() {
			for g := range groups {
				if strings.Contains(string(c.Body), name(g)) {
					out[g] = append(out[g], string(c.Body))
				}
			}
		}
		return out
	}
	complete := func(g int, msg string) (missing int) {
		for i := range perGroup {
			if !strings.Contains(msg, stormInstance(name(g), i)) {
				missing++
			}
		}
		return missing
	}
	var last time.Time
	waitFor(t, time.Minute, "the newest message of every group to name all its alerts", func() (bool, string) {
		var seen []string
		done := true
		for g, msgs := range byGroup() {
			missing := perGroup
			if len(msgs) > 0 {
				missing = complete(g, msgs[len(msgs)-1])
			}
			done = done && missing == 0
			seen = append(seen, fmt.Sprintf("%s: %d messages, the newest missing %d", name(g), len(msgs), missing))
		}
		last = time.Now()
		return done, strings.Join(seen, "; ")
	})
	// A later message would come within a second or two.
	time.Sleep(3 * time.Second)

	msgs := byGroup()
	perGroupCounts := make([]int, groups)
	for g := range msgs {
		perGroupCounts[g] = len(msgs[g])
	}
	throttled := slack.Requests() - len(slack.Calls())
	t.Logf("200 alerts of 5 groups over %s: %d messages (per group %v), %d answered 429; every group's newest complete %s after the last POST",
		time.Duration(perGroup)*200*time.Millisecond, len(slack.Calls()), perGroupCounts, throttled, last.Sub(posted).Round(time.Millisecond))
	if throttled != 0 {
		t.Errorf("the Slack fake refused %d of %d requests (429 past its 1 a second), want none: the lane must keep to Slack's pace", throttled, slack.Requests())
	}
	for g, n := range perGroupCounts {
		if n > 6 {
			t.Errorf("%s got %d messages, want at most 6: pending messages of a group are coalesced into its newest", name(g), n)
		}
		if n > 0 {
			if missing := complete(g, msgs[g][n-1]); missing != 0 {
				t.Errorf("the newest message of %s misses %d of its %d alerts", name(g), missing, perGroup)
			}
		}
	}
}
