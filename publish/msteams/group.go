package msteams

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// The shape of a group card: the alerts it shows in full, how many stay
// while long links can go, how long an alert's summary and labels lines
// get before a tight size shortens them.
const (
	teamsGroupAlertsMax   = 10
	teamsGroupAlertsFloor = 3
	teamsGroupLineMax     = 500
	teamsGroupLineMin     = 20
)

// PublishGroup posts the notification as one card.
func (m *msteams) PublishGroup(ctx context.Context, n *core.Notification) error {
	reqs, err := m.RenderGroup(ctx, n)
	if err != nil {
		return err
	}
	_, err = publish.Send(m.Client, reqs[0], checkTeamsAnswer)
	return err
}

// RenderGroup builds the one POST request PublishGroup sends.
func (m *msteams) RenderGroup(ctx context.Context, n *core.Notification) ([]*http.Request, error) {
	body, err := m.groupContent(n).fit(teamsMaxBytes)
	if err != nil {
		return nil, core.Permanent(0, err)
	}
	return publish.OneRequest(publish.BodyRequest(ctx, http.MethodPost, m.url, body, teamsContentType))
}

// teamsGroup is what the card of one notification shows, and how much of
// it fit leaves in.
type teamsGroup struct {
	n      *core.Notification
	alerts []*core.EnrichedAlert
	common map[string]string
	title  string
	// text is the user's "text" template, which replaces the list of
	// alerts as Alertmanager's text does; "" lists them.
	text  string
	style string
	facts []cardFact

	publish.ChatGroupCut // long links: a URL over teamsLongURL
	keepFacts            int
}

func (m *msteams) groupContent(n *core.Notification) *teamsGroup {
	g := &teamsGroup{
		n: n, alerts: publish.ChatGroupAlerts(n), common: publish.ChatGroupCommonLabels(n),
		title: m.Tmpl.RenderGroup("title", n, publish.ChatGroupTitle(n)),
		text:  m.Tmpl.RenderGroup("text", n, ""),
		style: teamsStyle.OfGroup(n), ChatGroupCut: publish.ChatGroupCut{LineMax: teamsGroupLineMax},
	}
	for _, k := range publish.LabelOrder(g.common) {
		g.facts = append(g.facts, cardFact{Title: k, Value: g.common[k]})
	}
	g.keepFacts = len(g.facts)
	if g.text == "" {
		g.Keep = min(len(g.alerts), teamsGroupAlertsMax)
	}
	return g
}

// fit encodes the card within limit bytes, cut by priority: the title
// with status and counts, the common labels and the first alerts stay
// longest. Until it fits, it drops alerts from the last down to
// teamsGroupAlertsFloor, links longer than teamsLongURL, alerts down to
// the first, shortens the alerts' lines, drops their links, cuts the
// text, drops common labels from the last, cuts the title.
func (g *teamsGroup) fit(limit int) ([]byte, error) {
	steps := append(g.Steps(teamsGroupAlertsFloor, teamsGroupLineMin),
		publish.CutText(&g.text),
		publish.CutStep{Max: len(g.facts), Remove: func(k int) { g.keepFacts = len(g.facts) - k }},
		publish.CutText(&g.title),
	)
	fits := func() bool { b, err := g.encode(); return err == nil && len(b) <= limit }
	if !publish.Cut(steps, fits) {
		return nil, fmt.Errorf("the Teams message cannot fit in %d bytes", limit)
	}
	return g.encode()
}

