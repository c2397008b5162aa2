package publishtest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/publish/discord/discordtest"
	"github.com/am-fanout/am-fanout/publish/msteams/msteamstest"
	"github.com/am-fanout/am-fanout/publish/opsgenie/opsgenietest"
	"github.com/am-fanout/am-fanout/publish/pagerduty/pagerdutytest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
	"github.com/am-fanout/am-fanout/publish/rootly/rootlytest"
	"github.com/am-fanout/am-fanout/publish/slack/slacktest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testRoutingKey = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32"

// call is one request to a fake and what it must answer.
type call struct {
	name        string
	url         func(t *testing.T) string
	header      map[string]string
	body        string
	wantStatus  int
	wantInReply string
}

func post(t *testing.T, c call) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url(t), strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(reply)
}

func pdEvent(summary string) string {
	return fmt.Sprintf(`{"routing_key":%q,"event_action":"trigger","payload":{"summary":%q,"source":"db-1","severity":"critical"}}`, testRoutingKey, summary)
}

func slackSection(text string) string {
	return fmt.Sprintf(`{"text":"fallback","blocks":[{"type":"section","text":{"type":"mrkdwn","text":%q}}]}`, text)
}

// slackSections is a message of n sections of size characters each.
func slackSections(n, size int) string {
	section := fmt.Sprintf(`{"type":"section","text":{"type":"mrkdwn","text":%q}}`, strings.Repeat("t", size))
	return `{"channel":"#a","text":"fallback","blocks":[` + strings.TrimSuffix(strings.Repeat(section+",", n), ",") + `]}`
}

// discordEmbeds is a message of n embeds, each titled "t" with a
// description of size characters.
func discordEmbeds(n, size int) string {
	embed := fmt.Sprintf(`{"title":"t","description":%q}`, strings.Repeat("d", size))
	return `{"embeds":[` + strings.TrimSuffix(strings.Repeat(embed+",", n), ",") + `]}`
}

func teamsCard(version, text string) string {
	return fmt.Sprintf(`{"type":"message","attachments":[{"contentType":%q,"contentUrl":null,"content":{"$schema":%q,"type":"AdaptiveCard","version":%q,"body":[{"type":"TextBlock","text":%q}]}}]}`,
		"application/vnd.microsoft.card.adaptive", "http://adaptivecards.io/schemas/adaptive-card.json", version, text)
}

const amPayload = `{"version":"4","groupKey":"{}:{alertname=\"A\"}","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"},"fingerprint":"f1","startsAt":"2026-01-01T00:00:00Z"}]}`

