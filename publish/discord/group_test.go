package discord

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/discord/discordtest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

var _ core.GroupPublisher = (*discord)(nil)
var _ publish.GroupRenderer = (*discord)(nil)

func decodeDiscord(t *testing.T, body []byte) discordMessage {
	t.Helper()
	var msg discordMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	return msg
}

func embedsSize(embeds []discordEmbed) int {
	n := 0
	for _, e := range embeds {
		n += discordEmbedSize(&e)
	}
	return n
}

func TestDiscordGroupMessage(t *testing.T) {
	tests := []struct {
		name   string
		n      *core.Notification
		golden string
		title  string
		colour int
		alerts []string // what each alert's embed title holds, in order
		more   string
	}{
		{
			name: "three alerts", n: publishtest.ChatNotification(3, 0, 0), golden: "group-3.json",
			title: "🔴 [FIRING:3] HighLatency checkout", colour: 0xE01E5A,
			alerts: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"},
		},
		{
			name: "sixty alerts, five cut by Alertmanager", n: publishtest.ChatNotification(50, 10, 5), golden: "group-60.json",
			title: "🔴 [FIRING:50, RESOLVED:10] HighLatency checkout", colour: 0xE01E5A,
			alerts: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9"},
			more:   "…and 56 more alerts (5 of them left out of the notification by Alertmanager)",
		},
		{
			name: "resolved only is green", n: publishtest.ChatNotification(0, 2, 0),
			title: "✅ [RESOLVED:2] HighLatency checkout", colour: 0x2EB67D, alerts: []string{"✅", "✅"},
		},
		{
			name: "firing before resolved", n: func() *core.Notification {
				n := publishtest.ChatNotification(1, 1, 0)
				n.Alerts[0], n.Alerts[1] = n.Alerts[1], n.Alerts[0]
				return n
			}(),
			title: "🔴 [FIRING:1, RESOLVED:1] HighLatency checkout", colour: 0xE01E5A, alerts: []string{"🔴", "✅"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := discordtest.NewDiscord(t)
			p := newDiscordTest(t, f, nil, publish.Options{})
			if err := p.PublishGroup(context.Background(), tc.n); err != nil {
				t.Fatalf("PublishGroup: %v (the fake enforces Discord's limits)", err)
			}
			if len(f.Bodies()) != 1 {
				t.Fatalf("fake accepted %d posts, want one for the notification", len(f.Bodies()))
			}
			msg := decodeDiscord(t, f.Bodies()[0])
			head := msg.Embeds[0]
			if head.Title != tc.title || head.Color != tc.colour {
				t.Errorf("head embed %q colour %#x, want %q %#x", head.Title, head.Color, tc.title, tc.colour)
			}
			if len(head.Fields) != 3 || head.Fields[0].Name != "severity" {
				t.Errorf("common fields %v, want severity, cluster, service", head.Fields)
			}
			if got := len(msg.Embeds) - 1; got != len(tc.alerts) {
				t.Fatalf("%d alert embeds, want %d", got, len(tc.alerts))
			}
			for i, want := range tc.alerts {
				if !strings.Contains(msg.Embeds[i+1].Title, want) {
					t.Errorf("alert embed %d %q does not hold %q", i, msg.Embeds[i+1].Title, want)
				}
			}
			last := msg.Embeds[len(msg.Embeds)-1]
			footer := ""
			if last.Footer != nil {
				footer = last.Footer.Text
			}
			if (tc.more == "") == strings.Contains(footer, "more alert") || !strings.Contains(footer, tc.more) {
				t.Errorf("last footer %q, want the count %q", footer, tc.more)
			}
			if tc.golden != "" {
				publishtest.AssertGolden(t, tc.golden, f.Bodies()[0])
			}
		})
	}
}

