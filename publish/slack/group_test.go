package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/publishtest"
	"github.com/am-fanout/am-fanout/publish/slack/slacktest"
)

var _ core.GroupPublisher = (*slack)(nil)
var _ publish.GroupRenderer = (*slack)(nil)

// groupView is a posted group message: its header and colour, the texts
// of its sections, contexts and fields.
type groupView struct {
	header, colour string
	sections       []string // section texts, fields left out
	contexts       []string
	fields         []string
}

func viewGroup(t *testing.T, body []byte) groupView {
	t.Helper()
	var msg slackMessage
	if err := json.Unmarshal(body, &msg); err != nil || len(msg.Attachments) != 1 {
		t.Fatalf("not one attachment: %v", err)
	}
	v := groupView{colour: msg.Attachments[0].Color}
	for _, b := range msg.Attachments[0].Blocks {
		switch {
		case b.Type == "header":
			v.header = b.Text.Text
		case b.Type == "section" && b.Text != nil:
			v.sections = append(v.sections, b.Text.Text)
		case b.Type == "section":
			for _, f := range b.Fields {
				v.fields = append(v.fields, f.Text)
			}
		case b.Type == "context":
			var els []slackText
			raw, _ := json.Marshal(b.Elements)
			_ = json.Unmarshal(raw, &els)
			v.contexts = append(v.contexts, els[0].Text)
		}
	}
	return v
}

// longLinks gives every alert a silence link of size characters.
func longLinks(n *core.Notification, size int) *core.Notification {
	for i := range n.Alerts {
		n.Alerts[i].Links = append(n.Alerts[i].Links, core.Link{Name: "huge", URL: "https://silence.example.com/" + strings.Repeat("m", size)})
	}
	return n
}

func TestSlackGroupMessage(t *testing.T) {
	tests := []struct {
		name        string
		n           *core.Notification
		golden      string
		header      string
		colour      string
		alerts      int    // alert sections
		more        string // the count of alerts left out, "" for none
		firstAlerts []string
	}{
		{
			name: "three alerts", n: publishtest.ChatNotification(3, 0, 0), golden: "group-3.json",
			header: "🔴 [FIRING:3] HighLatency checkout", colour: "#E01E5A", alerts: 3,
			firstAlerts: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"},
		},
		{
			name: "sixty alerts, five cut by Alertmanager", n: publishtest.ChatNotification(50, 10, 5), golden: "group-60.json",
			header: "🔴 [FIRING:50, RESOLVED:10] HighLatency checkout", colour: "#E01E5A", alerts: slackGroupAlertsMax,
			more:        "…and 55 more alerts (5 of them left out of the notification by Alertmanager)",
			firstAlerts: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"},
		},
		{
			name: "resolved only is green", n: publishtest.ChatNotification(0, 2, 0),
			header: "✅ [RESOLVED:2] HighLatency checkout", colour: "#2EB67D", alerts: 2,
		},
		{
			name: "firing before resolved", n: func() *core.Notification {
				n := publishtest.ChatNotification(2, 2, 0)
				n.Alerts[0], n.Alerts[3] = n.Alerts[3], n.Alerts[0] // a resolved alert sent first
				return n
			}(),
			header: "🔴 [FIRING:2, RESOLVED:2] HighLatency checkout", colour: "#E01E5A", alerts: 4,
			firstAlerts: []string{"🔴", "🔴", "✅", "✅"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := slacktest.NewSlack(t, "")
			p := newSlackWebhookTest(t, f, nil)
			if err := p.PublishGroup(context.Background(), tc.n); err != nil {
				t.Fatalf("PublishGroup: %v (the fake enforces Slack's limits)", err)
			}
			calls := f.Calls()
			if len(calls) != 1 {
				t.Fatalf("fake accepted %d posts, want one message for the whole notification", len(calls))
			}
			v := viewGroup(t, calls[0].Body)
			if v.header != tc.header || v.colour != tc.colour {
				t.Errorf("header %q colour %s, want %q %s", v.header, v.colour, tc.header, tc.colour)
			}
			if len(v.sections) != tc.alerts {
				t.Errorf("%d alert sections, want %d", len(v.sections), tc.alerts)
			}
			for i, want := range tc.firstAlerts {
				if i >= len(v.sections) || !strings.Contains(v.sections[i], want) {
					t.Errorf("alert section %d does not hold %q: %v", i, want, v.sections)
				}
			}
			if got := strings.Join(v.contexts, "\n"); (tc.more == "") == strings.Contains(got, "more alert") || !strings.Contains(got, tc.more) {
				t.Errorf("contexts %q, want the count %q", got, tc.more)
			}
			if got := strings.Join(v.fields, "\n"); !strings.Contains(got, "*cluster*\neu-1") || strings.Contains(got, "instance") {
				t.Errorf("common label fields %q, want cluster and not the per-alert instance", got)
			}
			if tc.golden != "" {
				publishtest.AssertGolden(t, tc.golden, calls[0].Body)
			}
		})
	}
}

