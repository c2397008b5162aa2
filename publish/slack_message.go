package publish

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// Slack's Block Kit and message limits, in characters.
const (
	slackHeaderMax     = 150
	slackSectionMax    = 3000
	slackFieldsMax     = 10
	slackFieldMax      = 2000
	slackButtonTextMax = 75
	slackButtonURLMax  = 3000
	slackButtonsMax    = 25
	slackFallbackMax   = 3000
)

// slackEmoji marks the alert's state in the header; slackColour is the
// attachment bar's, in Slack's own brand palette.
var (
	slackEmoji  = stateStyle[string]{resolved: "✅", critical: "🔴", warning: "🟠", info: "🔵"}
	slackColour = stateStyle[string]{resolved: "#2EB67D", critical: "#E01E5A", warning: "#ECB22E", info: "#36C5F0"}
)

// message renders the alert; the same message serves every mode.
func (s *slack) message(a *core.EnrichedAlert) *slackMessage {
	emoji, colour := slackEmoji.of(a), slackColour.of(a)
	title := s.tmpl.render("title", a, slackDefaultTitle(a))
	text := s.tmpl.render("text", a, slackDefaultText(a))
	header, _ := TruncateRunes(emoji+" "+title, slackHeaderMax)
	text = truncateMrkdwn(text, slackSectionMax)
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: header, Emoji: true}},
		{Type: "section", Text: &slackText{Type: "mrkdwn", Text: text}},
	}
	if fields := slackFields(a.Alert.Labels); len(fields) > 0 {
		blocks = append(blocks, slackBlock{Type: "section", Fields: fields})
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: slackContext(a)})
	if buttons := slackButtons(a); len(buttons) > 0 {
		blocks = append(blocks, slackBlock{Type: "actions", Elements: buttons})
	}
	fallback, _ := TruncateRunes(escapeMrkdwn(emoji+" "+title+": "+a.Summary()), slackFallbackMax)
	return &slackMessage{
		Text:        fallback,
		Attachments: []slackAttachment{{Color: colour, Blocks: blocks}},
	}
}

// slackDefaultTitle is "[FIRING] AlertName".
func slackDefaultTitle(a *core.EnrichedAlert) string {
	name := a.Alert.Labels["alertname"]
	if name == "" {
		name = "alert " + a.Alert.Fingerprint
	}
	return fmt.Sprintf("[%s] %s", strings.ToUpper(string(a.Alert.Status)), name)
}

// slackDefaultText is the summary in bold and the description below it,
// escaped: alert text is data, not markup.
func slackDefaultText(a *core.EnrichedAlert) string {
	text := "*" + escapeMrkdwn(a.Summary()) + "*"
	if d := a.Alert.Annotations["description"]; d != "" && d != a.Summary() {
		text += "\n" + escapeMrkdwn(d)
	}
	return text
}

// slackFields shows the labels but alertname, key labels first; past ten,
// the last field counts the labels left out.
func slackFields(labels map[string]string) []slackText {
	names := slackLabelOrder(labels)
	var fields []slackText
	for i, n := range names {
		if i == slackFieldsMax-1 && len(names) > slackFieldsMax {
			more := fmt.Sprintf("_…and %d more labels_", len(names)-i)
			fields = append(fields, slackText{Type: "mrkdwn", Text: more})
			break
		}
		text := truncateMrkdwn("*"+escapeMrkdwn(n)+"*\n"+escapeMrkdwn(labels[n]), slackFieldMax)
		fields = append(fields, slackText{Type: "mrkdwn", Text: text})
	}
	return fields
}

// slackLabelOrder lists the label names but alertname, which the title
// shows: the key labels first, in this order, then the others by name.
func slackLabelOrder(labels map[string]string) []string {
	keyLabels := []string{"severity", "cluster", "namespace", "service", "job", "instance"}
	rank := func(n string) int {
		if i := slices.Index(keyLabels, n); i >= 0 {
			return i
		}
		return len(keyLabels)
	}
	names := slices.DeleteFunc(slices.Collect(maps.Keys(labels)), func(n string) bool { return n == "alertname" })
	slices.SortFunc(names, func(x, y string) int {
		return cmp.Or(cmp.Compare(rank(x), rank(y)), strings.Compare(x, y))
	})
	return names
}

// slackContext says where the alert came from and since when.
func slackContext(a *core.EnrichedAlert) []any {
	at, verb := a.Alert.StartsAt, "Started"
	if a.Alert.Status == core.StatusResolved && !a.Alert.EndsAt.IsZero() {
		at, verb = a.Alert.EndsAt, "Resolved"
	}
	parts := []string{verb + " " + at.UTC().Format(time.DateTime) + " UTC"}
	if r := a.Group.Receiver; r != "" {
		parts = append(parts, "Receiver: "+escapeMrkdwn(r))
	}
	if g := slackLabelList(a.Group.GroupLabels); g != "" {
		parts = append(parts, "Group: "+escapeMrkdwn(g))
	}
	text := truncateMrkdwn(strings.Join(parts, " · "), slackSectionMax)
	return []any{slackText{Type: "mrkdwn", Text: text}}
}

// slackButtons links to the alert's source, runbook, dashboard, silence
// and any other link enrichment added. A URL too long for Slack is left
// out: a cut URL leads nowhere.
func slackButtons(a *core.EnrichedAlert) []any {
	var buttons []any
	for _, l := range slackLinks(a) {
		if l.URL == "" || len([]rune(l.URL)) > slackButtonURLMax || len(buttons) == slackButtonsMax {
			continue
		}
		text, _ := TruncateRunes(l.Name, slackButtonTextMax)
		buttons = append(buttons, slackButton{
			Type: "button", Text: slackText{Type: "plain_text", Text: text},
			URL: l.URL, ActionID: fmt.Sprintf("link-%d", len(buttons)),
		})
	}
	return buttons
}

// slackLinks lists the alert's links with display names: the well-known
// ones first, the generator URL as "Source" when enrichment did not name
// a source, then the others under their own names.
func slackLinks(a *core.EnrichedAlert) []core.Link {
	known := []string{core.LinkSource, core.LinkRunbook, core.LinkDashboard, core.LinkSilence}
	var out []core.Link
	for _, name := range known {
		u := a.Link(name)
		if u == "" && name == core.LinkSource {
			u = a.Alert.GeneratorURL
		}
		if u != "" {
			out = append(out, core.Link{Name: strings.ToUpper(name[:1]) + name[1:], URL: u})
		}
	}
	for _, l := range a.Links {
		if !slices.Contains(known, l.Name) {
			out = append(out, l)
		}
	}
	return out
}

// slackLabelList renders labels as `a="1", b="2"`, sorted by name.
func slackLabelList(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, n := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", n, labels[n]))
	}
	return strings.Join(parts, ", ")
}

// escapeMrkdwn escapes the three characters Slack reserves for markup.
func escapeMrkdwn(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncateMrkdwn cuts escaped text to n characters without leaving half
// an entity such as "&am" before the ellipsis.
func truncateMrkdwn(s string, n int) string {
	out, cut := TruncateRunes(s, n)
	if !cut {
		return out
	}
	body := strings.TrimSuffix(out, ellipsis)
	if amp := strings.LastIndexByte(body, '&'); amp >= 0 && !strings.Contains(body[amp:], ";") {
		body = body[:amp]
	}
	return body + ellipsis
}
