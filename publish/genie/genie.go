// Package genie is the Alert API v2 of Opsgenie, which Jira Service
// Management Operations keeps for its integrations under another path:
// the same GenieKey auth, the same create and close by alias, the same
// fields, limits and answers. The "opsgenie" and "jsm" targets differ only
// in where they send and in what their service offers besides.
package genie

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// Limits of the Create Alert request, from the Alert API documentation
// (https://docs.opsgenie.com/docs/alert-api): message 130, alias 512,
// description 15000, entity 512, source 100 characters; 20 tags of 50
// characters; 50 responders and 50 visibleTo. The details limit is "8000
// characters in total" without saying whether keys count; both are
// counted here. Update Message and Update Description keep the limits of
// message and description (https://docs.opsgenie.com/docs/alert-api-continued).
const (
	maxMessage     = 130
	maxDescription = 15000
	maxDetails     = 8000
	source         = "am-fanout"
	// trimmedKey names, in details, the values cut to fit.
	trimmedKey = "am_fanout_trimmed"
)

// API is one service that speaks the Alert API.
type API struct {
	// Vendor names the service in logs, such as "Opsgenie".
	Vendor string
	// AlertsURL is where its alerts live, such as
	// https://api.opsgenie.com/v2/alerts.
	AlertsURL string
	// UpdateAlerts also sends, for a firing alert, Update Message and
	// Update Description by alias, as Alertmanager's update_alerts does:
	// a create for an alias that is open only counts a repeat, and keeps
	// the texts the alert was opened with.
	UpdateAlerts bool
	// Updater, when set, brings an open alert's texts up to date after
	// the create where the API key cannot (JSM); UpdateAlerts is off
	// then.
	Updater Updater
}

// Publisher sends alerts to an Alert API: Create Alert (POST {alerts})
// when an alert fires, Close Alert (POST {alerts}/{alias}/close?identifierType=alias)
// when it resolves, and with UpdateAlerts, after the create, Update
// Message (PUT {alerts}/{alias}/message) and Update Description
// (PUT {alerts}/{alias}/description), both ?identifierType=alias. The
// alias is the alert's publish.IncidentKey (at most 255 characters,
// under the alias limit of 512), so the close finds the alert after a
// restart and a repeated create only bumps the open alert's count.
//
// The API answers 202 {"result","took","requestId"} to valid requests and
// processes them asynchronously, so a 202 does not prove the alert exists
// (closing an unknown alias is also a 202). Errors answer
// {"message","took","requestId"}, with "errors" on a 422
// (https://docs.opsgenie.com/docs/response); 400, 401, 403 and 422 are
// permanent, 408, 429 and 5xx retryable. The key travels as
// "Authorization: GenieKey <key>" and never appears in errors or logs.
type Publisher struct {
	api    API
	apiKey string
	cfg    *Fields
	// responders and visibleTo are the parsed templates of the config's.
	responders, visibleTo []responderTemplates
	target                string
	onTemplateError       func(target, field string)
	publish.HTTPTarget
}

// The responder types each list takes.
var (
	responderTypes = []string{"team", "user", "escalation", "schedule"}
	visibleToTypes = []string{"team", "user"}
)

