package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/publish/discord/discordtest"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

func newDiscordTest(t *testing.T, f *discordtest.Discord, tmpl publish.Templates, o publish.Options) *discord {
	t.Helper()
	spec := &Config{
		URL: publish.Secret(f.URL()), Username: DefaultDiscordUsername,
		HTTPConfig: commoncfg.DefaultHTTPClientConfig, Templates: tmpl,
	}
	o.UserAgent = "am-fanout/test"
	p, err := newDiscord("discord-test", spec, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestDiscordPostsOneEmbed(t *testing.T) {
	tests := []struct {
		name   string
		alert  *core.EnrichedAlert
		tmpl   publish.Templates
		golden string
	}{
		{name: "firing", alert: publishtest.ChatAlert(false), golden: "firing.json"},
		{name: "resolved", alert: publishtest.ChatAlert(true), golden: "resolved.json"},
		{
			name: "templates, with a mention that must not ping", alert: publishtest.ChatAlert(false),
			tmpl:   publish.Templates{"title": "{{ .Alert.Labels.service }} is slow", "content": "@everyone {{ .Summary }}"},
			golden: "templated.json",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := discordtest.NewDiscord(t)
			p := newDiscordTest(t, f, tc.tmpl, publish.Options{})
			if err := p.Publish(context.Background(), tc.alert); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			posts := f.Bodies()
			if len(posts) != 1 || !f.Waits()[0] {
				t.Fatalf("fake accepted %d posts (wait=%v), want 1 with wait=true", len(posts), f.Waits())
			}
			var msg discordMessage
			if err := json.Unmarshal(posts[0], &msg); err != nil {
				t.Fatal(err)
			}
			if msg.AllowedMentions.Parse == nil || len(msg.AllowedMentions.Parse) != 0 {
				t.Errorf("allowed_mentions.parse = %v, want [] so nothing can ping", msg.AllowedMentions.Parse)
			}
			publishtest.AssertGolden(t, tc.golden, posts[0])
		})
	}
}

func TestDiscordKeepsEmbedWithinLimits(t *testing.T) {
	f := discordtest.NewDiscord(t)
	p := newDiscordTest(t, f, nil, publish.Options{})
	if err := p.Publish(context.Background(), publishtest.OversizedAlert()); err != nil {
		t.Fatalf("Publish of an oversized alert: %v (the fake enforces Discord's limits)", err)
	}
	var msg discordMessage
	if err := json.Unmarshal(f.Bodies()[0], &msg); err != nil {
		t.Fatal(err)
	}
	e := msg.Embeds[0]
	if size := discordEmbedSize(&e); size > discordEmbedTotalMax {
		t.Errorf("embed text totals %d characters, want ≤ %d", size, discordEmbedTotalMax)
	}
	if !strings.HasSuffix(e.Title, "…") || !strings.HasSuffix(e.Description, "…") {
		t.Errorf("title or description not cut visibly: title ends %q, description ends %q", publishtest.Tail(e.Title), publishtest.Tail(e.Description))
	}
}

func TestDiscordFitTrimsDescriptionThenFields(t *testing.T) {
	fields := func(n, size int) []discordField {
		out := make([]discordField, n)
		for i := range out {
			out[i] = discordField{Name: fmt.Sprint("f", i), Value: strings.Repeat("v", size)}
		}
		return out
	}
	tests := []struct {
		name       string
		embed      discordEmbed
		wantFields int
		wantDesc   bool // some description is left
	}{
		{name: "small embed untouched", embed: discordEmbed{Title: "t", Description: "d", Fields: fields(3, 10)}, wantFields: 3, wantDesc: true},
		{name: "description gives way first", embed: discordEmbed{Title: "t", Description: strings.Repeat("d", 4000), Fields: fields(4, 1000)}, wantFields: 4, wantDesc: true},
		{name: "then fields from the last", embed: discordEmbed{Title: "t", Description: strings.Repeat("d", 100), Fields: fields(25, 1000)}, wantFields: 5, wantDesc: true},
		{name: "description not cut below its floor", embed: discordEmbed{Title: "t", Description: strings.Repeat("d", 4096), Fields: fields(25, 1000)}, wantFields: 4, wantDesc: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.embed
			fitDiscordEmbed(&e)
			if size := discordEmbedSize(&e); size > discordEmbedTotalMax {
				t.Errorf("size %d > %d", size, discordEmbedTotalMax)
			}
			if len(e.Fields) != tc.wantFields || (e.Description != "") != tc.wantDesc {
				t.Errorf("kept %d fields and description %d characters, want %d fields, description kept %v",
					len(e.Fields), utf8.RuneCountInString(e.Description), tc.wantFields, tc.wantDesc)
			}
		})
	}
}

func TestDiscordOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		answer     publishtest.Answer
		retryable  bool
		retryAfter time.Duration
		says       string
	}{
		{
			name:      "429 honours the JSON retry_after over the header",
			answer:    publishtest.Answer{Status: 429, Body: `{"message":"You are being rate limited.","retry_after":1.5,"global":false}`, RetryAfter: "2"},
			retryable: true, retryAfter: 1500 * time.Millisecond, says: "You are being rate limited.",
		},
		{
			name:      "429 without retry_after falls back to the header",
			answer:    publishtest.Answer{Status: 429, Body: `{"message":"You are being rate limited."}`, RetryAfter: "3"},
			retryable: true, retryAfter: 3 * time.Second, says: "rate limited",
		},
		{name: "502 is retryable", answer: publishtest.Answer{Status: 502, Body: "<html>bad gateway</html>"}, retryable: true, says: "bad gateway"},
		{name: "empty message is permanent", answer: publishtest.Answer{Status: 400, Body: `{"code":50006,"message":"Cannot send an empty message"}`}, says: "discord error 50006: Cannot send an empty message"},
		{name: "unknown webhook is permanent", answer: publishtest.Answer{Status: 404, Body: `{"code":10015,"message":"Unknown Webhook"}`}, says: "Unknown Webhook"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := discordtest.NewDiscord(t)
			log, logs := publishtest.DebugLogger()
			p := newDiscordTest(t, f, nil, publish.Options{Logger: log})
			f.Script(tc.answer)
			err := p.Publish(context.Background(), publishtest.ChatAlert(false))
			publishtest.AssertDeliveryError(t, err, tc.answer.Status, tc.retryable, tc.retryAfter, tc.says)
			if strings.Contains(err.Error(), "WEBHOOKSECRET") || strings.Contains(logs.String(), "WEBHOOKSECRET") {
				t.Errorf("the webhook token leaked: error %v, logs %s", err, logs)
			}
			if err := p.Publish(context.Background(), publishtest.ChatAlert(false)); err != nil {
				t.Errorf("second Publish, once Discord recovered: %v", err)
			}
		})
	}
}

func TestDiscordNetworkErrorHidesURL(t *testing.T) {
	f := discordtest.NewDiscord(t)
	p := newDiscordTest(t, f, nil, publish.Options{})
	f.Close()
	err := p.Publish(context.Background(), publishtest.ChatAlert(false))
	if err == nil || !core.IsRetryable(err) {
		t.Fatalf("Publish to a closed server: %v, want a retryable error", err)
	}
	if strings.Contains(err.Error(), "WEBHOOKSECRET") {
		t.Errorf("error reveals the webhook token: %v", err)
	}
}

