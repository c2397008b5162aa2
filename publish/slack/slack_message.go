package slack

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
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
	// slackBlocksTextBudget bounds the text of all blocks together. Slack
	// refuses a message past a total it does not document with
	// msg_blocks_too_long, well below the sum of the per-block limits: its
	// SDK maintainers name 12,000 characters of text
	// (https://github.com/slackapi/bolt-js/issues/2509), and messages have
	// been refused from 11,341 (https://github.com/slackapi/bolt-js/issues/2867).
	// The refusal is permanent, so a big alert would be a dead letter: the
	// label fields share what the other blocks leave of this budget.
	slackBlocksTextBudget = 9000
	// slackFieldMinChars is the shortest a shared-down field gets; below
	// it, fields are dropped and counted in the last one instead.
	slackFieldMinChars = 24
)

// slackColour is the attachment bar's colour of the alert's state, in
// Slack's own brand palette; publish.ChatEmoji marks it in the header.
var slackColour = publish.StateStyle[string]{Resolved: "#2EB67D", Critical: "#E01E5A", Warning: "#ECB22E", Info: "#36C5F0"}

// message renders the alert; the same message serves every mode.
func (s *slack) message(a *core.EnrichedAlert) *slackMessage {
	emoji, colour := publish.ChatEmoji.Of(a), slackColour.Of(a)
	title := s.Tmpl.Render("title", a, publish.ChatTitle(a))
	text := s.Tmpl.Render("text", a, slackDefaultText(a))
	header, _ := publish.TruncateRunes(emoji+" "+title, slackHeaderMax)
	text = truncateMrkdwn(text, slackSectionMax)
	context, buttons := slackContext(a), slackButtons(a)
	used := runes(header) + runes(text) + runes(context[0].(slackText).Text)
	for _, b := range buttons {
		used += runes(b.(slackButton).Text.Text)
	}
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: header, Emoji: true}},
		{Type: "section", Text: &slackText{Type: "mrkdwn", Text: text}},
	}
	if fields := slackFields(a.Alert.Labels, slackBlocksTextBudget-used); len(fields) > 0 {
		blocks = append(blocks, slackBlock{Type: "section", Fields: fields})
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: context})
	if len(buttons) > 0 {
		blocks = append(blocks, slackBlock{Type: "actions", Elements: buttons})
	}
	fallback, _ := publish.TruncateRunes(escapeMrkdwn(emoji+" "+title+": "+a.Summary()), slackFallbackMax)
	return &slackMessage{
		Text:        fallback,
		Attachments: []slackAttachment{{Color: colour, Blocks: blocks}},
	}
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

// slackFields shows the labels but alertname, key labels first, in at
// most budget characters; past ten, or when the budget cannot give each a
// readable share, the last field counts the labels left out.
func slackFields(labels map[string]string, budget int) []slackText {
	names := publish.LabelOrder(labels)
	shown := len(names)
	if shown > slackFieldsMax {
		shown = slackFieldsMax - 1
	}
	for ; shown >= 0; shown-- {
		texts := make([]string, shown)
		for i, n := range names[:shown] {
			texts[i] = "*" + escapeMrkdwn(n) + "*\n" + escapeMrkdwn(labels[n])
		}
		more := ""
		if shown < len(names) {
			more = fmt.Sprintf("_…and %d more labels_", len(names)-shown)
		}
		caps, ok := fairShares(texts, budget-runes(more))
		if !ok {
			continue
		}
		fields := make([]slackText, 0, shown+1)
		for i, t := range texts {
			fields = append(fields, slackText{Type: "mrkdwn", Text: truncateMrkdwn(t, caps[i])})
		}
		if more != "" {
			fields = append(fields, slackText{Type: "mrkdwn", Text: more})
		}
		return fields
	}
	return nil
}

// fairShares splits budget characters among texts, each at most
// slackFieldMax: the short ones keep all of theirs, the long ones share
// the rest evenly. It reports false when a share would fall below
// slackFieldMinChars.
func fairShares(texts []string, budget int) ([]int, bool) {
	if len(texts) > 0 && budget < slackFieldMinChars {
		return nil, false
	}
	order := make([]int, len(texts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return runes(texts[order[i]]) < runes(texts[order[j]]) })
	caps := make([]int, len(texts))
	for k, i := range order {
		share := budget / (len(texts) - k)
		want := min(runes(texts[i]), slackFieldMax)
		if want > share {
			if share < slackFieldMinChars {
				return nil, false
			}
			want = share
		}
		caps[i] = want
		budget -= want
	}
	return caps, true
}

func runes(s string) int { return utf8.RuneCountInString(s) }

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
	if g := publish.LabelList(a.Group.GroupLabels); g != "" {
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
	for _, l := range publish.ChatLinks(a) {
		if l.URL == "" || len([]rune(l.URL)) > slackButtonURLMax || len(buttons) == slackButtonsMax {
			continue
		}
		text, _ := publish.TruncateRunes(l.Name, slackButtonTextMax)
		buttons = append(buttons, slackButton{
			Type: "button", Text: slackText{Type: "plain_text", Text: text},
			URL: l.URL, ActionID: fmt.Sprintf("link-%d", len(buttons)),
		})
	}
	return buttons
}

// escapeMrkdwn escapes the three characters Slack reserves for markup.
func escapeMrkdwn(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncateMrkdwn cuts escaped text to n characters without leaving half
// an entity such as "&am" before the ellipsis.
func truncateMrkdwn(s string, n int) string {
	out, cut := publish.TruncateRunes(s, n)
	if !cut {
		return out
	}
	body := strings.TrimSuffix(out, publish.Ellipsis)
	if amp := strings.LastIndexByte(body, '&'); amp >= 0 && !strings.Contains(body[amp:], ";") {
		body = body[:amp]
	}
	return body + publish.Ellipsis
}
