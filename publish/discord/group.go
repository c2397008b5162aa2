package discord

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// The shape of a group message: one embed for the group, then one per
// alert shown in full, at most discordEmbedsMax in all.
const (
	discordEmbedsMax        = 10
	discordGroupAlertsFloor = 3
	discordGroupLineMax     = 300
	discordGroupLineMin     = 20
	// discordGroupLongURL is the length past which a link goes before the
	// first alerts lose anything.
	discordGroupLongURL = 300
)

// PublishGroup posts the notification as one message.
func (d *discord) PublishGroup(ctx context.Context, n *core.Notification) error {
	reqs, err := d.RenderGroup(ctx, n)
	if err != nil {
		return err
	}
	body, err := publish.Send(d.Client, reqs[0], d.bucket)
	return discordOutcome(err, body)
}

// RenderGroup builds the one POST request PublishGroup sends.
func (d *discord) RenderGroup(ctx context.Context, n *core.Notification) ([]*http.Request, error) {
	return publish.OneRequest(publish.JSONRequest(ctx, http.MethodPost, d.url, d.groupMessage(n), "application/json"))
}

// discordGroup is what the message of one notification shows, and how
// much of it fits.
type discordGroup struct {
	n      *core.Notification
	alerts []*core.EnrichedAlert
	common map[string]string
	head   discordEmbed
	fields []discordField // the common labels
	// description is the user's "description" template, which replaces
	// the alerts' embeds as Alertmanager's message does; "" lists them.
	description string

	publish.ChatGroupCut // long links: a URL over discordGroupLongURL
	keepFields           int
}

// groupMessage renders the notification within Discord's limits, cut by
// priority: the group's embed (title with status and counts, common
// labels) and the first alerts stay. Until the embeds' text fits
// Discord's total, it drops alerts from the last down to
// discordGroupAlertsFloor, links longer than discordGroupLongURL, alerts
// down to the first, shortens the alerts' lines, drops their links, cuts
// the description, drops common labels from the last.
func (d *discord) groupMessage(n *core.Notification) *discordMessage {
	title := d.Tmpl.RenderGroup("title", n, publish.ChatGroupTitle(n))
	title, _ = publish.TruncateRunes(publish.ChatEmoji.OfGroup(n)+" "+title, discordTitleMax)
	g := &discordGroup{
		n: n, alerts: publish.ChatGroupAlerts(n), common: publish.ChatGroupCommonLabels(n),
		ChatGroupCut: publish.ChatGroupCut{LineMax: discordGroupLineMax},
		head: discordEmbed{
			Title: title, URL: discordHTTPURL(n.Group.ExternalURL),
			Timestamp: n.ReceivedAt.UTC().Format(time.RFC3339), Color: discordColour.OfGroup(n),
		},
	}
	g.description, _ = publish.TruncateRunes(d.Tmpl.RenderGroup("description", n, ""), discordDescriptionMax)
	if footer := discordGroupFooter(n); footer != "" {
		g.head.Footer = &discordFooter{Text: footer}
	}
	for i, k := range publish.LabelOrder(g.common) {
		if i == discordFieldsMax {
			break
		}
		name, _ := publish.TruncateRunes(k, discordFieldNameMax)
		value, _ := publish.TruncateRunes(discordNonEmpty(g.common[k]), discordFieldValueMax)
		g.fields = append(g.fields, discordField{Name: name, Value: value, Inline: true})
	}
	g.keepFields = len(g.fields)
	if g.description == "" {
		g.Keep = min(len(g.alerts), discordEmbedsMax-1)
	}
	g.fit(discordEmbedTotalMax)
	content, _ := publish.TruncateRunes(d.Tmpl.RenderGroup("content", n, ""), discordContentMax)
	m := &discordMessage{
		Content: content, Username: d.username, AvatarURL: d.avatarURL,
		Embeds: g.embeds(), AllowedMentions: discordAllowedMentions{Parse: []string{}},
	}
	if d.threadName {
		m.ThreadName, _ = publish.TruncateRunes(d.Tmpl.RenderGroup("thread_name", n, publish.ChatGroupTitle(n)), discordThreadNameMax)
	}
	return m
}