// encode renders the card as it stands.
func (g *teamsGroup) encode() ([]byte, error) {
	body := []any{
		cardContainer{Type: "Container", Style: g.style, Bleed: true, Items: []any{
			cardTextBlock{Type: "TextBlock", Text: g.title, Wrap: true, Weight: "Bolder", Size: "Medium", Color: g.style},
		}},
	}
	if g.keepFacts > 0 {
		body = append(body, cardFactSet{Type: "FactSet", Facts: g.facts[:g.keepFacts]})
	}
	if g.text != "" {
		body = append(body, cardTextBlock{Type: "TextBlock", Text: g.text, Wrap: true})
	}
	for _, a := range g.alerts[:g.Keep] {
		body = append(body, g.alertContainer(a))
	}
	shown := g.Keep
	if g.text != "" {
		shown = len(g.alerts)
	}
	var notes []string
	if more := publish.ChatGroupMore(g.n, shown); more != "" {
		notes = append(notes, more)
	}
	if n := len(g.facts) - g.keepFacts; n > 0 {
		notes = append(notes, fmt.Sprintf("%d common labels left out to stay within Teams' message size limit", n))
	}
	notes = append(notes, g.context())
	for _, note := range notes {
		body = append(body, cardTextBlock{Type: "TextBlock", Wrap: true, IsSubtle: true, Size: "Small", Text: note})
	}
	return encodeCard(body, nil)
}

// alertContainer is one alert in full: its summary, severity and time,
// the labels it does not share with the group, its links.
func (g *teamsGroup) alertContainer(a *core.EnrichedAlert) cardContainer {
	summary := a.Summary()
	if _, common := g.common["alertname"]; !common && a.Alert.Labels["alertname"] != "" {
		summary = a.Alert.Labels["alertname"] + ": " + summary
	}
	summary, _ = publish.TruncateRunes(summary, g.LineMax)
	when := "started " + a.Alert.StartsAt.UTC().Format(time.RFC3339)
	if a.Alert.Status == core.StatusResolved && !a.Alert.EndsAt.IsZero() {
		when = "resolved " + a.Alert.EndsAt.UTC().Format(time.RFC3339)
	}
	if sev := a.Classification.Severity; sev != "" {
		when = string(sev) + " · " + when
	}
	items := []any{
		cardTextBlock{Type: "TextBlock", Text: summary, Wrap: true, Weight: "Bolder", Color: teamsStyle.Of(a)},
		cardTextBlock{Type: "TextBlock", Text: when, Wrap: true, IsSubtle: true, Size: "Small"},
	}
	var labels []string
	for _, name := range publish.ChatDistinctLabels(a, g.common) {
		if name != "alertname" {
			labels = append(labels, name+"="+a.Alert.Labels[name])
		}
	}
	if len(labels) > 0 {
		text, _ := publish.TruncateRunes(strings.Join(labels, ", "), g.LineMax)
		items = append(items, cardTextBlock{Type: "TextBlock", Text: text, Wrap: true, Size: "Small"})
	}
	if links := g.links(a); links != "" {
		items = append(items, cardTextBlock{Type: "TextBlock", Text: links, Wrap: true, Size: "Small"})
	}
	return cardContainer{Type: "Container", Style: "emphasis", Items: items}
}

// links are the alert's links as markdown links on one line.
func (g *teamsGroup) links(a *core.EnrichedAlert) string {
	if g.NoLinks {
		return ""
	}
	var parts []string
	for _, l := range publish.ChatLinks(a) {
		if (g.DropLong && len(l.URL) > teamsLongURL) || !(strings.HasPrefix(l.URL, "https://") || strings.HasPrefix(l.URL, "http://")) {
			continue
		}
		url := strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29").Replace(l.URL)
		parts = append(parts, "["+l.Name+"]("+url+")")
	}
	return strings.Join(parts, " · ")
}

// context says where the notification came from and when.
func (g *teamsGroup) context() string {
	parts := []string{"Notified " + g.n.ReceivedAt.UTC().Format(time.RFC3339)}
	if r := g.n.Group.Receiver; r != "" {
		parts = append(parts, "Receiver: "+r)
	}
	if gl := publish.LabelList(g.n.Group.GroupLabels); gl != "" {
		parts = append(parts, "Group: "+gl)
	}
	text, _ := publish.TruncateRunes(strings.Join(parts, " · "), 1000)
	return text
}
