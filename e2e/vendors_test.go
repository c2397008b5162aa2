package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/publish/discord/discordtest"
	"github.com/am-fanout/am-fanout/publish/msteams/msteamstest"
	"github.com/am-fanout/am-fanout/publish/opsgenie/opsgenietest"
	"github.com/am-fanout/am-fanout/publish/pagerduty/pagerdutytest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
	"github.com/am-fanout/am-fanout/publish/rootly/rootlytest"
	"github.com/am-fanout/am-fanout/publish/slack/slacktest"
)

const (
	// vendorRoutingKey is a PagerDuty routing key: 32 characters.
	vendorRoutingKey = "E2EROUTINGKEYE2EROUTINGKEYE2E032"
	vendorGenieKey   = "e2e00000-0000-4000-8000-000000000001"
	vendorTeamsSig   = "e2e-teams-sig"
	vendorRootlyKey  = "e2e-rootly-source-secret"
)

// vendorsConfig has one target of every vendor type, each pointing at its
// fake. Health is left out of target selection so that every target gets
// every alert whatever happened before.
const vendorsConfig = `
# These tests prove the fan-out's own contract: results in the answer,
# 503 so that Alertmanager retries. The outbox, which answers once the
# deliveries are on disk and retries by itself, is proved in crash_test.go.
outbox:
  enabled: false
defaults:
  timeout: 5s
fanout:
  health_strategy: publish_to_all
targets:
  - name: slack
    type: slack
    url: '%s'
  - name: pagerduty
    type: pagerduty
    url: '%s'
    routing_key: '%s'
  - name: teams
    type: msteams
    url: '%s'
  - name: opsgenie
    type: opsgenie
    url: '%s'
    api_key: '%s'
  - name: discord
    type: discord
    url: '%s'
  - name: rootly
    type: rootly
    url: '%s'
    secret: '%s'
`

// vendorEnv is Alertmanager → am-fanout → a fake of every vendor.
type vendorEnv struct {
	am       *alertmanager
	fanout   *fanoutServer
	slack    *slacktest.Slack
	pd       *pagerdutytest.PagerDuty
	teams    *msteamstest.Teams
	opsgenie *opsgenietest.Opsgenie
	discord  *discordtest.Discord
	rootly   *rootlytest.Rootly
}

func newVendorEnv(t *testing.T) *vendorEnv {
	t.Helper()
	e := &vendorEnv{
		slack:    slacktest.NewSlack(t, ""),
		pd:       pagerdutytest.NewPagerDuty(t),
		teams:    msteamstest.NewTeams(t, vendorTeamsSig),
		opsgenie: opsgenietest.NewOpsgenie(t, vendorGenieKey),
		discord:  discordtest.NewDiscord(t),
		rootly:   rootlytest.NewRootly(t, "", vendorRootlyKey),
	}
	e.fanout = startFanout(t, fmt.Sprintf(vendorsConfig,
		e.slack.WebhookURL(), e.pd.URL(), vendorRoutingKey, e.teams.URL(),
		e.opsgenie.URL(), vendorGenieKey, e.discord.URL(), e.rootly.SourceURL(), vendorRootlyKey))
	e.am = startAlertmanager(t, e.fanout.url, "0s")
	return e
}

// vendorTarget is what the test knows of one target's fake: how many
// requests it answered, how many it accepted, and what the accepted ones
// must hold once the alert fired and resolved.
type vendorTarget struct {
	name     string
	requests func() int
	accepted func() int
	check    func(t *testing.T, alertname string)
}

func (e *vendorEnv) targets() []vendorTarget {
	return []vendorTarget{
		{"slack", e.slack.Requests, func() int { return len(e.slack.Calls()) }, e.checkSlack},
		{"pagerduty", e.pd.Requests, func() int { return len(e.pd.Events()) }, e.checkPagerDuty},
		{"teams", e.teams.Requests, func() int { return len(e.teams.Bodies()) }, e.checkTeams},
		{"opsgenie", e.opsgenie.Requests, func() int { return len(e.opsgenie.Calls()) }, e.checkOpsgenie},
		{"discord", e.discord.Requests, func() int { return len(e.discord.Bodies()) }, e.checkDiscord},
		{"rootly", e.rootly.Requests, func() int { return len(e.rootly.Bodies(rootlytest.RootlySourcePath)) }, e.checkRootly},
	}
}

// waitAccepted waits until every fake accepted n requests.
func (e *vendorEnv) waitAccepted(t *testing.T, n int, what string) {
	t.Helper()
	waitFor(t, waitTimeout, fmt.Sprintf("every vendor fake to accept the %s notification", what), func() (bool, string) {
		var seen []string
		ok := true
		for _, v := range e.targets() {
			got := v.accepted()
			ok = ok && got >= n
			seen = append(seen, fmt.Sprintf("%s %d/%d", v.name, got, v.requests()))
		}
		return ok, "accepted/answered: " + strings.Join(seen, ", ")
	})
}

