package slack

import (
	"net/url"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// The shape of a group message: the alerts it shows in full, how many of
// them stay while longer links can go, and how much of the blocks' text
// budget the common labels get.
const (
	slackGroupAlertsMax   = 10
	slackGroupAlertsFloor = 3
	slackGroupCommonMax   = 1500
	// slackGroupLineMax is the longest the summary and the labels line
	// of an alert get, before a tight budget shortens them.
	slackGroupLineMax = 300
	slackGroupLineMin = 20
	// slackGroupLongURL is the length past which a link is dropped before
	// the first alerts lose anything: a silence URL with every matcher
	// costs more text than it is worth.
	slackGroupLongURL = 300
	// slackGroupLinksMax bounds the links line of one alert.
	slackGroupLinksMax = 2000
)

// slackGroup is what the message of one notification shows, and how much
// of it fits.
type slackGroup struct {
	n      *core.Notification
	alerts []*core.EnrichedAlert
	common map[string]string
	header string
	// text is the user's "text" template, which replaces the alerts'
	// sections as Alertmanager's text does; "" lists the alerts.
	text     string
	colour   string
	fallback string

	publish.ChatGroupCut // long links: a URL over slackGroupLongURL
}

// groupMessage renders the notification as one message within Slack's
// limits, cut by priority: the header with status and counts, the common
// labels and the first alerts stay; further alerts go first, then long
// links, then alerts down to the first, then the alerts' lines shorten.
func (s *slack) groupMessage(n *core.Notification) *slackMessage {
	title := s.Tmpl.RenderGroup("title", n, publish.ChatGroupTitle(n))
	emoji := publish.ChatEmoji.OfGroup(n)
	g := &slackGroup{
		n: n, alerts: publish.ChatGroupAlerts(n), common: publish.ChatGroupCommonLabels(n),
		colour: slackColour.OfGroup(n), ChatGroupCut: publish.ChatGroupCut{LineMax: slackGroupLineMax},
	}
	g.header, _ = publish.TruncateRunes(emoji+" "+title, slackHeaderMax)
	g.fallback, _ = publish.TruncateRunes(escapeMrkdwn(emoji+" "+title), slackFallbackMax)
	g.text = s.Tmpl.RenderGroup("text", n, "")
	g.Keep = min(len(g.alerts), slackGroupAlertsMax)
	if g.text != "" {
		g.Keep = 0
	}
	g.fit(slackBlocksTextBudget)
	return &slackMessage{Text: g.fallback, Attachments: []slackAttachment{{Color: g.colour, Blocks: g.blocks()}}}
}

// fit cuts the message until its blocks hold at most budget characters
// of text, in the order groupMessage tells.
func (g *slackGroup) fit(budget int) {
	text := g.text
	publish.Cut(append(g.Steps(slackGroupAlertsFloor, slackGroupLineMin),
		publish.CutStep{Max: max(runes(text)-1, 0), Remove: func(k int) { g.text = truncateMrkdwn(text, runes(text)-k) }},
	), func() bool { return slackBlocksTextOf(g.blocks()) <= budget })
}

// blocks lays out the message as it stands: header, the text or the
// alerts, the common labels, what was left out, where it came from.
func (g *slackGroup) blocks() []slackBlock {
	blocks := []slackBlock{{Type: "header", Text: &slackText{Type: "plain_text", Text: g.header, Emoji: true}}}
	if fields := slackFields(g.common, slackGroupCommonMax); len(fields) > 0 {
		blocks = append(blocks, slackBlock{Type: "section", Fields: fields})
	}
	if g.text != "" {
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncateMrkdwn(g.text, slackSectionMax)}})
	}
	for _, a := range g.alerts[:g.Keep] {
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: g.alertText(a)}})
	}
	shown := g.Keep
	if g.text != "" {
		shown = len(g.alerts)
	}
	if more := publish.ChatGroupMore(g.n, shown); more != "" {
		blocks = append(blocks, slackBlock{Type: "context", Elements: []any{slackText{Type: "mrkdwn", Text: "_" + more + "_"}}})
	}
	return append(blocks, slackBlock{Type: "context", Elements: []any{slackText{Type: "mrkdwn", Text: g.context()}}})
}

