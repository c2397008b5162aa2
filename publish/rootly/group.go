package rootly

import (
	"context"
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

// A group delivery (group_by: notification) makes one Rootly alert of a
// notification. Mode "alertmanager" posts the notification as
// Alertmanager sent it, and Rootly groups and resolves it itself. Mode
// "alerts_api" creates one alert per group, its id kept in the target's
// State under the group key's hash; while that alert is open, later
// notifications of the group send nothing (Rootly has no "repeat" of an
// alert to count), and once every alert is resolved it is resolved by
// that id and forgotten, so the group's next firing creates a new one.

// groupIDKey is the State key of the id of the group's Rootly alert:
// apart from the per-alert keys, which are fingerprint@start.
func groupIDKey(incident string) string { return "group:" + incident }

// PublishGroup sends the notification; in alerts_api mode it keeps the
// id of the group's alert while it is open and forgets it once resolved.
func (r *rootly) PublishGroup(ctx context.Context, n *core.Notification) error {
	reqs, err := r.RenderGroup(ctx, n)
	if err != nil || len(reqs) == 0 {
		return err
	}
	if r.ids == nil {
		_, err := publish.Send(r.Client, reqs[0], nil)
		return err
	}
	key := groupIDKey(publish.GroupKeyHash(n.Group.GroupKey))
	if n.Status() != core.StatusResolved {
		return r.createAndKeep(ctx, reqs[0], key)
	}
	if _, err := publish.Send(r.Client, reqs[0], nil); err != nil {
		return err
	}
	if err := r.ids.Delete(ctx, key); err != nil {
		r.Log.Warn("could not forget the resolved Rootly alert id", "group_key", n.Group.GroupKey, "err", err)
	}
	return nil
}

// RenderGroup builds the request PublishGroup sends: the notification as
// Alertmanager's payload (mode alertmanager); the create of the group's
// alert, none while it is open, or its resolve (mode alerts_api).
func (r *rootly) RenderGroup(ctx context.Context, n *core.Notification) ([]*http.Request, error) {
	if r.spec.Mode != RootlyModeAlertsAPI {
		return publish.OneRequest(r.sourceRequest(ctx, publish.AlertmanagerNotification(n)))
	}
	incident, err := publish.GroupIncidentKey(n)
	if err != nil {
		return nil, err
	}
	key := groupIDKey(incident)
	var req *http.Request
	if n.Status() == core.StatusResolved {
		req, err = r.resolveByKey(ctx, key, lastEnd(n), func() error {
			return fmt.Errorf("no Rootly alert id is known for group %s (its firing was not delivered by this target, or the id expired): resolve it in Rootly", n.Group.GroupKey)
		})
	} else {
		_, open, getErr := r.ids.Get(ctx, key)
		if getErr != nil {
			return nil, core.Permanent(0, getErr)
		}
		if open {
			return nil, nil
		}
		req, err = publish.JSONRequest(ctx, http.MethodPost, r.spec.APIURL+"/v1/alerts", r.newGroupAlert(n, incident), jsonAPIType)
	}
	if err != nil {
		return nil, err
	}
	r.setAPIHeaders(req)
	return []*http.Request{req}, nil
}

// sourceRequest is the POST of an Alertmanager payload to the alert
// source, with its bearer secret.
func (r *rootly) sourceRequest(ctx context.Context, msg *publish.AlertmanagerPayload) (*http.Request, error) {
	req, err := publish.JSONRequest(ctx, http.MethodPost, string(r.spec.URL), msg, "application/json")
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+string(r.spec.Secret))
	return req, nil
}

// newGroupAlert is the new_alert of a notification: Alertmanager's
// subject as summary, the common labels as labels, the group key's hash
// as external id and deduplication key, and the alerts in data.
func (r *rootly) newGroupAlert(n *core.Notification, incident string) jsonAPIDocument {
	common := n.Group.CommonLabels
	labels := make([]rootlyLabel, 0, len(common))
	for _, k := range slices.Sorted(maps.Keys(common)) {
		labels = append(labels, rootlyLabel{Key: k, Value: common[k]})
	}
	worst := publish.MostUrgent(n)
	data := map[string]any{
		"group_key":          n.Group.GroupKey,
		"receiver":           n.Group.Receiver,
		"group_labels":       publish.KV(n.Group.GroupLabels),
		"common_annotations": publish.KV(n.Group.CommonAnnotations),
		"severity":           worst.Classification.Severity,
		"num_firing":         len(n.Firing()),
		"num_resolved":       len(n.Resolved()),
		"alerts":             publish.AlertmanagerNotification(n).Alerts,
	}
	if worst.Classification.Priority != "" {
		data["priority"] = worst.Classification.Priority
	}
	if n.Group.TruncatedAlerts > 0 {
		data["truncated_alerts"] = n.Group.TruncatedAlerts
	}
	return jsonAPIDocument{Data: jsonAPIResource{Type: "alerts", Attributes: rootlyNewAlert{
		Source:                 "alertmanager",
		Summary:                r.Tmpl.RenderGroup("summary", n, publish.GroupSubject(n)),
		Description:            r.Tmpl.RenderGroup("description", n, rootlyGroupDescription(n)),
		StartedAt:              firstStart(n),
		ExternalID:             incident,
		ExternalURL:            alertmanagerAlertsURL(n.Group),
		DeduplicationKey:       incident,
		NotificationTargetType: r.spec.NotificationTargetType,
		NotificationTargetID:   r.spec.NotificationTargetID,
		Labels:                 labels,
		Data:                   data,
	}}}
}

// rootlyGroupDescription holds the common description, the severity of
// the most urgent alert, one line per alert, most urgent first, and the
// links of the most urgent alert.
func rootlyGroupDescription(n *core.Notification) string {
	var b strings.Builder
	if d := n.Group.CommonAnnotations["description"]; d != "" {
		b.WriteString(d + "\n\n")
	}
	worst := publish.MostUrgent(n)
	fmt.Fprintf(&b, "Severity: %s\n", worst.Classification.Severity)
	for _, a := range publish.UrgentFirst(n) {
		fmt.Fprintf(&b, "\n[%s] %s", strings.ToUpper(string(a.Alert.Status)), publish.IncidentHeadline(a))
		if v := a.Alert.Labels["instance"]; v != "" {
			fmt.Fprintf(&b, " (%s)", v)
		}
	}
	for i, l := range worst.Links {
		if i == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\n%s: %s", publish.TitleOfLink(l.Name), l.URL)
	}
	return b.String()
}

// alertmanagerAlertsURL is Alertmanager's page of the receiver's alerts,
// as its templates link it; "" without an external URL.
func alertmanagerAlertsURL(g core.Group) string {
	if g.ExternalURL == "" {
		return ""
	}
	return g.ExternalURL + "/#/alerts?receiver=" + url.QueryEscape(g.Receiver)
}

// firstStart is the start of the oldest firing alert.
func firstStart(n *core.Notification) time.Time {
	var first time.Time
	for _, a := range n.Firing() {
		if s := a.Alert.StartsAt; !s.IsZero() && (first.IsZero() || s.Before(first)) {
			first = s
		}
	}
	return first.UTC()
}

// lastEnd is the end of the last resolved alert.
func lastEnd(n *core.Notification) time.Time {
	var last time.Time
	for _, a := range n.Resolved() {
		if a.Alert.EndsAt.After(last) {
			last = a.Alert.EndsAt
		}
	}
	return last
}
