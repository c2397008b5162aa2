package opsgenie

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// Limits of Opsgenie's Create Alert request, from the Alert API
// documentation (https://docs.opsgenie.com/docs/alert-api): message 130,
// alias 512, description 15000, entity 512, source 100 characters; 20 tags
// of 50 characters; 50 responders and 50 visibleTo. The details limit is
// "8000 characters in total" without saying whether keys count; both are
// counted here.
const (
	opsgenieMaxMessage     = 130
	opsgenieMaxDescription = 15000
	opsgenieMaxDetails     = 8000
	opsgenieSource         = "am-fanout"
	// opsgenieTrimmedKey names, in details, the values cut to fit.
	opsgenieTrimmedKey = "am_fanout_trimmed"
)

// opsgenie sends alerts to Opsgenie's Alert API v2
// (https://docs.opsgenie.com/docs/alert-api): Create Alert
// (POST /v2/alerts) when an alert fires, Close Alert
// (POST /v2/alerts/{alias}/close?identifierType=alias) when it resolves.
// The alias is the alert's publish.IncidentKey (at most 255 characters, under the
// alias limit of 512), so the close finds the alert after a restart and a
// repeated create only bumps the open alert's count.
//
// Opsgenie answers 202 {"result","took","requestId"} to valid requests
// and processes them asynchronously, so a 202 does not prove the alert
// exists (closing an unknown alias is also a 202). Errors answer
// {"message","took","requestId"}, with "errors" on a 422 (the response
// page, https://docs.opsgenie.com/docs/response); 400, 401, 403 and 422
// are permanent, 429 and 5xx retryable. The key travels as
// "Authorization: GenieKey <key>" and never appears in errors or logs.
type opsgenie struct {
	alertsURL string
	apiKey    string
	cfg       *Config
	publish.HTTPTarget
}

// opsgenieAlert is the body of Create Alert.
type opsgenieAlert struct {
	Message     string              `json:"message"`
	Alias       string              `json:"alias"`
	Description string              `json:"description,omitempty"`
	Responders  []opsgenieResponder `json:"responders,omitempty"`
	VisibleTo   []opsgenieResponder `json:"visibleTo,omitempty"`
	Tags        []string            `json:"tags,omitempty"`
	Details     map[string]string   `json:"details,omitempty"`
	Entity      string              `json:"entity,omitempty"`
	Source      string              `json:"source"`
	Priority    string              `json:"priority"`
}

type opsgenieResponder struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
}

// opsgenieClose is the body of Close Alert.
type opsgenieClose struct {
	Source string `json:"source"`
	Note   string `json:"note,omitempty"`
}

// opsgeniePriority is the default mapping of am-fanout severities; an
// alert without one gets Opsgenie's own default, P3.
var opsgeniePriority = map[core.Severity]string{
	core.SeverityCritical: "P1",
	core.SeverityWarning:  "P3",
	core.SeverityInfo:     "P5",
}

func newOpsgenie(name string, s *Config, o publish.Options) (*opsgenie, error) {
	h, err := publish.NewHTTPTarget(name, s.HTTPConfig, s.Templates, o)
	if err != nil {
		return nil, err
	}
	return &opsgenie{
		alertsURL: strings.TrimRight(s.URL, "/") + "/v2/alerts",
		apiKey:    string(s.APIKey), cfg: s, HTTPTarget: h,
	}, nil
}

// Publish sends the alert's create or close request once.
func (g *opsgenie) Publish(ctx context.Context, a *core.EnrichedAlert) error {
	_, err := g.SendRendered(ctx, a, g.Render, nil)
	return err
}

// Render builds the one request Publish sends: create for a firing alert,
// close by alias for a resolved one.
func (g *opsgenie) Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error) {
	alias := publish.IncidentKey(a)
	var (
		req *http.Request
		err error
	)
	if a.Alert.Status == core.StatusResolved {
		u := g.alertsURL + "/" + url.PathEscape(alias) + "/close?identifierType=alias"
		req, err = publish.JSONRequest(ctx, http.MethodPost, u, g.closeBody(a), "application/json")
	} else {
		req, err = publish.JSONRequest(ctx, http.MethodPost, g.alertsURL, g.createBody(a, alias), "application/json")
	}
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "GenieKey "+g.apiKey)
	return []*http.Request{req}, nil
}

func (g *opsgenie) createBody(a *core.EnrichedAlert, alias string) *opsgenieAlert {
	msg, cut := publish.TruncateRunes(g.Tmpl.Render("message", a, publish.IncidentHeadline(a)), opsgenieMaxMessage)
	if cut {
		g.Log.Warn("message truncated to Opsgenie's limit", "fingerprint", a.Alert.Fingerprint, "max_chars", opsgenieMaxMessage)
	}
	desc, cut := publish.TruncateRunes(g.Tmpl.Render("description", a, opsgenieDescription(a)), opsgenieMaxDescription)
	if cut {
		g.Log.Warn("description truncated to Opsgenie's limit", "fingerprint", a.Alert.Fingerprint, "max_chars", opsgenieMaxDescription)
	}
	details, trimmed := opsgenieDetails(a)
	if len(trimmed) > 0 {
		g.Log.Warn("details trimmed to fit Opsgenie's limit", "fingerprint", a.Alert.Fingerprint, "details", strings.Join(trimmed, ","))
	}
	return &opsgenieAlert{
		Message: msg, Alias: alias, Description: desc,
		Responders: opsgenieResponders(g.cfg.Responders), VisibleTo: opsgenieResponders(g.cfg.VisibleTo),
		Tags: opsgenieTags(g.cfg.Tags, a.Alert.Labels), Details: details,
		Entity: g.cfg.Entity, Source: opsgenieSource, Priority: g.priority(a.Classification),
	}
}

