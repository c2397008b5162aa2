package msteams

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// msteams posts each alert to a Microsoft Teams channel through a Workflows
// (Power Automate) webhook made from the template "Post to a channel when a
// webhook request is received"
// (https://learn.microsoft.com/en-us/connectors/teams/#microsoft-teams-webhook).
// The body is a message with one Adaptive Card attachment, schema
// http://adaptivecards.io/schemas/adaptive-card.json, version 1.4: Teams
// renders up to 1.5, and 1.4 holds everything this card uses (Container
// styles, FactSet, Action.OpenUrl) while older clients still render it.
// "msteams": {"width": "Full"} widens the card in Teams.
//
// Teams rejects messages over about 28 KB ("Request Entity too large",
// https://learn.microsoft.com/en-us/connectors/teams/#known-issues-and-limitations);
// a Workflows trigger accepts the request first and fails later, so the
// whole body is kept under teamsMaxBytes here, as fit describes.
// Workflows answer 202 Accepted (200 is success too). The Teams
// connector answers throttling with HTTP 200 and a text body such as
// "Microsoft Teams endpoint returned HTTP error 429"; checkTeamsAnswer
// classifies that by the embedded status.
type msteams struct {
	// url holds the workflow's signature: it never appears in errors or logs.
	url string
	publish.HTTPTarget
}

const (
	// teamsMaxBytes is Teams' message size limit, about 28 KB.
	teamsMaxBytes        = 28000
	adaptiveCardSchema   = "http://adaptivecards.io/schemas/adaptive-card.json"
	adaptiveCardVersion  = "1.4"
	adaptiveCardMIMEType = "application/vnd.microsoft.card.adaptive"
	// teamsContentType names the charset: without it Teams counts the body
	// as UTF-16, two bytes a character, and refuses it from about 14 KB
	// (https://techqa.club/v/q/ms-teams-webhook-returns-error-413-on-small-messages-78034694).
	teamsContentType = "application/json; charset=utf-8"
)

func newMSTeams(name string, s *Config, o publish.Options) (*msteams, error) {
	h, err := publish.NewHTTPTarget(name, s.HTTPConfig, s.Templates, o)
	if err != nil {
		return nil, err
	}
	return &msteams{url: string(s.URL), HTTPTarget: h}, nil
}

// Publish posts the card once.
func (m *msteams) Publish(ctx context.Context, a *core.EnrichedAlert) error {
	_, err := m.SendRendered(ctx, a, m.Render, checkTeamsAnswer)
	return err
}

// Render builds the one POST request Publish sends.
func (m *msteams) Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error) {
	body, err := m.content(a).fit(teamsMaxBytes)
	if err != nil {
		return nil, core.Permanent(0, err)
	}
	return publish.OneRequest(publish.BodyRequest(ctx, http.MethodPost, m.url, body, teamsContentType))
}

// teamsErrorInBody finds the status the Teams connector reports inside a
// 2xx answer.
var teamsErrorInBody = regexp.MustCompile(`returned HTTP error (\d{3})`)

// checkTeamsAnswer turns a 2xx answer that reports a failure into an
// error carrying the reported status, retryable as publish.RetryableStatus
// says (408, 429, 5xx), others permanent. Any other 2xx answer (Workflows'
// empty 202, the connector's "1") is success.
func checkTeamsAnswer(resp *http.Response, body []byte) error {
	text := string(body)
	err := fmt.Errorf("answered HTTP %d reporting a failure: %s", resp.StatusCode, publish.AnswerText(body))
	if m := teamsErrorInBody.FindStringSubmatch(text); m != nil {
		code, _ := strconv.Atoi(m[1])
		if publish.RetryableStatus(code) {
			return core.Retryable(code, publish.RetryAfter(resp.Header, time.Now()), err)
		}
		return core.Permanent(code, err)
	}
	if strings.Contains(strings.ToLower(text), "throttl") {
		return core.Retryable(http.StatusTooManyRequests, publish.RetryAfter(resp.Header, time.Now()), err)
	}
	return nil
}

