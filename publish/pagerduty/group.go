package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// A group delivery (group_by: notification) sends one event per
// notification, as Alertmanager's PagerDuty integration does: dedup_key
// is publish.GroupKeyHash of the group key, exactly Alertmanager's, so
// either of them resolves what the other triggered; the event triggers
// while any alert fires and resolves once all are resolved.

// groupDetails is custom_details of a group's trigger: the group's
// context and its alerts, most urgent first, as many as fit the event
// size limit. NumFiring and NumResolved count them all; Omitted says how
// many were left out to fit, TruncatedAlerts how many Alertmanager left
// out of the notification.
type groupDetails struct {
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver,omitempty"`
	GroupKey          string            `json:"group_key"`
	GroupLabels       map[string]string `json:"group_labels,omitempty"`
	CommonLabels      map[string]string `json:"common_labels,omitempty"`
	CommonAnnotations map[string]string `json:"common_annotations,omitempty"`
	NumFiring         int               `json:"num_firing"`
	NumResolved       int               `json:"num_resolved"`
	Firing            []groupAlert      `json:"firing,omitempty"`
	Resolved          []groupAlert      `json:"resolved,omitempty"`
	Omitted           string            `json:"omitted,omitempty"`
	TruncatedAlerts   uint64            `json:"truncated_alerts,omitempty"`
	Trimmed           []string          `json:"trimmed,omitempty"`
	Note              string            `json:"note,omitempty"`
}

// groupAlert is one alert of custom_details.firing or .resolved.
type groupAlert struct {
	Fingerprint  string            `json:"fingerprint"`
	Severity     string            `json:"severity,omitempty"`
	Priority     string            `json:"priority,omitempty"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"starts_at,omitempty"`
	EndsAt       string            `json:"ends_at,omitempty"`
	GeneratorURL string            `json:"generator_url,omitempty"`
}

// PublishGroup sends the notification's event once.
func (p *pagerDuty) PublishGroup(ctx context.Context, n *core.Notification) error {
	reqs, err := p.RenderGroup(ctx, n)
	if err != nil {
		return err
	}
	_, err = publish.Send(p.Client, reqs[0], nil)
	return err
}

// RenderGroup builds the one POST request PublishGroup sends.
func (p *pagerDuty) RenderGroup(ctx context.Context, n *core.Notification) ([]*http.Request, error) {
	key, err := publish.GroupIncidentKey(n)
	if err != nil {
		return nil, err
	}
	rk, err := p.routingKey.forGroup(n)
	if err != nil {
		return nil, err
	}
	ev := &pagerDutyEvent{RoutingKey: rk, EventAction: "resolve", DedupKey: key}
	body, err := json.Marshal(ev)
	if n.Status() != core.StatusResolved {
		body, err = p.fitGroup(ev, p.groupTrigger(ev, n), n)
	}
	if err != nil {
		return nil, fmt.Errorf("encoding event: %w", err)
	}
	return publish.OneRequest(publish.BodyRequest(ctx, http.MethodPost, p.url, body, "application/json"))
}

// groupTrigger makes ev the trigger of the firing notification and
// returns its custom details, with every alert.
func (p *pagerDuty) groupTrigger(ev *pagerDutyEvent, n *core.Notification) *groupDetails {
	summary, cut := publish.TruncateRunes(p.Tmpl.RenderGroup("summary", n, publish.GroupSubject(n)), pagerDutyMaxSummary)
	if cut {
		p.Log.Warn("summary truncated to PagerDuty's limit", "group_key", n.Group.GroupKey, "max_chars", pagerDutyMaxSummary)
	}
	common, worst := n.Group.CommonLabels, publish.MostUrgent(n)
	d := &groupDetails{
		Status: string(n.Status()), Receiver: n.Group.Receiver, GroupKey: n.Group.GroupKey,
		GroupLabels: maps.Clone(n.Group.GroupLabels), CommonLabels: maps.Clone(common),
		CommonAnnotations: maps.Clone(n.Group.CommonAnnotations),
		NumFiring:         len(n.Firing()), NumResolved: len(n.Resolved()), TruncatedAlerts: n.Group.TruncatedAlerts,
	}
	ev.EventAction = "trigger"
	ev.Payload = &pagerDutyPayload{
		Summary:   summary,
		Source:    p.Tmpl.RenderGroup("source", n, groupSource(n)),
		Severity:  p.severity(worst.Classification.Severity),
		Timestamp: firstStart(n),
		Component: common[p.cfg.ComponentLabel], Group: common[p.cfg.GroupLabel], Class: common[p.cfg.ClassLabel],
	}
	ev.Client, ev.ClientURL = p.cfg.Client, p.cfg.ClientURL
	if ev.ClientURL == "" {
		ev.ClientURL = n.Group.ExternalURL
	}
	for _, l := range worst.Links {
		if l.URL != "" {
			ev.Links = append(ev.Links, pagerDutyLink{Href: l.URL, Text: publish.IncidentLinkText(l.Name)})
		}
	}
	for _, img := range p.cfg.Images {
		ev.Images = append(ev.Images, pagerDutyImage(img))
	}
	return d
}

// groupEvent is a trigger whose custom_details are a group's: its
// Payload and CustomDetails hide the embedded ones when encoded.
type groupEvent struct {
	*pagerDutyEvent
	Payload *groupPayload `json:"payload"`
}

type groupPayload struct {
	*pagerDutyPayload
	CustomDetails *groupDetails `json:"custom_details"`
}

