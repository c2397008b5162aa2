package discord

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// Discord's message and embed limits, in characters
// (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
const (
	discordContentMax     = 2000
	discordTitleMax       = 256
	discordDescriptionMax = 4096
	discordFieldsMax      = 25
	discordFieldNameMax   = 256
	discordFieldValueMax  = 1024
	discordFooterMax      = 2048
	discordEmbedTotalMax  = 6000
	// discordThreadNameMax is a channel's name limit, which a forum
	// post's thread_name is
	// (https://discord.com/developers/docs/resources/channel#channel-object).
	discordThreadNameMax = 100
	// discordDescriptionFloor is as far as the description is cut to
	// make room for fields.
	discordDescriptionFloor = 1000
)

// discordColour is the embed's side bar by state, as an integer: Slack's
// palette, so both chats look alike.
var discordColour = publish.StateStyle[int]{Resolved: 0x2EB67D, Critical: 0xE01E5A, Warning: 0xECB22E, Info: 0x36C5F0}

// discord posts alerts to a Discord channel webhook, API v10 Execute
// Webhook (https://discord.com/developers/docs/resources/webhook#execute-webhook):
// POST JSON to the webhook URL with ?wait=true, so that Discord confirms
// the message was saved (200 with the message) instead of answering 204
// before it knows; both count as success. The body is one embed (title,
// description, fields, footer, url to the alert's source, timestamp,
// colour by severity) within Discord's limits, the total of its text kept
// ≤6000 characters by trimming the description, then the last fields.
// allowed_mentions is empty so that alert text cannot ping @everyone.
// thread_id goes in the query, thread_name in the body: a forum or media
// channel's webhook needs one of them.
// Discord answers 429 with {"retry_after": seconds, "global": …} and a
// Retry-After header: publish.Wait honours the JSON value first, being
// the more precise. Other 4xx answers are {"code": n, "message": …} and permanent;
// a deleted webhook, 401 and 403 say the target is gone (core.ErrTargetGone).
type discord struct {
	// url holds the webhook's token: it never appears in errors or logs.
	url        string
	username   string
	avatarURL  string
	threadName bool // the "thread_name" template names a new post
	// bucket tells Options.Throttled when a success empties the bucket.
	bucket publish.Checker
	publish.HTTPTarget
}

type discordMessage struct {
	Content         string                 `json:"content,omitempty"`
	Username        string                 `json:"username,omitempty"`
	AvatarURL       string                 `json:"avatar_url,omitempty"`
	ThreadName      string                 `json:"thread_name,omitempty"`
	Embeds          []discordEmbed         `json:"embeds"`
	AllowedMentions discordAllowedMentions `json:"allowed_mentions"`
}