// alert is the body of Create Alert.
type alert struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description,omitempty"`
	Responders  []responder       `json:"responders,omitempty"`
	VisibleTo   []responder       `json:"visibleTo,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Entity      string            `json:"entity,omitempty"`
	Source      string            `json:"source"`
	Priority    string            `json:"priority"`
}

type responder struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
}

// closing is the body of Close Alert.
type closing struct {
	Source string `json:"source"`
	Note   string `json:"note,omitempty"`
}

// The bodies of Update Message and Update Description.
type (
	messageUpdate struct {
		Message string `json:"message"`
	}
	descriptionUpdate struct {
		Description string `json:"description"`
	}
)

// defaultPriority is the default mapping of am-fanout severities; an
// alert without one gets the API's own default, P3.
var defaultPriority = map[core.Severity]string{
	core.SeverityCritical: "P1",
	core.SeverityWarning:  "P3",
	core.SeverityInfo:     "P5",
}

// New builds the publisher of target name for api with the shared keys f,
// validated.
func New(name string, f *Fields, api API, o publish.Options) (*Publisher, error) {
	h, err := publish.NewHTTPTarget(name, f.HTTPConfig, f.Templates, o)
	if err != nil {
		return nil, err
	}
	rs, err := parseResponders("responders", f.Responders)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", name, err)
	}
	vs, err := parseResponders("visible_to", f.VisibleTo)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", name, err)
	}
	return &Publisher{api: api, apiKey: string(f.APIKey), cfg: f, responders: rs, visibleTo: vs,
		target: name, onTemplateError: o.OnTemplateError, HTTPTarget: h}, nil
}

// Publish sends the alert's requests in order and stops at the first
// failure; a retry sends them all again, which the API takes as a repeat.
func (g *Publisher) Publish(ctx context.Context, a *core.EnrichedAlert) error {
	d, err := g.alertDelivery(ctx, a)
	if err != nil {
		return err
	}
	return g.deliver(ctx, d)
}

// send sends reqs in order and stops at the first failure.
func (g *Publisher) send(reqs []*http.Request) error {
	for _, req := range reqs {
		if _, err := publish.Send(g.Client, req, nil); err != nil {
			return err
		}
	}
	return nil
}

// Render builds the requests Publish sends: the create (and with
// UpdateAlerts the two updates) for a firing alert, the close by alias
// for a resolved one. With an Updater, a firing alert's requests come as
// a publish.NeedsEarlierAnswer holding the update's too.
func (g *Publisher) Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error) {
	d, err := g.alertDelivery(ctx, a)
	if err != nil {
		return nil, err
	}
	return g.rendered(ctx, d)
}

// requests are the close by alias when closing is set, else the create
// and, with UpdateAlerts, the updates of its message and description.
func (g *Publisher) requests(ctx context.Context, alias string, closing *closing, create *alert) ([]*http.Request, error) {
	byAlias := g.api.AlertsURL + "/" + url.PathEscape(alias)
	type call struct {
		method, url string
		body        any
	}
	var calls []call
	if closing != nil {
		calls = append(calls, call{http.MethodPost, byAlias + "/close?identifierType=alias", closing})
	} else {
		calls = append(calls, call{http.MethodPost, g.api.AlertsURL, create})
		if g.api.UpdateAlerts {
			calls = append(calls,
				call{http.MethodPut, byAlias + "/message?identifierType=alias", messageUpdate{create.Message}},
				call{http.MethodPut, byAlias + "/description?identifierType=alias", descriptionUpdate{create.Description}})
		}
	}
	reqs := make([]*http.Request, 0, len(calls))
	for _, c := range calls {
		req, err := publish.JSONRequest(ctx, c.method, c.url, c.body, "application/json")
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "GenieKey "+g.apiKey)
		reqs = append(reqs, req)
	}
	return reqs, nil
}

func (g *Publisher) createBody(a *core.EnrichedAlert, alias string) *alert {
	msg, cut := publish.TruncateRunes(g.Tmpl.Render("message", a, publish.IncidentHeadline(a)), maxMessage)
	if cut {
		g.Log.Warn("message truncated to "+g.api.Vendor+"'s limit", "fingerprint", a.Alert.Fingerprint, "max_chars", maxMessage)
	}
	desc, cut := publish.TruncateRunes(g.Tmpl.Render("description", a, description(a)), maxDescription)
	if cut {
		g.Log.Warn("description truncated to "+g.api.Vendor+"'s limit", "fingerprint", a.Alert.Fingerprint, "max_chars", maxDescription)
	}
	d, trimmed := details(a)
	if len(trimmed) > 0 {
		g.Log.Warn("details trimmed to fit "+g.api.Vendor+"'s limit", "fingerprint", a.Alert.Fingerprint, "details", strings.Join(trimmed, ","))
	}
	return &alert{
		Message: msg, Alias: alias, Description: desc,
		Responders: g.renderResponders("responders", g.responders, responderTypes, publish.AlertmanagerMessage(a).Data),
		VisibleTo:  g.renderResponders("visible_to", g.visibleTo, visibleToTypes, publish.AlertmanagerMessage(a).Data),
		Tags:       tags(g.cfg.Tags, a.Alert.Labels), Details: d,
		Entity: g.cfg.Entity, Source: source, Priority: g.priority(a.Classification),
	}
}

// closeBody is the close of an alert that resolved at endsAt, zero when
// unknown.
func (g *Publisher) closeBody(endsAt time.Time) *closing {
	note := "Resolved in Alertmanager"
	if !endsAt.IsZero() {
		note += " at " + endsAt.UTC().Format(time.RFC3339)
	}
	return &closing{Source: source, Note: note}
}

// priority is the priority an enrichment rule set, when it is one the API
// takes, else the severity's mapped priority.
func (g *Publisher) priority(c core.Classification) string {
	if slices.Contains(Priorities, c.Priority) {
		return c.Priority
	}
	if p, ok := g.cfg.PriorityMap[string(c.Severity)]; ok {
		return p
	}
	if p, ok := defaultPriority[c.Severity]; ok {
		return p
	}
	return "P3"
}