// teamsContent is what a card shows, and how much of it fit leaves in.
type teamsContent struct {
	title, text string
	// style is both the title container's style and the title's colour:
	// attention, warning, good or accent are valid for each.
	style string
	facts []cardFact
	links []cardAction
	// keep is how many facts the card shows, from the first.
	keep int
	// dropped is how many links the card leaves out, the first of
	// longestFirst.
	dropped      int
	longestFirst []int
}

func (m *msteams) content(a *core.EnrichedAlert) *teamsContent {
	c := &teamsContent{
		title: m.Tmpl.Render("title", a, teamsTitle(a)),
		text:  m.Tmpl.Render("text", a, teamsText(a)),
		style: teamsStyle.Of(a),
		facts: teamsFacts(a),
	}
	for _, l := range a.Links {
		if strings.HasPrefix(l.URL, "https://") || strings.HasPrefix(l.URL, "http://") {
			c.links = append(c.links, cardAction{Type: "Action.OpenUrl", Title: publish.TitleOfLink(l.Name), URL: l.URL})
		}
	}
	return c
}

func teamsTitle(a *core.EnrichedAlert) string {
	name := a.Alert.Labels["alertname"]
	if name == "" {
		name = a.Summary()
	}
	return "[" + strings.ToUpper(string(a.Alert.Status)) + "] " + name
}

func teamsText(a *core.EnrichedAlert) string {
	s := a.Summary()
	if d := a.Alert.Annotations["description"]; d != "" && d != s {
		s += "\n\n" + d
	}
	return s
}

// teamsStyle colours the card: green once resolved, else by severity.
var teamsStyle = publish.StateStyle[string]{Resolved: "good", Critical: "attention", Warning: "warning", Info: "accent"}

// teamsFacts lists severity and times first, then the labels, then the
// annotations the text and the buttons do not already show; trimming drops
// facts from the end, so the most useful survive longest.
func teamsFacts(a *core.EnrichedAlert) []cardFact {
	facts := []cardFact{
		{Title: "Severity", Value: string(a.Classification.Severity)},
		{Title: "Started", Value: a.Alert.StartsAt.UTC().Format(time.RFC3339)},
	}
	if a.Alert.Status == core.StatusResolved {
		facts = append(facts, cardFact{Title: "Ended", Value: a.Alert.EndsAt.UTC().Format(time.RFC3339)})
	}
	for _, k := range slices.Sorted(maps.Keys(a.Alert.Labels)) {
		facts = append(facts, cardFact{Title: k, Value: a.Alert.Labels[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(a.Alert.Annotations)) {
		if k == "summary" || k == "description" || k == "message" || strings.HasSuffix(k, "_url") {
			continue
		}
		facts = append(facts, cardFact{Title: k, Value: a.Alert.Annotations[k]})
	}
	return facts
}

type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string `json:"contentType"`
	// ContentURL is always null for a card sent inline.
	ContentURL *string      `json:"contentUrl"`
	Content    adaptiveCard `json:"content"`
}

type adaptiveCard struct {
	Schema  string            `json:"$schema"`
	Type    string            `json:"type"`
	Version string            `json:"version"`
	MSTeams map[string]string `json:"msteams"`
	Body    []any             `json:"body"`
	Actions []cardAction      `json:"actions,omitempty"`
}

type cardContainer struct {
	Type  string `json:"type"`
	Style string `json:"style"`
	Bleed bool   `json:"bleed,omitempty"`
	Items []any  `json:"items"`
}

type cardTextBlock struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Wrap     bool   `json:"wrap"`
	Weight   string `json:"weight,omitempty"`
	Size     string `json:"size,omitempty"`
	Color    string `json:"color,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
}

type cardFactSet struct {
	Type  string     `json:"type"`
	Facts []cardFact `json:"facts"`
}

type cardFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type cardAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}
