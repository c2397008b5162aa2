package webhook

import (
	"context"
	"net/http"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// webhook posts each alert to a generic HTTP endpoint, either as
// Alertmanager's webhook payload, version 4, holding this one alert
// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config),
// or as the EnrichedAlert JSON. Any 2xx is success; 408, 429 and 5xx are
// retryable, other statuses permanent, as Alertmanager treats webhooks.
type webhook struct {
	// url may hold a token: it never appears in errors or logs.
	url    string
	format string
	publish.HTTPTarget
}

func newWebhook(name string, s *Config, o publish.Options) (*webhook, error) {
	h, err := publish.NewHTTPTarget(name, s.HTTPConfig, nil, o)
	if err != nil {
		return nil, err
	}
	return &webhook{url: string(s.URL), format: s.Format, HTTPTarget: h}, nil
}

// Publish posts the alert once.
func (w *webhook) Publish(ctx context.Context, a *core.EnrichedAlert) error {
	_, err := w.SendRendered(ctx, a, w.Render, nil)
	return err
}

// Render builds the one POST request Publish sends.
func (w *webhook) Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error) {
	var body any = a
	if w.format == FormatAlertmanager {
		body = publish.AlertmanagerMessage(a)
	}
	return publish.OneRequest(publish.JSONRequest(ctx, http.MethodPost, w.url, body, "application/json"))
}