// TestAlertmanagerToVendors routes an alert from a real Alertmanager
// through am-fanout to a fake of every vendor, firing then resolved. The
// fakes refuse whatever the vendor would refuse, so every request being
// accepted proves the contract held; the checks then prove the content.
func TestAlertmanagerToVendors(t *testing.T) {
	const alertname = "E2EVendorDown"
	e := newVendorEnv(t)
	alert := postableAlert{
		Labels:       map[string]string{"alertname": alertname, "severity": "critical", "service": "db"},
		Annotations:  map[string]string{"summary": "database is down", "runbook_url": "https://runbooks.example.com/db"},
		GeneratorURL: "http://prometheus.example.com/graph?g0.expr=up",
	}
	e.am.postAlerts(t, alert)
	e.waitAccepted(t, 1, "firing")
	alert.EndsAt = time.Now().UTC()
	e.am.postAlerts(t, alert)
	e.waitAccepted(t, 2, "resolved")
	e.fanout.waitMetric(t, "am_fanout_webhook_requests_total", map[string]string{"code": "200"}, 2)

	for _, v := range e.targets() {
		t.Run(v.name, func(t *testing.T) {
			if got, answered := v.accepted(), v.requests(); got != 2 || answered != 2 {
				t.Fatalf("the %s fake accepted %d of %d requests, want exactly 2 of 2 (firing, resolved) with none refused", v.name, got, answered)
			}
			v.check(t, alertname)
		})
	}
}

// Chat targets get one message per notification (group_by: notification
// by default), titled as Alertmanager titles a group.
func (e *vendorEnv) checkSlack(t *testing.T, alertname string) {
	for i, want := range []string{"[FIRING:1] " + alertname, "[RESOLVED:1] " + alertname} {
		c := e.slack.Calls()[i]
		text, _ := c.Msg["text"].(string)
		if c.Path != slacktest.SlackWebhookPath || !strings.Contains(text, want) {
			t.Errorf("Slack message %d went to %s with text %q, want the webhook path and a text naming %q", i, c.Path, text, want)
		}
	}
}

func (e *vendorEnv) checkPagerDuty(t *testing.T, alertname string) {
	ev := e.pd.Events()
	trigger, resolve := ev[0], ev[1]
	if trigger["event_action"] != "trigger" || resolve["event_action"] != "resolve" {
		t.Errorf("PagerDuty got %v then %v, want trigger then resolve", trigger["event_action"], resolve["event_action"])
	}
	if key, _ := trigger["dedup_key"].(string); key == "" || resolve["dedup_key"] != key {
		t.Errorf("dedup_key of trigger %q and resolve %q, want one and the same", trigger["dedup_key"], resolve["dedup_key"])
	}
	if summary, _ := trigger["payload"].(map[string]any)["summary"].(string); !strings.Contains(summary, "database is down") {
		t.Errorf("the trigger's payload.summary is %q, want the alert's summary", summary)
	}
	if body := string(e.pd.Bodies()[0]); !strings.Contains(body, alertname) {
		t.Errorf("the trigger does not name %s: %s", alertname, body)
	}
}

func (e *vendorEnv) checkTeams(t *testing.T, alertname string) {
	for i, want := range []string{"[FIRING:1] " + alertname, "[RESOLVED:1] " + alertname} {
		body := e.teams.Bodies()[i]
		var msg struct {
			Attachments []struct {
				ContentType string `json:"contentType"`
				Content     struct {
					Type string `json:"type"`
				} `json:"content"`
			} `json:"attachments"`
		}
		if err := json.Unmarshal(body, &msg); err != nil || len(msg.Attachments) != 1 {
			t.Fatalf("Teams message %d: want one attachment (decoding: %v): %s", i, err, body)
		}
		if a := msg.Attachments[0]; a.ContentType != "application/vnd.microsoft.card.adaptive" || a.Content.Type != "AdaptiveCard" {
			t.Errorf("Teams message %d holds a %s %s, want an Adaptive Card", i, a.ContentType, a.Content.Type)
		}
		if !strings.Contains(string(body), want) {
			t.Errorf("Teams card %d does not say %q: %s", i, want, body)
		}
	}
}

