package msteams

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/msteams/msteamstest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

var _ core.GroupPublisher = (*msteams)(nil)
var _ publish.GroupRenderer = (*msteams)(nil)

// groupCard is a posted group card: its title and style, the alerts'
// containers (their texts joined), the common facts, the notes.
type groupCard struct {
	title, style string
	alerts       []string
	facts        []cardFact
	texts        []string // text blocks of the body, the title's aside
}

func viewGroupCard(t *testing.T, body []byte) groupCard {
	t.Helper()
	var msg struct {
		Attachments []struct {
			Content struct {
				Body []struct {
					Type  string     `json:"type"`
					Style string     `json:"style"`
					Text  string     `json:"text"`
					Facts []cardFact `json:"facts"`
					Items []struct {
						Text string `json:"text"`
					} `json:"items"`
				} `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || len(msg.Attachments) != 1 {
		t.Fatalf("message is not one card: %v", err)
	}
	var c groupCard
	for i, el := range msg.Attachments[0].Content.Body {
		switch {
		case i == 0:
			c.title, c.style = el.Items[0].Text, el.Style
		case el.Type == "Container":
			var texts []string
			for _, it := range el.Items {
				texts = append(texts, it.Text)
			}
			c.alerts = append(c.alerts, strings.Join(texts, "\n"))
		case el.Type == "FactSet":
			c.facts = el.Facts
		case el.Type == "TextBlock":
			c.texts = append(c.texts, el.Text)
		}
	}
	return c
}

func TestMSTeamsGroupCard(t *testing.T) {
	tests := []struct {
		name   string
		n      *core.Notification
		golden string
		title  string
		style  string
		alerts []string // what each alert shown holds, in order
		more   string
	}{
		{
			name: "three alerts", n: publishtest.ChatNotification(3, 0, 0), golden: "group-3.json",
			title: "[FIRING:3] HighLatency checkout", style: "attention",
			alerts: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"},
		},
		{
			name: "sixty alerts, five cut by Alertmanager", n: publishtest.ChatNotification(50, 10, 5), golden: "group-60.json",
			title: "[FIRING:50, RESOLVED:10] HighLatency checkout", style: "attention",
			alerts: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9", "10.0.0.10"},
			more:   "…and 55 more alerts (5 of them left out of the notification by Alertmanager)",
		},
		{
			name: "resolved only is green", n: publishtest.ChatNotification(0, 2, 0),
			title: "[RESOLVED:2] HighLatency checkout", style: "good", alerts: []string{"resolved", "resolved"},
		},
		{
			name: "firing before resolved", n: func() *core.Notification {
				n := publishtest.ChatNotification(1, 1, 0)
				n.Alerts[0], n.Alerts[1] = n.Alerts[1], n.Alerts[0]
				return n
			}(),
			title: "[FIRING:1, RESOLVED:1] HighLatency checkout", style: "attention", alerts: []string{"started", "resolved"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := msteamstest.NewTeams(t, teamsTestSig)
			m := newTestMSTeams(t, f, publish.Options{}, nil)
			if err := m.PublishGroup(context.Background(), tc.n); err != nil {
				t.Fatalf("PublishGroup: %v", err)
			}
			bodies := f.Bodies()
			if len(bodies) != 1 {
				t.Fatalf("fake accepted %d messages, want one card for the notification", len(bodies))
			}
			c := viewGroupCard(t, bodies[0])
			if c.title != tc.title || c.style != tc.style {
				t.Errorf("title %q style %q, want %q %q", c.title, c.style, tc.title, tc.style)
			}
			if len(c.alerts) != len(tc.alerts) {
				t.Fatalf("%d alerts shown, want %d", len(c.alerts), len(tc.alerts))
			}
			for i, want := range tc.alerts {
				if !strings.Contains(c.alerts[i], want) {
					t.Errorf("alert %d %q does not hold %q", i, c.alerts[i], want)
				}
			}
			if notes := strings.Join(c.texts, "\n"); (tc.more == "") == strings.Contains(notes, "more alert") || !strings.Contains(notes, tc.more) {
				t.Errorf("notes %q, want the count %q", notes, tc.more)
			}
			if len(c.facts) != 3 || c.facts[0] != (cardFact{Title: "severity", Value: "critical"}) {
				t.Errorf("common facts %v, want severity, cluster, service", c.facts)
			}
			if tc.golden != "" {
				publishtest.AssertGolden(t, tc.golden, bodies[0])
			}
		})
	}
}

func TestMSTeamsGroupFitCutsByPriority(t *testing.T) {
	n := publishtest.ChatNotification(60, 0, 0)
	for i := range n.Alerts {
		n.Alerts[i].Links = append(n.Alerts[i].Links, core.Link{Name: "huge", URL: "https://silence.example.com/" + strings.Repeat("m", 2500)})
	}
	// The card is 4585 bytes with one alert, 12013 with three, 15727
	// with four; 2045 with one alert without its long link.
	tests := []struct {
		name     string
		limit    int
		keep     int
		dropLong bool
		linesCut bool
	}{
		{name: "room for every alert shown", limit: 100000, keep: teamsGroupAlertsMax},
		{name: "further alerts go first", limit: 16000, keep: 4},
		{name: "then long links", limit: 8000, keep: 3, dropLong: true},
		{name: "then alerts down to the first", limit: 2500, keep: 1, dropLong: true},
		{name: "then the lines of the first", limit: 1800, keep: 1, dropLong: true, linesCut: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := range n.Alerts {
				n.Alerts[i].Alert.Annotations["summary"] = strings.Repeat("s", 600)
			}
			m := newTestMSTeams(t, msteamstest.NewTeams(t, teamsTestSig), publish.Options{}, nil)
			g := m.groupContent(n)
			body, err := g.fit(tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if g.Keep != tc.keep || g.DropLong != tc.dropLong || (g.LineMax < teamsGroupLineMax) != tc.linesCut || g.keepFacts != 3 {
				t.Errorf("kept %d alerts, long links dropped %v, lines of %d, %d facts; want %d, %v, lines cut %v, 3 facts",
					g.Keep, g.DropLong, g.LineMax, g.keepFacts, tc.keep, tc.dropLong, tc.linesCut)
			}
			if len(body) > tc.limit {
				t.Errorf("%d bytes, over %d", len(body), tc.limit)
			}
		})
	}
}

func TestMSTeamsGroupOfOversizedAlertsFits(t *testing.T) {
	n := publishtest.OversizedChatNotification(12)
	f := msteamstest.NewTeams(t, teamsTestSig)
	m := newTestMSTeams(t, f, publish.Options{}, nil)
	if err := m.PublishGroup(context.Background(), n); err != nil {
		t.Fatalf("PublishGroup: %v (the fake enforces Teams' 28 KB)", err)
	}
	c := viewGroupCard(t, f.Bodies()[0])
	if len(c.alerts) == 0 || !strings.HasPrefix(c.title, "[FIRING:12]") {
		t.Errorf("title %q with %d alerts, want the counts and the first alert kept", c.title, len(c.alerts))
	}
}

func TestMSTeamsGroupTemplatesAndRender(t *testing.T) {
	f := msteamstest.NewTeams(t, teamsTestSig)
	m := newTestMSTeams(t, f, publish.Options{}, publish.Templates{
		"title": `{{ template "msteams.default.title" . }}`,
		"text":  `{{ len .Alerts.Firing }} firing in {{ .CommonLabels.cluster }}`,
	})
	n := publishtest.ChatNotification(3, 0, 0)
	reqs, err := m.RenderGroup(context.Background(), n)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("RenderGroup: %d requests, %v", len(reqs), err)
	}
	rendered, _ := io.ReadAll(reqs[0].Body)
	if err := m.PublishGroup(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if sent := f.Bodies()[0]; string(sent) != string(rendered) {
		t.Errorf("RenderGroup shows another body than PublishGroup sends:\n%s\n%s", rendered, sent)
	}
	c := viewGroupCard(t, rendered)
	if want := "[FIRING:3] HighLatency checkout (eu-1 critical)"; c.title != want {
		t.Errorf("title %q, want Alertmanager's %q", c.title, want)
	}
	if len(c.alerts) != 0 || len(c.texts) == 0 || c.texts[0] != "3 firing in eu-1" {
		t.Errorf("texts %q with %d alerts listed, want the template's text instead of the list", c.texts, len(c.alerts))
	}
}