// fitGroup encodes the trigger with as many alerts, most urgent first, as
// fit PagerDuty's event size limit, saying in custom_details.omitted how
// many were left out. When not even one fits, the one kept has its
// longest values cut as a single alert's event does, and if that is not
// enough custom_details becomes a note.
func (p *pagerDuty) fitGroup(ev *pagerDutyEvent, d *groupDetails, n *core.Notification) ([]byte, error) {
	alerts := publish.UrgentFirst(n)
	ge := &groupEvent{pagerDutyEvent: ev, Payload: &groupPayload{pagerDutyPayload: ev.Payload, CustomDetails: d}}
	encode := func(k int) ([]byte, error) {
		d.keep(alerts, k)
		return json.Marshal(ge)
	}
	b, err := encode(len(alerts))
	if err != nil || len(b) <= pagerDutyMaxEvent {
		return b, err
	}
	lo, hi := 0, len(alerts)-1 // the most alerts that fit, 0 if none does
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if b, err = encode(mid); err != nil {
			return nil, err
		}
		if len(b) <= pagerDutyMaxEvent {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	p.Log.Warn("alerts left out of custom details to fit PagerDuty's event size limit", "group_key", n.Group.GroupKey, "kept", lo, "alerts", len(alerts))
	if lo > 0 {
		return encode(lo)
	}
	if b, err = encode(min(1, len(alerts))); err != nil {
		return nil, err
	}
	for excess := len(b) - pagerDutyMaxEvent; excess > 0; excess = len(b) - pagerDutyMaxEvent {
		cut := d.cutTo(publish.CutLevel(d.valueLens(), excess, len(publish.Ellipsis)))
		if len(cut) == 0 {
			ge.Payload.CustomDetails = &groupDetails{
				Status: d.Status, GroupKey: d.GroupKey, NumFiring: d.NumFiring, NumResolved: d.NumResolved,
				Note: fmt.Sprintf("custom details removed: the event exceeded PagerDuty's %d-byte limit", pagerDutyMaxEvent),
			}
			p.Log.Warn("custom details removed to fit PagerDuty's event size limit", "group_key", n.Group.GroupKey)
			return json.Marshal(ge)
		}
		d.Trimmed = slices.Compact(slices.Sorted(slices.Values(append(d.Trimmed, cut...))))
		p.Log.Warn("custom details trimmed to fit PagerDuty's event size limit", "group_key", n.Group.GroupKey, "trimmed", strings.Join(cut, ","))
		if b, err = json.Marshal(ge); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// keep puts the first k of alerts into the firing and resolved lists and
// says how many were left out.
func (d *groupDetails) keep(alerts []*core.EnrichedAlert, k int) {
	d.Firing, d.Resolved, d.Omitted = nil, nil, ""
	for _, a := range alerts[:k] {
		ga := groupAlert{
			Fingerprint: a.Alert.Fingerprint, Severity: string(a.Classification.Severity), Priority: a.Classification.Priority,
			Labels: maps.Clone(a.Alert.Labels), Annotations: maps.Clone(a.Alert.Annotations),
			StartsAt: rfc3339(a.Alert.StartsAt), EndsAt: rfc3339(a.Alert.EndsAt), GeneratorURL: a.Alert.GeneratorURL,
		}
		if a.Alert.Status == core.StatusResolved {
			d.Resolved = append(d.Resolved, ga)
		} else {
			d.Firing = append(d.Firing, ga)
		}
	}
	if left := len(alerts) - k; left > 0 {
		d.Omitted = fmt.Sprintf("and %d more (%d firing, %d resolved) left out to fit PagerDuty's %d-byte event limit",
			left, d.NumFiring-len(d.Firing), d.NumResolved-len(d.Resolved), pagerDutyMaxEvent)
	}
}

// valueMaps are the label and annotation maps of the details, by the
// qualified name their values are reported under.
func (d *groupDetails) valueMaps() map[string]map[string]string {
	out := map[string]map[string]string{"common_annotations.": d.CommonAnnotations, "common_labels.": d.CommonLabels, "group_labels.": d.GroupLabels}
	for name, list := range map[string][]groupAlert{"firing": d.Firing, "resolved": d.Resolved} {
		for i, a := range list {
			out[fmt.Sprintf("%s[%d].annotations.", name, i)] = a.Annotations
			out[fmt.Sprintf("%s[%d].labels.", name, i)] = a.Labels
		}
	}
	return out
}

func (d *groupDetails) valueLens() []int {
	var lens []int
	for _, m := range d.valueMaps() {
		for _, v := range m {
			lens = append(lens, len(v))
		}
	}
	return lens
}

// cutTo cuts every value longer than level and returns their qualified
// names, sorted.
func (d *groupDetails) cutTo(level int) []string { return cutValues(d.valueMaps(), level) }

// groupSource is the default payload.source of a group: the common
// instance label, else the host of the Alertmanager, else "am-fanout".
func groupSource(n *core.Notification) string {
	return source(n.Group.CommonLabels["instance"], n.Group.ExternalURL)
}

// firstStart is the start of the notification's oldest firing alert.
func firstStart(n *core.Notification) string {
	var first time.Time
	for _, a := range n.Firing() {
		if s := a.Alert.StartsAt; !s.IsZero() && (first.IsZero() || s.Before(first)) {
			first = s
		}
	}
	return rfc3339(first)
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