func TestDiscordRenderKeepsTheWebhookQuery(t *testing.T) {
	f := discordtest.NewDiscord(t)
	spec := &Config{URL: publish.Secret(f.URL() + "?thread_id=99"), HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	p, err := newDiscord("d", spec, publish.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	reqs, err := p.Render(context.Background(), publishtest.ChatAlert(false))
	if err != nil || len(reqs) != 1 {
		t.Fatalf("Render: %d requests, %v", len(reqs), err)
	}
	q := reqs[0].URL.Query()
	if q.Get("wait") != "true" || q.Get("thread_id") != "99" || reqs[0].Method != "POST" {
		t.Errorf("request %s ?%s, want POST with wait=true and the thread_id kept", reqs[0].Method, reqs[0].URL.RawQuery)
	}
	if len(f.Bodies()) != 0 {
		t.Error("Render sent the request")
	}
}

func TestDiscordPostsToThreads(t *testing.T) {
	tests := []struct {
		name       string
		forum      bool
		threadName string
		threadID   string
		want       discordtest.Thread
		says       string // the refusal, when the message must fail
	}{
		{name: "forum webhook without a thread is refused", forum: true, says: "discord error 220001"},
		{name: "forum webhook, a new post named by the template", forum: true, threadName: "{{ .Alert.Labels.alertname }} on {{ .Alert.Labels.service }}", want: discordtest.Thread{Name: "HighLatency on checkout"}},
		{name: "forum webhook, a plain thread name", forum: true, threadName: "Alerts", want: discordtest.Thread{Name: "Alerts"}},
		{name: "forum webhook, an existing post", forum: true, threadID: "987654321", want: discordtest.Thread{ID: "987654321"}},
		{name: "text channel webhook, an existing thread", threadID: "42", want: discordtest.Thread{ID: "42"}},
		{name: "thread name cut to Discord's 100 characters", forum: true, threadName: strings.Repeat("x", 150), want: discordtest.Thread{Name: strings.Repeat("x", 99) + "…"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := discordtest.NewDiscord(t)
			if tc.forum {
				f = discordtest.NewForumDiscord(t)
			}
			spec := &Config{
				URL: publish.Secret(f.URL()), Username: DefaultDiscordUsername, HTTPConfig: commoncfg.DefaultHTTPClientConfig,
				ThreadName: tc.threadName, ThreadID: tc.threadID,
			}
			p, err := newDiscord("d", spec, publish.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			err = p.Publish(context.Background(), publishtest.ChatAlert(false))
			if tc.says != "" {
				publishtest.AssertDeliveryError(t, err, 400, false, 0, tc.says)
				return
			}
			if err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if got := f.Threads(); len(got) != 1 || got[0] != tc.want {
				t.Errorf("fake saw threads %+v, want [%+v]", got, tc.want)
			}
		})
	}
}

func TestDiscordWebhookGone(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(f *discordtest.Discord) string // returns the url to post to
		status int
		gone   bool
		says   string
	}{
		{name: "deleted webhook: 404 Unknown Webhook", status: 404, gone: true, says: "discord error 10015: Unknown Webhook",
			setup: func(f *discordtest.Discord) string { f.Delete(); return f.URL() }},
		{name: "wrong token: 401", status: 401, gone: true, says: "discord error 50027: Invalid Webhook Token",
			setup: func(f *discordtest.Discord) string {
				return strings.TrimSuffix(f.URL(), "WEBHOOKSECRET") + "OTHERTOKEN"
			}},
		{name: "403 Missing Access", status: 403, gone: true, says: "discord error 50001: Missing Access",
			setup: func(f *discordtest.Discord) string {
				f.Script(publishtest.Answer{Status: 403, Body: `{"code":50001,"message":"Missing Access"}`})
				return f.URL()
			}},
		{name: "a 404 that is not Discord's Unknown Webhook", status: 404, says: "not found",
			setup: func(f *discordtest.Discord) string {
				f.Script(publishtest.Answer{Status: 404, Body: "<html>not found</html>", ContentType: "text/html"})
				return f.URL()
			}},
		{name: "a 400 is permanent, not gone", status: 400, says: "discord error 50035",
			setup: func(f *discordtest.Discord) string {
				f.Script(publishtest.Answer{Status: 400, Body: `{"code":50035,"message":"Invalid Form Body"}`})
				return f.URL()
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := discordtest.NewDiscord(t)
			spec := &Config{URL: publish.Secret(tc.setup(f)), Username: DefaultDiscordUsername, HTTPConfig: commoncfg.DefaultHTTPClientConfig}
			p, err := newDiscord("d", spec, publish.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			err = p.Publish(context.Background(), publishtest.ChatAlert(false))
			publishtest.AssertDeliveryError(t, err, tc.status, false, 0, tc.says)
			if core.IsGone(err) != tc.gone {
				t.Errorf("IsGone(%v) = %v, want %v", err, core.IsGone(err), tc.gone)
			}
			if strings.Contains(err.Error(), "TOKEN") || strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error reveals the webhook token: %v", err)
			}
		})
	}
}

func TestDiscordDestinationFollowsTheWebhookNotItsToken(t *testing.T) {
	build := func(url string) *discord {
		t.Helper()
		p, err := newDiscord("d", &Config{URL: publish.Secret(url), HTTPConfig: commoncfg.DefaultHTTPClientConfig}, publish.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	const hook = "https://discord.com/api/webhooks/1/WEBHOOKSECRET"
	a, same, other := build(hook), build(hook), build("https://discord.com/api/webhooks/2/NEWSECRET")
	if a.Destination() != same.Destination() {
		t.Error("the same webhook gave two destinations")
	}
	if a.Destination() == other.Destination() {
		t.Error("a new webhook kept the old destination, so it would stay gone")
	}
	if strings.Contains(a.Destination(), "SECRET") || strings.Contains(a.Destination(), "webhooks") {
		t.Errorf("Destination %q reveals the webhook URL", a.Destination())
	}
}