func TestDiscordGroupFitCutsByPriority(t *testing.T) {
	n := publishtest.ChatNotification(60, 0, 0)
	for i := range n.Alerts {
		n.Alerts[i].Links = append(n.Alerts[i].Links, core.Link{Name: "huge", URL: "https://silence.example.com/" + strings.Repeat("m", 500)})
	}
	f := discordtest.NewDiscord(t)
	p := newDiscordTest(t, f, nil, publish.Options{})
	if got := embedsSize(p.groupMessage(n).Embeds); got > discordEmbedTotalMax {
		t.Fatalf("%d characters in the embeds, over Discord's %d", got, discordEmbedTotalMax)
	}
	// The embeds hold 2807 characters with three alerts, 3736 with four;
	// without long links 1190 with three, 800 with two, 410 with one.
	tests := []struct {
		name     string
		budget   int
		keep     int
		dropLong bool
		linesCut bool
	}{
		{name: "the whole total fits the first nine", budget: 100000, keep: discordEmbedsMax - 1},
		{name: "further alerts go first", budget: 3900, keep: 4},
		{name: "then long links", budget: 2000, keep: 3, dropLong: true},
		{name: "then alerts down to the first", budget: 600, keep: 1, dropLong: true},
		{name: "then the lines of the first", budget: 400, keep: 1, dropLong: true, linesCut: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &discordGroup{n: n, alerts: publish.ChatGroupAlerts(n), common: publish.ChatGroupCommonLabels(n),
				head: discordEmbed{Title: "t"}, ChatGroupCut: publish.ChatGroupCut{LineMax: discordGroupLineMax, Keep: discordEmbedsMax - 1}}
			g.fit(tc.budget)
			if g.Keep != tc.keep || g.DropLong != tc.dropLong || (g.LineMax < discordGroupLineMax) != tc.linesCut {
				t.Errorf("kept %d alerts, long links dropped %v, lines of %d; want %d, %v, lines cut %v",
					g.Keep, g.DropLong, g.LineMax, tc.keep, tc.dropLong, tc.linesCut)
			}
			if got := embedsSize(g.embeds()); got > tc.budget {
				t.Errorf("%d characters, over the budget of %d", got, tc.budget)
			}
		})
	}
}

func TestDiscordGroupOfOversizedAlertsFits(t *testing.T) {
	n := publishtest.OversizedChatNotification(12)
	f := discordtest.NewDiscord(t)
	p := newDiscordTest(t, f, publish.Templates{"content": strings.Repeat("c", 5000)}, publish.Options{})
	if err := p.PublishGroup(context.Background(), n); err != nil {
		t.Fatalf("PublishGroup: %v (the fake enforces Discord's limits)", err)
	}
	msg := decodeDiscord(t, f.Bodies()[0])
	if len(msg.Embeds) < 2 || !strings.Contains(msg.Embeds[0].Title, "[FIRING:12]") {
		t.Errorf("%d embeds, head %q; want the counts and the first alert kept", len(msg.Embeds), msg.Embeds[0].Title)
	}
}

func TestDiscordGroupTemplatesAndRender(t *testing.T) {
	f := discordtest.NewForumDiscord(t)
	spec := &Config{URL: publish.Secret(f.URL()), Username: DefaultDiscordUsername, ThreadName: `{{ .CommonLabels.service }} latency`,
		Templates: publish.Templates{"title": `{{ template "discord.default.title" . }}`, "description": `{{ range .Alerts }}{{ .Labels.instance }} {{ end }}`}}
	p, err := newDiscord("discord-test", spec, publish.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	n := publishtest.ChatNotification(2, 1, 0)
	reqs, err := p.RenderGroup(context.Background(), n)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("RenderGroup: %d requests, %v", len(reqs), err)
	}
	rendered, _ := io.ReadAll(reqs[0].Body)
	if err := p.PublishGroup(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if sent := f.Bodies()[0]; string(sent) != string(rendered) {
		t.Errorf("RenderGroup shows another body than PublishGroup sends:\n%s\n%s", rendered, sent)
	}
	msg := decodeDiscord(t, rendered)
	if want := "🔴 [FIRING:2] HighLatency checkout (eu-1 critical)"; msg.Embeds[0].Title != want {
		t.Errorf("title %q, want Alertmanager's %q", msg.Embeds[0].Title, want)
	}
	if len(msg.Embeds) != 1 || msg.Embeds[0].Description != "10.0.0.1:8080 10.0.0.2:8080 10.0.0.3:8080" {
		t.Errorf("%d embeds, description %q: want the template's text instead of the alerts' embeds", len(msg.Embeds), msg.Embeds[0].Description)
	}
	if got := f.Threads()[0].Name; got != "checkout latency" {
		t.Errorf("forum post named %q, want the thread_name template over the group", got)
	}
}
