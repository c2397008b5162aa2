package msteams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/am-fanout/am-fanout/publish"
)

const (
	// teamsFirstFacts is how many facts (severity, start, end or the first
	// labels) stay on a card while its text can still be cut.
	teamsFirstFacts = 5
	// teamsLongURL is the length above which a link is dropped before any
	// fact: a URL that long (a silence with every label as a matcher) costs
	// more of the 28 KB than the facts it would push out are worth.
	teamsLongURL = 2000
)

// fit encodes the message within limit bytes. What tells the on-call most
// stays longest: the title with its status, then the severity and the first
// facts, then the text, then the other facts and the short links. So,
// until the message fits, it drops links with long URLs, longest first;
// facts from the end down to teamsFirstFacts; cuts the text; drops the
// other links, longest first; drops facts down to the severity; cuts the
// title. A note on the card says how many facts and links were left out.
func (c *teamsContent) fit(limit int) ([]byte, error) {
	c.keep, c.dropped = len(c.facts), 0
	c.longestFirst = make([]int, len(c.links))
	for i := range c.longestFirst {
		c.longestFirst[i] = i
	}
	slices.SortStableFunc(c.longestFirst, func(i, j int) int { return len(c.links[j].URL) - len(c.links[i].URL) })
	long := 0
	for long < len(c.links) && len(c.links[c.longestFirst[long]].URL) > teamsLongURL {
		long++
	}
	first := min(teamsFirstFacts, len(c.facts))
	severity := min(1, len(c.facts))
	steps := []publish.CutStep{
		{Max: long, Remove: func(n int) { c.dropped = n }},
		{Max: len(c.facts) - first, Remove: func(n int) { c.keep = len(c.facts) - n }},
		publish.CutText(&c.text),
		{Max: len(c.links) - long, Remove: func(n int) { c.dropped = long + n }},
		{Max: first - severity, Remove: func(n int) { c.keep = first - n }},
		publish.CutText(&c.title),
	}
	fits := func() bool { b, err := c.encode(); return err == nil && len(b) <= limit }
	if !publish.Cut(steps, fits) {
		return nil, fmt.Errorf("the Teams message cannot fit in %d bytes", limit)
	}
	return c.encode()
}

// encode renders the message with the first keep facts, the links not
// dropped, and a note saying how many of each were left out.
func (c *teamsContent) encode() ([]byte, error) {
	body := []any{
		cardContainer{Type: "Container", Style: c.style, Bleed: true, Items: []any{
			cardTextBlock{Type: "TextBlock", Text: c.title, Wrap: true, Weight: "Bolder", Size: "Medium", Color: c.style},
		}},
		cardTextBlock{Type: "TextBlock", Text: c.text, Wrap: true},
	}
	if c.keep > 0 {
		body = append(body, cardFactSet{Type: "FactSet", Facts: c.facts[:c.keep]})
	}
	if note := c.leftOut(); note != "" {
		body = append(body, cardTextBlock{Type: "TextBlock", Wrap: true, IsSubtle: true, Size: "Small", Text: note})
	}
	return encodeCard(body, c.actions())
}

// encodeCard wraps the card's body and actions in a message. HTML
// characters are not escaped, so the size counted is the size sent.
func encodeCard(body []any, actions []cardAction) ([]byte, error) {
	msg := teamsMessage{Type: "message", Attachments: []teamsAttachment{{
		ContentType: adaptiveCardMIMEType,
		Content: adaptiveCard{
			Schema: adaptiveCardSchema, Type: "AdaptiveCard", Version: adaptiveCardVersion,
			MSTeams: map[string]string{"width": "Full"},
			Body:    body, Actions: actions,
		},
	}}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(msg); err != nil {
		return nil, fmt.Errorf("encoding body: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// actions are the links not dropped, in their order.
func (c *teamsContent) actions() []cardAction {
	gone := c.longestFirst[:c.dropped]
	var kept []cardAction
	for i, l := range c.links {
		if !slices.Contains(gone, i) {
			kept = append(kept, l)
		}
	}
	return kept
}

// leftOut is the note that says what fit left out, "" if nothing.
func (c *teamsContent) leftOut() string {
	var parts []string
	if n := len(c.facts) - c.keep; n > 0 {
		parts = append(parts, fmt.Sprintf("%d more labels and annotations", n))
	}
	switch c.dropped {
	case 0:
	case 1:
		parts = append(parts, "1 link")
	default:
		parts = append(parts, fmt.Sprintf("%d links", c.dropped))
	}
	if len(parts) == 0 {
		return ""
	}
	return "… " + strings.Join(parts, " and ") + " left out to stay within Teams' message size limit"
}
