package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// Limits of PagerDuty's Events API v2, from "Send an Alert Event"
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/) and
// the API overview (https://developer.pagerduty.com/docs/events-api-v2/overview/).
const (
	pagerDutyMaxSummary  = 1024 // characters of payload.summary
	pagerDutyMaxDedupKey = 255  // characters of dedup_key
	// pagerDutyMaxEvent is the documented 512 KB body limit, counted as
	// 512,000 bytes to stay under it whichever "KB" PagerDuty means.
	pagerDutyMaxEvent = 512000
)

// pagerDuty sends alerts to PagerDuty's Events API v2 (POST /v2/enqueue,
// https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): a
// "trigger" event when an alert fires, a "resolve" event when it resolves.
// Both carry a dedup_key derived from the alert alone (publish.IncidentKey),
// so a resolve finds its incident after a restart without stored state.
// 202 is success; 400 is permanent, 408, 429 and 5xx retryable, as the API
// overview documents. The routing key travels in the body, so it never
// appears in an error (the API's error answers do not repeat it).
//
// Where the docs differ from what one might expect: a 400 answers
// {"status":"invalid event","message":"Event object is invalid",
// "errors":[...]}; a 429 is documented as "Request Limit Exceeded" without
// a Retry-After, which is honoured when present; the body limit is
// "512 KB", counted here as 512,000 bytes; images must be served over
// HTTPS; dedup_key is optional on trigger but is the only way a resolve
// finds its alert, so it is always sent.
type pagerDuty struct {
	url        string
	routingKey routingKey
	cfg        *Config
	publish.HTTPTarget
}

// pagerDutyEvent is an Events API v2 alert event.
type pagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *pagerDutyPayload `json:"payload,omitempty"`
	Client      string            `json:"client,omitempty"`
	ClientURL   string            `json:"client_url,omitempty"`
	Links       []pagerDutyLink   `json:"links,omitempty"`
	Images      []pagerDutyImage  `json:"images,omitempty"`
}