func (g *opsgenie) closeBody(a *core.EnrichedAlert) *opsgenieClose {
	note := "Resolved in Alertmanager"
	if !a.Alert.EndsAt.IsZero() {
		note += " at " + a.Alert.EndsAt.UTC().Format(time.RFC3339)
	}
	return &opsgenieClose{Source: opsgenieSource, Note: note}
}

// priority is the priority an enrichment rule set, when it is one of
// Opsgenie's, else the severity's mapped priority.
func (g *opsgenie) priority(c core.Classification) string {
	if slices.Contains(OpsgeniePriorities, c.Priority) {
		return c.Priority
	}
	if p, ok := g.cfg.PriorityMap[string(c.Severity)]; ok {
		return p
	}
	if p, ok := opsgeniePriority[c.Severity]; ok {
		return p
	}
	return "P3"
}

func opsgenieResponders(rs []OpsgenieResponder) []opsgenieResponder {
	out := make([]opsgenieResponder, 0, len(rs))
	for _, r := range rs {
		out = append(out, opsgenieResponder(r))
	}
	return out
}

// opsgenieTags are the configured tags, then one "name:value" tag per
// label in name order, each cut to 50 characters. Past 20 tags the last
// one says how many were left out.
func opsgenieTags(static []string, labels map[string]string) []string {
	tags := slices.Clone(static)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		t, _ := publish.TruncateRunes(k+":"+labels[k], OpsgenieMaxTagLen)
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	if len(tags) > OpsgenieMaxTags {
		kept := OpsgenieMaxTags - 1
		tags = append(tags[:kept], fmt.Sprintf("+%d more", len(tags)-kept))
	}
	return tags
}

// opsgenieDescription is the default description: the alert's text, its
// labels, its other annotations and its links in enrichment order, as
// plain text.
func opsgenieDescription(a *core.EnrichedAlert) string {
	var b strings.Builder
	text := a.Alert.Annotations["description"]
	if text == "" {
		text = a.Summary()
	}
	fmt.Fprintf(&b, "%s\n", text)
	section := func(title string, m map[string]string, skip string) {
		keys := slices.DeleteFunc(slices.Sorted(maps.Keys(m)), func(k string) bool { return k == skip })
		if len(keys) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s:\n", title)
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: %s\n", k, m[k])
		}
	}
	section("Labels", a.Alert.Labels, "")
	section("Annotations", a.Alert.Annotations, "description")
	for i, l := range slices.DeleteFunc(slices.Clone(a.Links), func(l core.Link) bool { return l.URL == "" }) {
		if i == 0 {
			b.WriteString("\nLinks:\n")
		}
		fmt.Fprintf(&b, "- %s: %s\n", publish.IncidentLinkText(l.Name), l.URL)
	}
	if !a.Alert.StartsAt.IsZero() {
		fmt.Fprintf(&b, "\nStarted: %s\n", a.Alert.StartsAt.UTC().Format(time.RFC3339))
	}
	return strings.TrimSpace(b.String())
}

// opsgenieDetails are the alert's labels and annotations (an annotation
// named like a label is keyed "annotation:<name>"). Until keys and values
// total at most 8000 characters, the biggest values are cut first, down
// to a common length (see publish.CutLevel), and named under am_fanout_trimmed;
// if keys alone are too many, the last ones by name are dropped. It
// returns the names of the cut values.
func opsgenieDetails(a *core.EnrichedAlert) (map[string]string, []string) {
	d := maps.Clone(a.Alert.Labels)
	if d == nil {
		d = map[string]string{}
	}
	for k, v := range a.Alert.Annotations {
		if _, clash := d[k]; clash {
			k = "annotation:" + k
		}
		d[k] = v
	}
	var trimmed []string
	for {
		excess := opsgenieDetailsLen(d) - opsgenieMaxDetails
		if excess <= 0 {
			return d, trimmed
		}
		cut := opsgenieCut(d, excess)
		if len(cut) == 0 {
			keys := slices.Sorted(maps.Keys(d))
			delete(d, keys[len(keys)-1])
			continue
		}
		for _, k := range cut {
			if !slices.Contains(trimmed, k) {
				trimmed = append(trimmed, k)
			}
		}
		slices.Sort(trimmed)
		d[opsgenieTrimmedKey] = strings.Join(trimmed, ",")
	}
}

// opsgenieCut cuts the values longer than the level that frees excess
// characters, never the trimmed list itself, and returns their keys.
func opsgenieCut(d map[string]string, excess int) []string {
	lens := make([]int, 0, len(d))
	for k, v := range d {
		if k != opsgenieTrimmedKey {
			lens = append(lens, utf8.RuneCountInString(v))
		}
	}
	level := publish.CutLevel(lens, excess, utf8.RuneCountInString(publish.Ellipsis))
	var cut []string
	for k, v := range d {
		if k != opsgenieTrimmedKey && utf8.RuneCountInString(v) > level {
			d[k], _ = publish.TruncateRunes(v, level)
			cut = append(cut, k)
		}
	}
	return cut
}

func opsgenieDetailsLen(d map[string]string) int {
	n := 0
	for k, v := range d {
		n += utf8.RuneCountInString(k) + utf8.RuneCountInString(v)
	}
	return n
}