func (e *vendorEnv) checkOpsgenie(t *testing.T, alertname string) {
	create, closing := e.opsgenie.Calls()[0], e.opsgenie.Calls()[1]
	alias, _ := create.Fields["alias"].(string)
	message, _ := create.Fields["message"].(string)
	if create.Path != "/v2/alerts" || alias == "" || !strings.Contains(message, alertname) {
		t.Errorf("Opsgenie's first request: %s with alias %q and message %q, want a create with an alias and a message naming %s", create.Path, alias, message, alertname)
	}
	if want := "/v2/alerts/" + url.PathEscape(alias) + "/close"; closing.Path != want || closing.Query != "identifierType=alias" {
		t.Errorf("Opsgenie's second request: %s?%s, want %s?identifierType=alias", closing.Path, closing.Query, want)
	}
}

func (e *vendorEnv) checkDiscord(t *testing.T, alertname string) {
	for i, want := range []string{"FIRING", "RESOLVED"} {
		if body := string(e.discord.Bodies()[i]); !strings.Contains(body, want) || !strings.Contains(body, alertname) {
			t.Errorf("Discord message %d does not name %s %s: %s", i, alertname, want, body)
		}
	}
}

func (e *vendorEnv) checkRootly(t *testing.T, alertname string) {
	for i, want := range []string{"firing", "resolved"} {
		var m amMessage
		body := e.rootly.Bodies(rootlytest.RootlySourcePath)[i]
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("Rootly's alert source got something that is not Alertmanager's payload: %v", err)
		}
		checkAMMessage(t, m, e.am.url, alertname, want)
	}
}

// vendorRetryConfig sends alert instance "p" to Slack and instance "q" to
// PagerDuty. The outbox is on, as by default.
const vendorRetryConfig = `
fanout:
  health_strategy: publish_to_all
outbox:
  retry_base: 100ms
targets:
  - name: slack
    type: slack
    url: '%s'
    match: ['instance="p"']
  - name: pagerduty
    type: pagerduty
    url: '%s'
    routing_key: '%s'
    match: ['instance="q"']
`

// TestPagerDutyRateLimitIsRetriedByTheOutbox: PagerDuty answers the first
// event 429 with Retry-After. am-fanout has persisted the delivery, so it
// answers Alertmanager 200 at once and retries by itself after the wait
// PagerDuty asked for; each vendor gets its alert exactly once.
func TestPagerDutyRateLimitIsRetriedByTheOutbox(t *testing.T) {
	slack := slacktest.NewSlack(t, "")
	pd := pagerdutytest.NewPagerDuty(t)
	pd.Script(publishtest.Answer{
		Status: http.StatusTooManyRequests, RetryAfter: "1", ContentType: "application/json",
		Body: `{"status":"throttle event","message":"Requests for this service are arriving too quickly. Please retry later."}`,
	})
	f := startFanout(t, fmt.Sprintf(vendorRetryConfig, slack.WebhookURL(), pd.URL(), vendorRoutingKey))
	// A group wait of a second puts both alerts into one notification.
	am := startAlertmanager(t, f.url, "1s")

	am.postAlerts(t,
		postableAlert{Labels: map[string]string{"alertname": "E2EVendorRetry", "severity": "critical", "instance": "p"}},
		postableAlert{Labels: map[string]string{"alertname": "E2EVendorRetry", "severity": "critical", "instance": "q"}},
	)
	waitFor(t, waitTimeout, "PagerDuty to accept the trigger it first throttled", func() (bool, string) {
		return len(pd.Events()) >= 1, fmt.Sprintf("%d requests, %d accepted", pd.Requests(), len(pd.Events()))
	})
	f.waitMetric(t, "am_fanout_webhook_requests_total", map[string]string{"code": "200"}, 1)

	fams := f.metrics(t)
	if v, _ := metricValue(fams, "am_fanout_webhook_requests_total", map[string]string{"code": "503"}); v != 0 {
		t.Errorf("am_fanout_webhook_requests_total{code=\"503\"} = %v, want 0: the outbox holds the throttled delivery, Alertmanager need not resend", v)
	}
	if v, _ := metricValue(fams, "am_fanout_delivery_retries_total", map[string]string{"target": "pagerduty"}); v < 1 {
		t.Errorf("am_fanout_delivery_retries_total{target=\"pagerduty\"} = %v, want at least 1", v)
	}
	if events, n := pd.Events(), pd.Requests(); len(events) != 1 || n != 2 || events[0]["event_action"] != "trigger" {
		t.Errorf("PagerDuty answered %d requests and accepted %d events, want the throttled one and exactly one trigger after it", n, len(events))
	}
	if calls := slack.Calls(); len(calls) != 1 || slack.Requests() != 1 {
		t.Errorf("Slack got %d requests (%d accepted), want its alert exactly once", slack.Requests(), len(calls))
	}
}