// fit cuts the message until its embeds hold at most budget characters
// of text, in the order groupMessage tells.
func (g *discordGroup) fit(budget int) {
	publish.Cut(append(g.Steps(discordGroupAlertsFloor, discordGroupLineMin),
		publish.CutText(&g.description),
		publish.CutStep{Max: len(g.fields), Remove: func(k int) { g.keepFields = len(g.fields) - k }},
	), func() bool {
		total := 0
		for _, e := range g.embeds() {
			total += discordEmbedSize(&e)
		}
		return total <= budget
	})
}

// embeds lays the message out as it stands: the group's embed, then one
// per alert shown, the last saying how many were left out.
func (g *discordGroup) embeds() []discordEmbed {
	head := g.head
	head.Description = g.description
	head.Fields = g.fields[:g.keepFields]
	embeds := []discordEmbed{head}
	for _, a := range g.alerts[:g.Keep] {
		embeds = append(embeds, g.alertEmbed(a))
	}
	shown := g.Keep
	if g.description != "" {
		shown = len(g.alerts)
	}
	if more := publish.ChatGroupMore(g.n, shown); more != "" {
		last := &embeds[len(embeds)-1]
		if last.Footer == nil {
			last.Footer = &discordFooter{Text: more}
		} else {
			last.Footer = &discordFooter{Text: more + " · " + last.Footer.Text}
		}
	}
	return embeds
}

// alertEmbed is one alert in full: its summary, linked to its source;
// its severity and time; the labels it does not share with the group;
// its links.
func (g *discordGroup) alertEmbed(a *core.EnrichedAlert) discordEmbed {
	summary := a.Summary()
	if _, common := g.common["alertname"]; !common && a.Alert.Labels["alertname"] != "" {
		summary = a.Alert.Labels["alertname"] + ": " + summary
	}
	title, _ := publish.TruncateRunes(publish.ChatEmoji.Of(a)+" "+summary, min(g.LineMax, discordTitleMax))
	when := "started"
	if a.Alert.Status == core.StatusResolved && !a.Alert.EndsAt.IsZero() {
		when = "resolved"
	}
	lines := []string{when + " " + discordTime(a).UTC().Format(time.DateTime) + " UTC"}
	if sev := a.Classification.Severity; sev != "" {
		lines[0] = "**" + string(sev) + "** · " + lines[0]
	}
	var labels []string
	for _, name := range publish.ChatDistinctLabels(a, g.common) {
		if name != "alertname" {
			labels = append(labels, name+"="+a.Alert.Labels[name])
		}
	}
	if len(labels) > 0 {
		text, _ := publish.TruncateRunes(strings.Join(labels, ", "), g.LineMax)
		lines = append(lines, text)
	}
	if links := g.links(a); links != "" {
		lines = append(lines, links)
	}
	return discordEmbed{
		Title: title, Description: strings.Join(lines, "\n"), URL: discordSourceURL(a),
		Timestamp: discordTime(a).UTC().Format(time.RFC3339), Color: discordColour.Of(a),
	}
}

// links are the alert's links as masked links on one line; a link that
// no longer fits is left out whole.
func (g *discordGroup) links(a *core.EnrichedAlert) string {
	if g.NoLinks {
		return ""
	}
	var parts []string
	n := 0
	for _, l := range publish.ChatLinks(a) {
		if g.DropLong && len(l.URL) > discordGroupLongURL {
			continue
		}
		part := "[" + l.Name + "](" + l.URL + ")"
		if n+len(part)+3 > discordFieldValueMax {
			continue
		}
		parts = append(parts, part)
		n += len(part) + 3
	}
	return strings.Join(parts, " · ")
}

// discordGroupFooter names the receiver and the group.
func discordGroupFooter(n *core.Notification) string {
	var parts []string
	if r := n.Group.Receiver; r != "" {
		parts = append(parts, "Receiver: "+r)
	}
	if gl := publish.LabelList(n.Group.GroupLabels); gl != "" {
		parts = append(parts, "Group: "+gl)
	}
	text, _ := publish.TruncateRunes(strings.Join(parts, " · "), 500)
	return text
}

// discordHTTPURL is u when Discord can link to it, "" otherwise: it
// rejects the whole message for a URL it cannot parse.
func discordHTTPURL(u string) string {
	if p, err := url.Parse(u); err == nil && (p.Scheme == "http" || p.Scheme == "https") {
		return u
	}
	return ""
}