type pagerDutyPayload struct {
	Summary       string            `json:"summary"`
	Source        string            `json:"source"`
	Severity      string            `json:"severity"`
	Timestamp     string            `json:"timestamp,omitempty"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	Class         string            `json:"class,omitempty"`
	CustomDetails *pagerDutyDetails `json:"custom_details,omitempty"`
}

// pagerDutyDetails is the custom_details object: the alert's labels and
// annotations and the notification it arrived in. Trimmed names the values
// cut to fit the event size limit; Note says when all were dropped.
type pagerDutyDetails struct {
	Status      string            `json:"status,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Receiver    string            `json:"receiver,omitempty"`
	GroupKey    string            `json:"group_key,omitempty"`
	GroupLabels map[string]string `json:"group_labels,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	Trimmed     []string          `json:"trimmed,omitempty"`
	Note        string            `json:"note,omitempty"`
}

type pagerDutyLink struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

type pagerDutyImage struct {
	Src  string `json:"src"`
	Href string `json:"href,omitempty"`
	Alt  string `json:"alt,omitempty"`
}

// pagerDutySeverity is the default mapping of am-fanout severities;
// anything else (no severity at all) becomes "error", as in Alertmanager.
var pagerDutySeverity = map[core.Severity]string{
	core.SeverityCritical: "critical",
	core.SeverityWarning:  "warning",
	core.SeverityInfo:     "info",
}

func newPagerDuty(name string, s *Config, o publish.Options) (*pagerDuty, error) {
	h, err := publish.NewHTTPTarget(name, s.HTTPConfig, s.Templates, o)
	if err != nil {
		return nil, err
	}
	key, err := parseRoutingKey(string(s.RoutingKey))
	if err != nil {
		return nil, err
	}
	return &pagerDuty{url: s.URL, routingKey: key, cfg: s, HTTPTarget: h}, nil
}

// Publish sends the alert's event once.
func (p *pagerDuty) Publish(ctx context.Context, a *core.EnrichedAlert) error {
	_, err := p.SendRendered(ctx, a, p.Render, nil)
	return err
}

// Render builds the one POST request Publish sends.
func (p *pagerDuty) Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error) {
	rk, err := p.routingKey.forAlert(a)
	if err != nil {
		return nil, err
	}
	ev := &pagerDutyEvent{RoutingKey: rk, EventAction: "resolve", DedupKey: publish.IncidentKey(a)}
	if a.Alert.Status != core.StatusResolved {
		p.fillTrigger(ev, a)
	}
	body, err := p.fit(ev, a)
	if err != nil {
		return nil, err
	}
	return publish.OneRequest(publish.BodyRequest(ctx, http.MethodPost, p.url, body, "application/json"))
}

// fillTrigger makes ev a trigger event describing the firing alert.
func (p *pagerDuty) fillTrigger(ev *pagerDutyEvent, a *core.EnrichedAlert) {
	summary, cut := publish.TruncateRunes(p.Tmpl.Render("summary", a, publish.IncidentHeadline(a)), pagerDutyMaxSummary)
	if cut {
		p.Log.Warn("summary truncated to PagerDuty's limit", "fingerprint", a.Alert.Fingerprint, "max_chars", pagerDutyMaxSummary)
	}
	pl := &pagerDutyPayload{
		Summary:   summary,
		Source:    p.Tmpl.Render("source", a, pagerDutySource(a)),
		Severity:  p.severity(a.Classification.Severity),
		Component: a.Alert.Labels[p.cfg.ComponentLabel],
		Group:     a.Alert.Labels[p.cfg.GroupLabel],
		Class:     a.Alert.Labels[p.cfg.ClassLabel],
		CustomDetails: &pagerDutyDetails{
			Status:      string(a.Alert.Status),
			Labels:      maps.Clone(a.Alert.Labels),
			Annotations: maps.Clone(a.Alert.Annotations),
			Receiver:    a.Group.Receiver,
			GroupKey:    a.Group.GroupKey,
			GroupLabels: maps.Clone(a.Group.GroupLabels),
			Fingerprint: a.Alert.Fingerprint,
		},
	}
	if !a.Alert.StartsAt.IsZero() {
		pl.Timestamp = a.Alert.StartsAt.UTC().Format(time.RFC3339)
	}
	ev.EventAction, ev.Payload = "trigger", pl
	ev.Client, ev.ClientURL = p.cfg.Client, p.cfg.ClientURL
	if ev.ClientURL == "" {
		ev.ClientURL = a.Group.ExternalURL
	}
	for _, l := range a.Links {
		if l.URL != "" {
			ev.Links = append(ev.Links, pagerDutyLink{Href: l.URL, Text: publish.IncidentLinkText(l.Name)})
		}
	}
	for _, img := range p.cfg.Images {
		ev.Images = append(ev.Images, pagerDutyImage(img))
	}
}

func (p *pagerDuty) severity(s core.Severity) string {
	if v, ok := p.cfg.SeverityMap[string(s)]; ok {
		return v
	}
	if v, ok := pagerDutySeverity[s]; ok {
		return v
	}
	return "error"
}

// fit encodes ev, cutting the biggest label and annotation values first
// until the event is under PagerDuty's size limit: every value longer than
// a common level is cut to that level, the highest level that frees
// enough. Each cut value ends in "…" and is named in
// custom_details.trimmed; if cutting every value is not enough,
// custom_details is replaced by a note saying so.
func (p *pagerDuty) fit(ev *pagerDutyEvent, a *core.EnrichedAlert) ([]byte, error) {
	for {
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encoding event: %w", err)
		}
		excess := len(b) - pagerDutyMaxEvent
		if excess <= 0 || ev.Payload == nil || ev.Payload.CustomDetails == nil || ev.Payload.CustomDetails.Note != "" {
			return b, nil // with a note, what is left (links, summary) is bounded elsewhere
		}
		d := ev.Payload.CustomDetails
		cut := d.cutTo(publish.CutLevel(d.valueLens(), excess, len(publish.Ellipsis)))
		if len(cut) == 0 {
			ev.Payload.CustomDetails = &pagerDutyDetails{
				Fingerprint: d.Fingerprint,
				Note:        fmt.Sprintf("custom details removed: the event exceeded PagerDuty's %d-byte limit", pagerDutyMaxEvent),
			}
			p.Log.Warn("custom details removed to fit PagerDuty's event size limit", "fingerprint", a.Alert.Fingerprint)
			continue
		}
		for _, name := range cut {
			if !slices.Contains(d.Trimmed, name) {
				d.Trimmed = append(d.Trimmed, name)
			}
		}
		slices.Sort(d.Trimmed)
		p.Log.Warn("custom details trimmed to fit PagerDuty's event size limit", "fingerprint", a.Alert.Fingerprint, "trimmed", strings.Join(cut, ","))
	}
}

// valueLens are the byte lengths of the label and annotation values.
func (d *pagerDutyDetails) valueLens() []int {
	var lens []int
	for _, m := range []map[string]string{d.Annotations, d.Labels} {
		for _, v := range m {
			lens = append(lens, len(v))
		}
	}
	return lens
}

// cutTo cuts every label and annotation value longer than level and
// returns their qualified names, sorted.
func (d *pagerDutyDetails) cutTo(level int) []string {
	return cutValues(map[string]map[string]string{"annotations.": d.Annotations, "labels.": d.Labels}, level)
}

// cutValues cuts every value of the maps longer than level and returns
// their names, each with its map's prefix, sorted.
func cutValues(maps map[string]map[string]string, level int) []string {
	var cut []string
	for prefix, m := range maps {
		for k, v := range m {
			if len(v) > level {
				m[k], _ = publish.TruncateBytes(v, level)
				cut = append(cut, prefix+k)
			}
		}
	}
	slices.Sort(cut)
	return cut
}

// pagerDutySource is the default payload.source: the instance label, else
// the host of the Alertmanager, else "am-fanout"; PagerDuty requires one.
func pagerDutySource(a *core.EnrichedAlert) string {
	return source(a.Alert.Labels["instance"], a.Group.ExternalURL)
}

// source is the instance, else the host of the Alertmanager's external
// URL, else "am-fanout".
func source(instance, externalURL string) string {
	if instance != "" {
		return instance
	}
	if u, err := url.Parse(externalURL); err == nil && u.Host != "" {
		return u.Host
	}
	return "am-fanout"
}