func TestSlackGroupDropsAlertsBeforeLinks(t *testing.T) {
	f := slacktest.NewSlack(t, "")
	p := newSlackWebhookTest(t, f, nil)
	if err := p.PublishGroup(context.Background(), longLinks(publishtest.ChatNotification(60, 0, 0), 600)); err != nil {
		t.Fatalf("PublishGroup: %v (the fake enforces Slack's limits)", err)
	}
	v := viewGroup(t, f.Calls()[0].Body)
	shown := len(v.sections)
	if shown < slackGroupAlertsFloor || shown >= slackGroupAlertsMax {
		t.Fatalf("%d alerts shown, want fewer than %d (the links do not leave room) but at least %d", shown, slackGroupAlertsMax, slackGroupAlertsFloor)
	}
	for i, sec := range v.sections {
		if !strings.Contains(sec, strings.Repeat("m", 600)) {
			t.Errorf("alert %d lost its long link while alerts could still be dropped", i)
		}
	}
	if want := fmt.Sprintf("…and %d more alerts", 60-shown); !strings.Contains(v.contexts[0], want) {
		t.Errorf("context %q, want %q", v.contexts[0], want)
	}
}

func TestSlackGroupFitCutsByPriority(t *testing.T) {
	// Alerts of this group hold 1700 characters of text with their long
	// link, 700 without: one shown costs 1868, three 5250, four 6941.
	tests := []struct {
		name     string
		budget   int
		keep     int
		dropLong bool
		linesCut bool
		noLinks  bool
	}{
		{name: "room for every alert shown", budget: 100000, keep: slackGroupAlertsMax},
		{name: "further alerts go first", budget: 7000, keep: 4},
		{name: "then long links", budget: 3500, keep: 3, dropLong: true},
		{name: "then alerts down to the first", budget: 1200, keep: 1, dropLong: true},
		{name: "then the lines of the first", budget: 700, keep: 1, dropLong: true, linesCut: true},
		{name: "then its links", budget: 400, keep: 1, dropLong: true, linesCut: true, noLinks: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := longLinks(publishtest.ChatNotification(60, 0, 0), 1000)
			for i := range n.Alerts {
				n.Alerts[i].Alert.Annotations["summary"] = strings.Repeat("s", 400)
			}
			g := &slackGroup{n: n, alerts: publish.ChatGroupAlerts(n), common: publish.ChatGroupCommonLabels(n), header: "h", ChatGroupCut: publish.ChatGroupCut{LineMax: slackGroupLineMax, Keep: slackGroupAlertsMax}}
			g.fit(tc.budget)
			linesCut := g.LineMax < slackGroupLineMax
			if g.Keep != tc.keep || g.DropLong != tc.dropLong || linesCut != tc.linesCut || g.NoLinks != tc.noLinks {
				t.Errorf("kept %d alerts, long links dropped %v, lines cut %v, links dropped %v; want %d, %v, %v, %v",
					g.Keep, g.DropLong, linesCut, g.NoLinks, tc.keep, tc.dropLong, tc.linesCut, tc.noLinks)
			}
			if got := slackBlocksTextOf(g.blocks()); got > tc.budget {
				t.Errorf("%d characters of text, over the budget of %d", got, tc.budget)
			}
		})
	}
}

func TestSlackGroupOfOversizedAlertsFits(t *testing.T) {
	n := publishtest.OversizedChatNotification(12)
	f := slacktest.NewSlack(t, "")
	p := newSlackWebhookTest(t, f, nil)
	if err := p.PublishGroup(context.Background(), n); err != nil {
		t.Fatalf("PublishGroup: %v (the fake enforces Slack's limits)", err)
	}
	var msg slackMessage
	if err := json.Unmarshal(f.Calls()[0].Body, &msg); err != nil {
		t.Fatal(err)
	}
	if got := slackBlocksTextOf(msg.Attachments[0].Blocks); got > slackBlocksTextBudget {
		t.Errorf("blocks hold %d characters of text, want ≤ %d", got, slackBlocksTextBudget)
	}
	if v := viewGroup(t, f.Calls()[0].Body); len(v.sections) == 0 || !strings.HasSuffix(strings.SplitN(v.sections[0], "\n", 2)[0], "…*") {
		t.Errorf("want the first alert kept with its summary cut visibly, got %d sections", len(v.sections))
	}
}

