package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	amtemplate "github.com/prometheus/alertmanager/template"

	"github.com/am-fanout/am-fanout/core"
)

// AlertmanagerNotification is the v4 payload Alertmanager sent for the
// notification, with the alerts the target selects: what a webhook with
// group_by: notification forwards, and the data of group templates.
func AlertmanagerNotification(n *core.Notification) *AlertmanagerPayload {
	alerts := make(amtemplate.Alerts, len(n.Alerts))
	for i := range n.Alerts {
		a := &n.Alerts[i].Alert
		alerts[i] = amtemplate.Alert{
			Status: string(a.Status), Labels: KV(a.Labels), Annotations: KV(a.Annotations),
			StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint,
		}
	}
	return &AlertmanagerPayload{
		Data: &amtemplate.Data{
			Receiver: n.Group.Receiver, Status: string(n.Status()), Alerts: alerts,
			GroupLabels: KV(n.Group.GroupLabels), CommonLabels: KV(n.Group.CommonLabels),
			CommonAnnotations: KV(n.Group.CommonAnnotations), ExternalURL: n.Group.ExternalURL,
		},
		Version: "4", GroupKey: n.Group.GroupKey, TruncatedAlerts: n.Group.TruncatedAlerts,
	}
}

// GroupKeyHash is the hex SHA-256 of a group key: the dedup key
// Alertmanager's PagerDuty integration and the alias its Opsgenie
// integration derive from a notification's group key, so incidents
// opened by Alertmanager are closed by am-fanout during a migration.
func GroupKeyHash(groupKey string) string {
	sum := sha256.Sum256([]byte(groupKey))
	return hex.EncodeToString(sum[:])
}

// RenderGroup executes the field's template over the notification as
// Alertmanager's template.Data (.Alerts, .CommonLabels, .GroupLabels,
// .ExternalURL, ...), so a user's Alertmanager templates work unchanged;
// Alertmanager's default templates ("slack.default.title", ...) can be
// called by name. Fallbacks and failures are handled as Render does.
func (tt *TextTemplates) RenderGroup(field string, n *core.Notification, fallback string) string {
	if tt == nil {
		return fallback
	}
	src, ok := tt.sources[field]
	if !ok {
		return fallback
	}
	got, err := tt.defaults.ExecuteTextString(src, AlertmanagerNotification(n).Data)
	if err != nil {
		tt.failed(field, err)
		return fallback
	}
	out := strings.TrimSpace(got)
	if out == "" {
		return fallback
	}
	return out
}
