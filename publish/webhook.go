package publish

import (
	"context"
	"maps"
	"net/http"

	amtemplate "github.com/prometheus/alertmanager/template"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
)

// webhook posts each alert to a generic HTTP endpoint, either as
// Alertmanager's webhook payload, version 4, holding this one alert
// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config),
// or as the EnrichedAlert JSON. Any 2xx is success; 429 and 5xx are
// retryable, other statuses permanent, as Alertmanager treats webhooks.
type webhook struct {
	// url may hold a token: it never appears in errors or logs.
	url    string
	format string
	httpTarget
}

// webhookMessage is the body Alertmanager's notify/webhook sends (its
// Message type), rebuilt here so as not to import notify/.
type webhookMessage struct {
	*amtemplate.Data

	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

func newWebhook(name string, s *config.Webhook, o Options) (*webhook, error) {
	h, err := newHTTPTarget(name, s.HTTPConfig, nil, o)
	if err != nil {
		return nil, err
	}
	return &webhook{url: string(s.URL), format: s.Format, httpTarget: h}, nil
}

// Publish posts the alert once.
func (w *webhook) Publish(ctx context.Context, a *core.EnrichedAlert) error {
	_, err := w.sendRendered(ctx, a, w.Render, nil)
	return err
}

// Render builds the one POST request Publish sends.
func (w *webhook) Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error) {
	var body any = a
	if w.format == config.FormatAlertmanager {
		body = alertmanagerMessage(a)
	}
	return oneRequest(jsonRequest(ctx, http.MethodPost, w.url, body, "application/json"))
}

// alertmanagerMessage is the v4 payload Alertmanager would send for a
// group holding only this alert: status, common labels and common
// annotations are computed over the alerts of the message, as Alertmanager
// does, so they are this alert's own. Group labels, group key, receiver
// and external URL come from the notification the alert arrived in.
// Nothing was cut from this message, so truncatedAlerts is 0.
func alertmanagerMessage(a *core.EnrichedAlert) *webhookMessage {
	return &webhookMessage{
		Data: &amtemplate.Data{
			Receiver: a.Group.Receiver,
			Status:   string(a.Alert.Status),
			Alerts: amtemplate.Alerts{{
				Status:       string(a.Alert.Status),
				Labels:       kv(a.Alert.Labels),
				Annotations:  kv(a.Alert.Annotations),
				StartsAt:     a.Alert.StartsAt,
				EndsAt:       a.Alert.EndsAt,
				GeneratorURL: a.Alert.GeneratorURL,
				Fingerprint:  a.Alert.Fingerprint,
			}},
			GroupLabels:       kv(a.Group.GroupLabels),
			CommonLabels:      kv(a.Alert.Labels),
			CommonAnnotations: kv(a.Alert.Annotations),
			ExternalURL:       a.Group.ExternalURL,
		},
		Version:  "4",
		GroupKey: a.Group.GroupKey,
	}
}

// kv copies a map into Alertmanager's KV, never nil, so an empty map is
// sent as {} like Alertmanager does, not null.
func kv(m map[string]string) amtemplate.KV {
	out := make(amtemplate.KV, len(m))
	maps.Copy(out, m)
	return out
}