func TestSlackGroupTemplates(t *testing.T) {
	tests := []struct {
		name      string
		tmpl      publish.Templates
		header    string
		sections  []string // wanted in the section texts, in order
		noAlertOf string   // an alert's text that must not be listed
	}{
		{
			name:   "Alertmanager's default title and text",
			tmpl:   publish.Templates{"title": `{{ template "slack.default.title" . }}`, "text": `{{ template "slack.default.text" . }}`},
			header: "🔴 [FIRING:3] HighLatency checkout (eu-1 critical)",
			// slack.default.text is empty: the alerts are listed.
			sections: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"},
		},
		{
			name:      "an Alertmanager text template replaces the list",
			tmpl:      publish.Templates{"text": `{{ range .Alerts.Firing }}{{ .Labels.instance }} {{ end }}on {{ .CommonLabels.cluster }}`},
			header:    "🔴 [FIRING:3] HighLatency checkout",
			sections:  []string{"10.0.0.1:8080 10.0.0.2:8080 10.0.0.3:8080 on eu-1"},
			noAlertOf: "p99 latency above 2s on 10.0.0.1",
		},
		{
			name:     "a per-alert template falls back in a group",
			tmpl:     publish.Templates{"title": `{{ .Alert.Labels.alertname }}`},
			header:   "🔴 [FIRING:3] HighLatency checkout",
			sections: []string{"10.0.0.1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := slacktest.NewSlack(t, "")
			spec := &Config{URL: publish.Secret(f.WebhookURL()), HTTPConfig: commoncfg.DefaultHTTPClientConfig, Templates: tc.tmpl}
			if err := spec.Templates.Validate("title", "text"); err != nil {
				t.Fatalf("the templates do not pass the config's validation: %v", err)
			}
			p, err := newSlack("slack-test", spec, publish.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			if err := p.PublishGroup(context.Background(), publishtest.ChatNotification(3, 0, 0)); err != nil {
				t.Fatal(err)
			}
			v := viewGroup(t, f.Calls()[0].Body)
			if v.header != tc.header {
				t.Errorf("header %q, want %q", v.header, tc.header)
			}
			all := strings.Join(v.sections, "\n")
			for _, want := range tc.sections {
				if !strings.Contains(all, want) {
					t.Errorf("sections %q do not hold %q", all, want)
				}
			}
			if tc.noAlertOf != "" && strings.Contains(all, tc.noAlertOf) {
				t.Errorf("sections %q list the alerts besides the template's text", all)
			}
		})
	}
}

// groupAt is the notification of the group at one step of its life.
func groupAt(firing, resolved int) *core.Notification {
	n := publishtest.ChatNotification(firing, resolved, 0)
	n.ReceivedAt = n.ReceivedAt.Add(time.Duration(firing+10*resolved) * time.Minute)
	return n
}

func TestSlackBotGroupKeepsOneMessageAndThreadsTheRest(t *testing.T) {
	for _, broadcast := range []bool{false, true} {
		t.Run(fmt.Sprintf("reply_broadcast %v", broadcast), func(t *testing.T) {
			f := slacktest.NewSlack(t, slackTestToken)
			st := publishtest.NewState()
			p := newSlackBotTestWith(t, f, st, nil, func(c *Config) { c.ReplyBroadcast = broadcast })
			steps := []*core.Notification{groupAt(2, 0), groupAt(3, 0), groupAt(0, 3), groupAt(1, 0)}
			for i, n := range steps {
				if err := p.PublishGroup(context.Background(), n); err != nil {
					t.Fatalf("notification %d: %v", i, err)
				}
			}
			root := "1700000000.000001"
			want := []struct {
				path, ts, threadTS, header string
				broadcast                  bool
			}{
				{path: "/api/chat.postMessage", header: "[FIRING:2]"},
				{path: "/api/chat.update", ts: root, header: "[FIRING:3]"},
				{path: "/api/chat.postMessage", threadTS: root, header: "[FIRING:3]"},
				{path: "/api/chat.update", ts: root, header: "[RESOLVED:3]"},
				{path: "/api/chat.postMessage", threadTS: root, header: "[RESOLVED:3]", broadcast: broadcast},
				// Resolved, the group is forgotten: its next firing is a new message.
				{path: "/api/chat.postMessage", header: "[FIRING:1]"},
			}
			calls := f.Calls()
			if len(calls) != len(want) {
				t.Fatalf("fake accepted %d calls, want %d", len(calls), len(want))
			}
			for i, w := range want {
				c := calls[i]
				got := viewGroup(t, c.Body).header
				b, _ := c.Msg["reply_broadcast"].(bool)
				if c.Path != w.path || str(c.Msg["ts"]) != w.ts || str(c.Msg["thread_ts"]) != w.threadTS || !strings.Contains(got, w.header) || b != w.broadcast {
					t.Errorf("call %d: %s ts=%q thread_ts=%q %q broadcast=%v, want %s ts=%q thread_ts=%q %q broadcast=%v",
						i, c.Path, str(c.Msg["ts"]), str(c.Msg["thread_ts"]), got, b, w.path, w.ts, w.threadTS, w.header, w.broadcast)
				}
			}
			if _, ok, _ := st.Get(context.Background(), groupThreadKey(steps[3])); !ok {
				t.Error("the new firing's message is not kept")
			}
			if got := str(calls[5].Msg["ts"]); got != "" || calls[5].Msg["channel"] != "#alerts" {
				t.Errorf("new message posted as %v to %v", calls[5].Msg, calls[5].Msg["channel"])
			}
		})
	}
}

func TestSlackBotGroupReplacesAMessageThatIsGone(t *testing.T) {
	f := slacktest.NewSlack(t, slackTestToken)
	st := publishtest.NewState()
	log, logs := publishtest.DebugLogger()
	p := newSlackBotTest(t, f, st, false, log)
	n := groupAt(2, 0)
	// A message the fake never issued: deleted in Slack since.
	if err := p.rememberThread(context.Background(), groupThreadKey(n), slackThread{Channel: "CALERTS", TS: "1600000000.000001"}); err != nil {
		t.Fatal(err)
	}
	if err := p.PublishGroup(context.Background(), n); err != nil {
		t.Fatalf("PublishGroup: %v, want a new message", err)
	}
	calls := f.Calls()
	if len(calls) != 1 || calls[0].Path != "/api/chat.postMessage" || calls[0].Msg["thread_ts"] != nil {
		t.Fatalf("calls %v, want one new top-level post", calls)
	}
	v, _, _ := st.Get(context.Background(), groupThreadKey(n))
	if !strings.Contains(string(v), "1700000000.000001") {
		t.Errorf("kept %s, want the new message", v)
	}
	if !strings.Contains(logs.String(), "gone") {
		t.Errorf("the replacement was not logged:\n%s", logs)
	}
	assertNoSlackSecret(t, nil, logs)
}

func TestSlackBotGroupRenderMatchesPublish(t *testing.T) {
	f := slacktest.NewSlack(t, slackTestToken)
	p := newSlackBotTest(t, f, publishtest.NewState(), false, nil)
	reqs, err := p.RenderGroup(context.Background(), groupAt(2, 0))
	if err != nil || len(reqs) != 1 || reqs[0].URL.Path != "/api/chat.postMessage" {
		t.Fatalf("RenderGroup of a new group: %d requests, %v; want one post", len(reqs), err)
	}
	if err := p.PublishGroup(context.Background(), groupAt(2, 0)); err != nil {
		t.Fatal(err)
	}
	reqs, err = p.RenderGroup(context.Background(), groupAt(1, 1))
	if err != nil || len(reqs) != 2 {
		t.Fatalf("RenderGroup of a known group: %d requests, %v; want an update and a reply", len(reqs), err)
	}
	for i, path := range []string{"/api/chat.update", "/api/chat.postMessage"} {
		r := reqs[i]
		if r.URL.Path != path || r.Header.Get("Authorization") != "Bearer "+slackTestToken {
			t.Errorf("request %d: %s, want %s with the token", i, r.URL.Path, path)
		}
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"1700000000.000001"`) || !strings.Contains(string(body), "RESOLVED:1") {
			t.Errorf("request %d does not rewrite the group's message: %s", i, body)
		}
	}
	if len(f.Calls()) != 1 {
		t.Errorf("RenderGroup sent requests: the fake saw %d calls, want the first post only", len(f.Calls()))
	}
}

func TestSlackBotGroupStoreFailureIsAClearFailure(t *testing.T) {
	f := slacktest.NewSlack(t, slackTestToken)
	p := newSlackBotTest(t, f, &publishtest.State{Err: fmt.Errorf("disk full")}, false, nil)
	err := p.PublishGroup(context.Background(), groupAt(2, 0))
	publishtest.AssertDeliveryError(t, err, 200, false, 0, "could not be stored")
	assertPostedNotRetried(t, err)
}

func TestSlackBotGroupResolvedWithoutMessageIsPostedNotKept(t *testing.T) {
	f := slacktest.NewSlack(t, slackTestToken)
	st := publishtest.NewState()
	p := newSlackBotTest(t, f, st, false, nil)
	n := groupAt(0, 2)
	if err := p.PublishGroup(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	if len(calls) != 1 || calls[0].Path != "/api/chat.postMessage" || calls[0].Msg["thread_ts"] != nil {
		t.Fatalf("calls %v, want one top-level post", calls)
	}
	if v := viewGroup(t, calls[0].Body); v.colour != "#2EB67D" || !strings.HasPrefix(v.header, "✅ [RESOLVED:2]") {
		t.Errorf("header %q colour %s, want a green resolved message", v.header, v.colour)
	}
	if _, ok, _ := st.Get(context.Background(), groupThreadKey(n)); ok {
		t.Error("a resolved group's message is kept, so its next firing would edit a resolved message")
	}
}