type discordAllowedMentions struct {
	// Parse is empty, never null: nothing in the message may mention.
	Parse []string `json:"parse"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	URL         string         `json:"url,omitempty"`
	Timestamp   string         `json:"timestamp"`
	Color       int            `json:"color"`
	Fields      []discordField `json:"fields,omitempty"`
	Footer      *discordFooter `json:"footer,omitempty"`
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type discordFooter struct {
	Text string `json:"text"`
}

// discordError is the body of Discord's error answers.
type discordError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func newDiscord(name string, s *Config, o publish.Options) (*discord, error) {
	tmpl := s.Templates
	if s.ThreadName != "" {
		tmpl = maps.Clone(s.Templates)
		if tmpl == nil {
			tmpl = publish.Templates{}
		}
		tmpl["thread_name"] = s.ThreadName
	}
	h, err := publish.NewHTTPTarget(name, s.HTTPConfig, tmpl, o)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(string(s.URL))
	if err != nil {
		return nil, fmt.Errorf("target %q: url is not a valid URL", name)
	}
	q := u.Query()
	q.Set("wait", "true")
	if s.ThreadID != "" {
		q.Set("thread_id", s.ThreadID)
	}
	u.RawQuery = q.Encode()
	return &discord{
		url: u.String(), username: s.Username, avatarURL: s.AvatarURL, threadName: s.ThreadName != "",
		bucket: bucketCheck(name, o.Throttled, time.Now), HTTPTarget: h,
	}, nil
}

// Publish posts the alert once.
func (d *discord) Publish(ctx context.Context, a *core.EnrichedAlert) error {
	body, err := d.SendRendered(ctx, a, d.Render, d.bucket)
	return discordOutcome(err, body)
}

// Destination is a digest of the webhook URL, never the URL: it tells the
// engine that a target given a new webhook is no longer the gone one,
// which the target's configuration key, leaving secrets out, cannot.
func (d *discord) Destination() string {
	sum := sha256.Sum256([]byte(d.url))
	return hex.EncodeToString(sum[:12])
}

// Render builds the one POST request Publish sends.
func (d *discord) Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error) {
	return publish.OneRequest(publish.JSONRequest(ctx, http.MethodPost, d.url, d.message(a), "application/json"))
}

// discordUnknownWebhook is the error code of a 404 for a webhook that does
// not exist, or no longer does
// (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes).
const discordUnknownWebhook = 10015

// discordOutcome refines send's verdict with Discord's error body: its
// message and whether the webhook is
// gone: deleted (404 Unknown Webhook) or refused (401, 403). A deleted
// webhook never comes back, and every 401 and 403 counts towards
// Discord's invalid request limit, whose breach bans the sender's IP
// (https://discord.com/developers/docs/topics/rate-limits#invalid-request-limit),
// so none of them is worth a second request.
func discordOutcome(err error, body []byte) error {
	var de *core.DeliveryError
	if !errors.As(err, &de) {
		return err
	}
	var ans discordError
	if json.Unmarshal(body, &ans) == nil && ans.Message != "" {
		de.Err = fmt.Errorf("discord error %d: %s", ans.Code, ans.Message)
	}
	switch de.StatusCode {
	case http.StatusNotFound:
		if ans.Code == discordUnknownWebhook {
			return core.Gone(de.StatusCode, de.Err)
		}
	case http.StatusUnauthorized, http.StatusForbidden:
		return core.Gone(de.StatusCode, de.Err)
	}
	return err
}

func (d *discord) message(a *core.EnrichedAlert) *discordMessage {
	title := d.Tmpl.Render("title", a, publish.ChatTitle(a))
	title, _ = publish.TruncateRunes(publish.ChatEmoji.Of(a)+" "+title, discordTitleMax)
	desc, _ := publish.TruncateRunes(d.Tmpl.Render("description", a, discordDefaultDescription(a)), discordDescriptionMax)
	content, _ := publish.TruncateRunes(d.Tmpl.Render("content", a, ""), discordContentMax)
	e := discordEmbed{
		Title:       title,
		Description: desc,
		URL:         discordSourceURL(a),
		Timestamp:   discordTime(a).UTC().Format(time.RFC3339),
		Color:       discordColour.Of(a),
		Fields:      discordFields(a),
	}
	if footer := discordFooterText(a); footer != "" {
		e.Footer = &discordFooter{Text: footer}
	}
	fitDiscordEmbed(&e)
	m := &discordMessage{
		Content: content, Username: d.username, AvatarURL: d.avatarURL,
		Embeds:          []discordEmbed{e},
		AllowedMentions: discordAllowedMentions{Parse: []string{}},
	}
	if d.threadName {
		// A blank or failed template falls back to the title, as a post
		// must have a name.
		m.ThreadName, _ = publish.TruncateRunes(d.Tmpl.Render("thread_name", a, publish.ChatTitle(a)), discordThreadNameMax)
	}
	return m
}

// discordTime is when the alert started, or ended once resolved.
func discordTime(a *core.EnrichedAlert) time.Time {
	if a.Alert.Status == core.StatusResolved && !a.Alert.EndsAt.IsZero() {
		return a.Alert.EndsAt
	}
	return a.Alert.StartsAt
}

// discordDefaultDescription is the summary in bold and the description.
func discordDefaultDescription(a *core.EnrichedAlert) string {
	text := "**" + a.Summary() + "**"
	if desc := a.Alert.Annotations["description"]; desc != "" && desc != a.Summary() {
		text += "\n" + desc
	}
	return text
}

// discordSourceURL links the title to the alert's source; Discord rejects
// the whole message for a URL it cannot parse, so such a URL is left out.
func discordSourceURL(a *core.EnrichedAlert) string {
	for _, l := range publish.ChatLinks(a) {
		if l.Name == "Source" {
			if u, err := url.Parse(l.URL); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
				return l.URL
			}
		}
	}
	return ""
}

// discordFields are the links, then one inline field per label, in the
// order Slack shows them; past 25 fields the last counts those left out.
func discordFields(a *core.EnrichedAlert) []discordField {
	var fields []discordField
	if links := discordLinks(a); links != "" {
		fields = append(fields, discordField{Name: "Links", Value: links})
	}
	names := publish.LabelOrder(a.Alert.Labels)
	for i, n := range names {
		if len(fields) == discordFieldsMax-1 && i < len(names)-1 {
			more := fmt.Sprintf("%d more labels", len(names)-i)
			fields = append(fields, discordField{Name: "…", Value: more})
			break
		}
		name, _ := publish.TruncateRunes(n, discordFieldNameMax)
		value, _ := publish.TruncateRunes(discordNonEmpty(a.Alert.Labels[n]), discordFieldValueMax)
		fields = append(fields, discordField{Name: name, Value: value, Inline: true})
	}
	return fields
}

// discordLinks renders the links as masked links on one line; a link
// that no longer fits the field is left out rather than cut.
func discordLinks(a *core.EnrichedAlert) string {
	var parts []string
	n := 0
	for _, l := range publish.ChatLinks(a) {
		part := "[" + l.Name + "](" + l.URL + ")"
		size := utf8.RuneCountInString(part) + len(" · ")
		if n+size > discordFieldValueMax {
			continue
		}
		parts = append(parts, part)
		n += size
	}
	return strings.Join(parts, " · ")
}

func discordFooterText(a *core.EnrichedAlert) string {
	var parts []string
	if r := a.Group.Receiver; r != "" {
		parts = append(parts, "Receiver: "+r)
	}
	if g := publish.LabelList(a.Group.GroupLabels); g != "" {
		parts = append(parts, "Group: "+g)
	}
	text, _ := publish.TruncateRunes(strings.Join(parts, " · "), discordFooterMax)
	return text
}

// discordNonEmpty stands in for an empty value, which Discord refuses.
func discordNonEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fitDiscordEmbed keeps the embed's text within Discord's total: the
// description gives way first, down to discordDescriptionFloor characters
// so the summary stays readable, then the fields from the last.
func fitDiscordEmbed(e *discordEmbed) {
	excess := discordEmbedSize(e) - discordEmbedTotalMax
	if excess <= 0 {
		return
	}
	if n := utf8.RuneCountInString(e.Description); n > discordDescriptionFloor {
		e.Description, _ = publish.TruncateRunes(e.Description, max(n-excess, discordDescriptionFloor))
	}
	for len(e.Fields) > 0 && discordEmbedSize(e) > discordEmbedTotalMax {
		e.Fields = e.Fields[:len(e.Fields)-1]
	}
}

// discordEmbedSize counts the characters Discord's total limit counts:
// title, description, field names and values, footer text.
func discordEmbedSize(e *discordEmbed) int {
	n := utf8.RuneCountInString(e.Title) + utf8.RuneCountInString(e.Description)
	for _, f := range e.Fields {
		n += utf8.RuneCountInString(f.Name) + utf8.RuneCountInString(f.Value)
	}
	if e.Footer != nil {
		n += utf8.RuneCountInString(e.Footer.Text)
	}
	return n
}