// alertText is one alert in full: its state and summary, its severity
// and time, the labels it does not share with the group, its links.
func (g *slackGroup) alertText(a *core.EnrichedAlert) string {
	summary := escapeMrkdwn(a.Summary())
	if _, common := g.common["alertname"]; !common && a.Alert.Labels["alertname"] != "" {
		summary = escapeMrkdwn(a.Alert.Labels["alertname"]) + ": " + summary
	}
	lines := []string{publish.ChatEmoji.Of(a) + " *" + truncateMrkdwn(summary, g.LineMax) + "*"}
	when := "started " + a.Alert.StartsAt.UTC().Format(time.DateTime) + " UTC"
	if a.Alert.Status == core.StatusResolved && !a.Alert.EndsAt.IsZero() {
		when = "resolved " + a.Alert.EndsAt.UTC().Format(time.DateTime) + " UTC"
	}
	if sev := a.Classification.Severity; sev != "" {
		when = string(sev) + " · " + when
	}
	lines = append(lines, when)
	var labels []string
	for _, name := range publish.ChatDistinctLabels(a, g.common) {
		if name != "alertname" {
			labels = append(labels, escapeMrkdwn(name)+"="+escapeMrkdwn(a.Alert.Labels[name]))
		}
	}
	if len(labels) > 0 {
		lines = append(lines, truncateMrkdwn(strings.Join(labels, ", "), g.LineMax))
	}
	if links := g.links(a); links != "" {
		lines = append(lines, links)
	}
	return strings.Join(lines, "\n")
}

// links are the alert's links as mrkdwn links on one line; a link that
// no longer fits is left out whole, as a cut URL leads nowhere.
func (g *slackGroup) links(a *core.EnrichedAlert) string {
	if g.NoLinks {
		return ""
	}
	var parts []string
	n := 0
	for _, l := range publish.ChatLinks(a) {
		if g.DropLong && runes(l.URL) > slackGroupLongURL {
			continue
		}
		part := "<" + slackLinkURL(l.URL) + "|" + escapeMrkdwn(l.Name) + ">"
		if n+runes(part)+3 > slackGroupLinksMax {
			continue
		}
		parts = append(parts, part)
		n += runes(part) + 3
	}
	return strings.Join(parts, " · ")
}

// slackLinkURL keeps a URL from ending the <url|text> markup early; a URL
// that does not parse is left for Slack to show as it is.
func slackLinkURL(u string) string {
	if _, err := url.Parse(u); err != nil {
		return escapeMrkdwn(u)
	}
	return strings.NewReplacer("|", "%7C", "<", "%3C", ">", "%3E").Replace(u)
}

// context says where the notification came from and when.
func (g *slackGroup) context() string {
	parts := []string{"Notified " + g.n.ReceivedAt.UTC().Format(time.DateTime) + " UTC"}
	if r := g.n.Group.Receiver; r != "" {
		parts = append(parts, "Receiver: "+escapeMrkdwn(r))
	}
	if gl := publish.LabelList(g.n.Group.GroupLabels); gl != "" {
		parts = append(parts, "Group: "+escapeMrkdwn(gl))
	}
	return truncateMrkdwn(strings.Join(parts, " · "), 500)
}

// slackBlocksTextOf counts the text of blocks as Slack totals it against
// msg_blocks_too_long: every text, field and element, button labels but
// not their URLs.
func slackBlocksTextOf(blocks []slackBlock) int {
	n := 0
	for _, b := range blocks {
		if b.Text != nil {
			n += runes(b.Text.Text)
		}
		for _, f := range b.Fields {
			n += runes(f.Text)
		}
		for _, e := range b.Elements {
			switch e := e.(type) {
			case slackText:
				n += runes(e.Text)
			case slackButton:
				n += runes(e.Text.Text)
			}
		}
	}
	return n
}