// TestFakesEnforceTheVendorContracts sends each fake a request its vendor
// accepts and requests its vendor refuses, one rule broken at a time.
func TestFakesEnforceTheVendorContracts(t *testing.T) {
	pd := func(t *testing.T) string { return pagerdutytest.NewPagerDuty(t).URL() }
	slack := func(t *testing.T) string { return slacktest.NewSlack(t, "xoxb-1").WebhookURL() }
	slackAPI := func(t *testing.T) string { return slacktest.NewSlack(t, "xoxb-1").APIURL() + "chat.postMessage" }
	teams := func(t *testing.T) string { return msteamstest.NewTeams(t, "sig").URL() }
	discord := func(t *testing.T) string { return discordtest.NewDiscord(t).URL() }
	opsgenie := func(t *testing.T) string { return opsgenietest.NewOpsgenie(t, "key").URL() + "/v2/alerts" }
	rootly := func(t *testing.T) string { return rootlytest.NewRootly(t, "token", "secret").SourceURL() }
	genie := map[string]string{"Authorization": "GenieKey key"}
	bearer := map[string]string{"Authorization": "Bearer secret"}
	utf8JSON := map[string]string{"Content-Type": "application/json; charset=utf-8"}
	tests := []call{
		{name: "pagerdutytest.PagerDuty accepts a complete trigger", url: pd, body: pdEvent("db down"), wantStatus: 202, wantInReply: `"status":"success"`},
		{name: "pagerdutytest.PagerDuty refuses a summary of 1025 characters", url: pd, body: pdEvent(strings.Repeat("s", 1025)), wantStatus: 400, wantInReply: "'payload.summary' is too long"},
		{name: "pagerdutytest.PagerDuty refuses a routing key of 31 characters", url: pd, body: strings.Replace(pdEvent("x"), testRoutingKey, testRoutingKey[1:], 1), wantStatus: 400, wantInReply: "routing_key"},
		{name: "pagerdutytest.PagerDuty refuses a resolve without dedup_key", url: pd, body: fmt.Sprintf(`{"routing_key":%q,"event_action":"resolve"}`, testRoutingKey), wantStatus: 400, wantInReply: "dedup_key"},
		{name: "pagerdutytest.PagerDuty refuses a timestamp that is not ISO 8601", url: pd, body: strings.Replace(pdEvent("x"), `"severity"`, `"timestamp":"04/03/2025","severity"`, 1), wantStatus: 400, wantInReply: "'payload.timestamp'"},
		{name: "pagerdutytest.PagerDuty refuses an event over 512 KB", url: pd, body: pdEvent(strings.Repeat("s", pagerdutytest.PagerDutyMaxEvent)), wantStatus: 400, wantInReply: "512 KB"},
		{name: "a slacktest.Slack webhook accepts Block Kit within limits", url: slack, body: slackSection(strings.Repeat("t", 3000)), wantStatus: 200, wantInReply: "ok"},
		{name: "a slacktest.Slack webhook refuses a section of 3001 characters", url: slack, body: slackSection(strings.Repeat("t", 3001)), wantStatus: 400, wantInReply: "invalid_blocks"},
		{name: "a slacktest.Slack webhook accepts 12,000 characters of blocks in all", url: slack, body: slackSections(4, 3000), wantStatus: 200, wantInReply: "ok"},
		{name: "a slacktest.Slack webhook refuses more blocks text in all than Slack takes", url: slack, body: slackSections(5, 2401), wantStatus: 400, wantInReply: "msg_blocks_too_long"},
		{name: "slacktest.Slack's Web API refuses more blocks text in all than Slack takes", url: slackAPI, header: map[string]string{"Authorization": "Bearer xoxb-1", "Content-Type": "application/json; charset=utf-8"}, body: slackSections(5, 2401), wantStatus: 200, wantInReply: `"error":"msg_blocks_too_long"`},
		{name: "a slacktest.Slack webhook refuses a body that is not JSON", url: slack, body: "text=hi", wantStatus: 400, wantInReply: "invalid_payload"},
		{name: "slacktest.Slack's Web API refuses a wrong token with 200 ok:false", url: slackAPI, header: map[string]string{"Authorization": "Bearer xoxb-2", "Content-Type": "application/json; charset=utf-8"}, body: `{"channel":"#a","text":"hi"}`, wantStatus: 200, wantInReply: `"error":"invalid_auth"`},
		{name: "msteamstest.Teams accepts an Adaptive Card 1.4", url: teams, body: teamsCard("1.4", "hi"), wantStatus: 202},
		{name: "msteamstest.Teams refuses a card version it does not render", url: teams, body: teamsCard("1.6", "hi"), wantStatus: 400, wantInReply: "card version"},
		{name: "msteamstest.Teams refuses a message over 28 KB", url: teams, body: teamsCard("1.4", strings.Repeat("t", msteamstest.TeamsMaxBytes)), wantStatus: 413, wantInReply: "RequestEntityTooLarge"},
		{name: "msteamstest.Teams accepts 27 KB sent with charset=utf-8", url: teams, header: utf8JSON, body: teamsCard("1.4", strings.Repeat("t", 27000)), wantStatus: 202},
		{name: "msteamstest.Teams refuses 15 KB sent without charset=utf-8", url: teams, body: teamsCard("1.4", strings.Repeat("t", 15000)), wantStatus: 413, wantInReply: "charset=utf-8"},
		{name: "msteamstest.Teams refuses a wrong signature", url: func(t *testing.T) string { return strings.Replace(teams(t), "sig=sig", "sig=old", 1) }, body: teamsCard("1.4", "hi"), wantStatus: 401},
		{name: "discordtest.Discord accepts an embed", url: discord, body: `{"embeds":[{"title":"t","description":"d"}]}`, wantStatus: 204},
		{name: "discordtest.Discord refuses a title of 257 characters", url: discord, body: fmt.Sprintf(`{"embeds":[{"title":%q}]}`, strings.Repeat("t", 257)), wantStatus: 400, wantInReply: "50035"},
		{name: "discordtest.Discord refuses an empty message", url: discord, body: `{}`, wantStatus: 400, wantInReply: "50006"},
		{name: "discordtest.Discord accepts ten embeds", url: discord, body: discordEmbeds(10, 500), wantStatus: 204},
		{name: "discordtest.Discord refuses eleven embeds", url: discord, body: discordEmbeds(11, 10), wantStatus: 400, wantInReply: "11 embeds"},
		{name: "discordtest.Discord refuses 6001 characters across embeds", url: discord, body: discordEmbeds(3, 2000), wantStatus: 400, wantInReply: "embeds total"},
		{name: "a slacktest.Slack webhook refuses 51 blocks", url: slack, body: slackSections(51, 10), wantStatus: 400, wantInReply: "51 blocks"},
		{name: "slacktest.Slack's Web API refuses a channel name Slack cannot have", url: slackAPI, header: map[string]string{"Authorization": "Bearer xoxb-1", "Content-Type": "application/json; charset=utf-8"}, body: `{"channel":"#Team Alerts","text":"hi"}`, wantStatus: 200, wantInReply: "channel_not_found"},
		{name: "opsgenietest.Opsgenie accepts a create", url: opsgenie, header: genie, body: `{"message":"db down","alias":"f1","priority":"P1"}`, wantStatus: 202},
		{name: "opsgenietest.Opsgenie refuses a message of 131 characters", url: opsgenie, header: genie, body: fmt.Sprintf(`{"message":%q}`, strings.Repeat("m", 131)), wantStatus: 422, wantInReply: "message"},
		{name: "opsgenietest.Opsgenie refuses an alias of 513 characters", url: opsgenie, header: genie, body: fmt.Sprintf(`{"message":"m","alias":%q}`, strings.Repeat("a", 513)), wantStatus: 422, wantInReply: "alias"},
		{name: "opsgenietest.Opsgenie refuses a description of 15001 characters", url: opsgenie, header: genie, body: fmt.Sprintf(`{"message":"m","description":%q}`, strings.Repeat("d", 15001)), wantStatus: 422, wantInReply: "description"},
		{name: "opsgenietest.Opsgenie refuses a wrong key", url: opsgenie, header: map[string]string{"Authorization": "GenieKey other"}, body: `{"message":"m"}`, wantStatus: 401},
		{name: "rootlytest.Rootly's alert source accepts a v4 payload", url: rootly, header: bearer, body: amPayload, wantStatus: 200},
		{name: "rootlytest.Rootly's alert source refuses payload version 3", url: rootly, header: bearer, body: strings.Replace(amPayload, `"4"`, `"3"`, 1), wantStatus: 422},
		{name: "rootlytest.Rootly's alert source refuses a payload without groupKey", url: rootly, header: bearer, body: strings.Replace(amPayload, `"groupKey"`, `"group"`, 1), wantStatus: 422, wantInReply: "groupKey"},
		{name: "rootlytest.Rootly's alert source refuses a resolved payload with a firing alert", url: rootly, header: bearer, body: strings.Replace(amPayload, `"status":"firing","alerts"`, `"status":"resolved","alerts"`, 1), wantStatus: 422, wantInReply: "does not match"},
		{name: "rootlytest.Rootly's alert source refuses a wrong secret", url: rootly, header: map[string]string{"Authorization": "Bearer other"}, body: amPayload, wantStatus: 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, reply := post(t, tc)
			if status != tc.wantStatus || !strings.Contains(reply, tc.wantInReply) {
				t.Errorf("answered %d %q, want %d with %q", status, reply, tc.wantStatus, tc.wantInReply)
			}
		})
	}
}

// TestScriptedAnswersComeFirst: a 429 with Retry-After is served before
// the fake's own answer, and both requests are counted.
func TestScriptedAnswersComeFirst(t *testing.T) {
	f := pagerdutytest.NewPagerDuty(t)
	f.Script(publishtest.Answer{Status: http.StatusTooManyRequests, RetryAfter: "3", Body: "slow down"})
	req := call{url: func(*testing.T) string { return f.URL() }, body: pdEvent("db down")}

	status, reply := post(t, req)
	if status != http.StatusTooManyRequests || reply != "slow down" {
		t.Errorf("first answer %d %q, want the scripted 429", status, reply)
	}
	if status, _ := post(t, req); status != http.StatusAccepted {
		t.Errorf("second answer %d, want 202 once the script is spent", status)
	}
	if f.Requests() != 2 || len(f.Events()) != 1 {
		t.Errorf("Requests() = %d, Events() = %d, want 2 answered and 1 accepted", f.Requests(), len(f.Events()))
	}
}
