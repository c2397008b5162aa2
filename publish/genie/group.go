package genie

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// A group delivery (group_by: notification) makes one alert of a
// notification, as Alertmanager's Opsgenie integration does: its alias is
// publish.GroupKeyHash of the group key, exactly Alertmanager's, so
// either of them closes what the other created; it is created (or its
// count bumped) while any alert fires and closed once all are resolved.

// PublishGroup sends the notification's requests in order and stops at
// the first failure; a retry sends them all again.
func (g *Publisher) PublishGroup(ctx context.Context, n *core.Notification) error {
	d, err := g.groupDelivery(ctx, n)
	if err != nil {
		return err
	}
	return g.deliver(ctx, d)
}

// RenderGroup builds the requests PublishGroup sends: the create (and
// with UpdateAlerts the two updates) while any alert fires, the close by
// alias once all are resolved; with an Updater, as Render.
func (g *Publisher) RenderGroup(ctx context.Context, n *core.Notification) ([]*http.Request, error) {
	d, err := g.groupDelivery(ctx, n)
	if err != nil {
		return nil, err
	}
	return g.rendered(ctx, d)
}

// groupDelivery is what the notification's delivery sends.
func (g *Publisher) groupDelivery(ctx context.Context, n *core.Notification) (delivery, error) {
	alias, err := publish.GroupIncidentKey(n)
	if err != nil {
		return delivery{}, err
	}
	if n.Status() == core.StatusResolved {
		return g.resolved(ctx, alias, g.closeBody(lastEnd(n)))
	}
	return g.firing(ctx, alias, g.groupCreateBody(n, alias))
}

func (g *Publisher) groupCreateBody(n *core.Notification, alias string) *alert {
	msg, cut := publish.TruncateRunes(g.Tmpl.RenderGroup("message", n, publish.GroupSubject(n)), maxMessage)
	if cut {
		g.Log.Warn("message truncated to "+g.api.Vendor+"'s limit", "group_key", n.Group.GroupKey, "max_chars", maxMessage)
	}
	desc, cut := publish.TruncateRunes(g.Tmpl.RenderGroup("description", n, groupDescription(n)), maxDescription)
	if cut {
		g.Log.Warn("description truncated to "+g.api.Vendor+"'s limit", "group_key", n.Group.GroupKey, "max_chars", maxDescription)
	}
	d, trimmed := detailsOf(n.Group.CommonLabels, n.Group.CommonAnnotations)
	if len(trimmed) > 0 {
		g.Log.Warn("details trimmed to fit "+g.api.Vendor+"'s limit", "group_key", n.Group.GroupKey, "details", strings.Join(trimmed, ","))
	}
	return &alert{
		Message: msg, Alias: alias, Description: desc,
		Responders: g.renderResponders("responders", g.responders, responderTypes, publish.AlertmanagerNotification(n).Data),
		VisibleTo:  g.renderResponders("visible_to", g.visibleTo, visibleToTypes, publish.AlertmanagerNotification(n).Data),
		Tags:       tags(g.cfg.Tags, n.Group.CommonLabels), Details: d,
		Entity: g.cfg.Entity, Source: source, Priority: g.priority(publish.MostUrgent(n).Classification),
	}
}

// groupDescription is the default description of a notification: the
// common summary and description, one line per alert under "Firing (F):"
// and "Resolved (R):", most urgent first, then the links of the most
// urgent alert. Alerts that would pass the description limit are left
// out and counted, "… and K more".
func groupDescription(n *core.Notification) string {
	var b strings.Builder
	for _, k := range []string{"summary", "description"} {
		if v := n.Group.CommonAnnotations[k]; v != "" {
			b.WriteString(v + "\n")
		}
	}
	var tail strings.Builder
	for i, l := range slices.DeleteFunc(slices.Clone(publish.MostUrgent(n).Links), func(l core.Link) bool { return l.URL == "" }) {
		if i == 0 {
			tail.WriteString("\nLinks:\n")
		}
		fmt.Fprintf(&tail, "- %s: %s\n", publish.IncidentLinkText(l.Name), l.URL)
	}
	// Room is left for the "… and K more" line.
	budget := maxDescription - utf8.RuneCountInString(b.String()) - utf8.RuneCountInString(tail.String()) - 32
	counts := map[core.AlertStatus]int{core.StatusFiring: len(n.Firing()), core.StatusResolved: len(n.Resolved())}
	titles := map[core.AlertStatus]string{core.StatusFiring: "Firing", core.StatusResolved: "Resolved"}
	alerts := publish.UrgentFirst(n)
	var section core.AlertStatus
	for i, a := range alerts {
		var chunk string
		if a.Alert.Status != section {
			section = a.Alert.Status
			chunk = fmt.Sprintf("\n%s (%d):\n", titles[section], counts[section])
		}
		chunk += alertLine(a, n.Group.CommonLabels) + "\n"
		if budget -= utf8.RuneCountInString(chunk); budget < 0 {
			fmt.Fprintf(&b, "%s and %d more\n", publish.Ellipsis, len(alerts)-i)
			break
		}
		b.WriteString(chunk)
	}
	b.WriteString(tail.String())
	return strings.TrimSpace(b.String())
}

// alertLine describes one alert of a notification on one line.
func alertLine(a *core.EnrichedAlert, common map[string]string) string {
	var own []string
	for _, k := range slices.Sorted(maps.Keys(a.Alert.Labels)) {
		if _, shared := common[k]; !shared {
			own = append(own, k+"="+a.Alert.Labels[k])
		}
	}
	line := "- " + publish.IncidentHeadline(a)
	if len(own) > 0 {
		line += " (" + strings.Join(own, ", ") + ")"
	}
	if !a.Alert.StartsAt.IsZero() {
		line += ", since " + a.Alert.StartsAt.UTC().Format(time.RFC3339)
	}
	if a.Alert.Status == core.StatusResolved && !a.Alert.EndsAt.IsZero() {
		line += ", resolved " + a.Alert.EndsAt.UTC().Format(time.RFC3339)
	}
	return line
}

// lastEnd is the end of the notification's last resolved alert.
func lastEnd(n *core.Notification) time.Time {
	var last time.Time
	for _, a := range n.Resolved() {
		if a.Alert.EndsAt.After(last) {
			last = a.Alert.EndsAt
		}
	}
	return last
}
