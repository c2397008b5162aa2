package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// webhook posts each alert to a generic HTTP endpoint, either as
// Alertmanager's webhook payload, version 4, holding this one alert
// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config),
// or as the EnrichedAlert JSON; with group_by: notification it posts each
// notification, as Alertmanager's payload or the core.Notification JSON. Any 2xx is success; 408, 429 and 5xx are
// retryable, other statuses permanent, as Alertmanager treats webhooks.
// Every request carries the Standard Webhooks headers, signed when the
// target has signing secrets.
type webhook struct {
	name string
	// url may hold a token: it never appears in errors or logs.
	url    string
	format string
	// memoKind names the body in the alert's render memo.
	memoKind string
	signer   signer
	// now is the clock of webhook-timestamp, the attempt's time.
	now func() time.Time
	publish.HTTPTarget
}

func newWebhook(name string, s *Config, o publish.Options) (*webhook, error) {
	sg, err := newSigner(s.SigningSecrets)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", name, err)
	}
	h, err := publish.NewHTTPTarget(name, s.HTTPConfig, nil, o)
	if err != nil {
		return nil, err
	}
	return &webhook{name: name, url: string(s.URL), format: s.Format, memoKind: "webhook\x00" + s.Format, signer: sg, now: time.Now, HTTPTarget: h}, nil
}

// Publish posts the alert once.
func (w *webhook) Publish(ctx context.Context, a *core.EnrichedAlert) error {
	_, err := w.SendRendered(ctx, a, w.Render, nil)
	return err
}

// Render builds the one POST request Publish sends, signed at the time
// it is built.
func (w *webhook) Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error) {
	// The body depends on the alert and the format only: the webhooks
	// an alert fans out to with one format share it (core.RenderMemo).
	body, err := core.RenderMemoFrom(ctx).Body(w.memoKind, func() ([]byte, error) {
		if w.format == FormatAlertmanager {
			return publish.AppendAlertmanagerMessage(make([]byte, 0, 1024), a), nil
		}
		return a.AppendJSON(make([]byte, 0, 1024)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("encoding body: %w", err)
	}
	return w.request(ctx, body, messageID(w.name, a))
}

// PublishGroup posts the notification once (group_by: notification).
func (w *webhook) PublishGroup(ctx context.Context, n *core.Notification) error {
	reqs, err := w.RenderGroup(ctx, n)
	if err != nil {
		return err
	}
	_, err = publish.Send(w.Client, reqs[0], nil)
	return err
}

// RenderGroup builds the one POST request PublishGroup sends: the
// notification as Alertmanager sent it (format alertmanager: every alert
// the target selects, groupKey, truncatedAlerts) or as the
// core.Notification JSON (format enriched), signed at the time it is
// built.
func (w *webhook) RenderGroup(ctx context.Context, n *core.Notification) ([]*http.Request, error) {
	var msg any = n
	if w.format == FormatAlertmanager {
		msg = publish.AlertmanagerNotification(n)
	}
	return w.post(ctx, msg, groupMessageID(w.name, n))
}

// post builds the POST of msg with the Standard Webhooks headers, id its
// webhook-id.
func (w *webhook) post(ctx context.Context, msg any, id string) ([]*http.Request, error) {
	// Encoded here rather than by JSONRequest: the signature covers the
	// exact bytes sent.
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encoding body: %w", err)
	}
	return w.request(ctx, body, id)
}

// request builds the signed POST of body, id its webhook-id.
func (w *webhook) request(ctx context.Context, body []byte, id string) ([]*http.Request, error) {
	req, err := publish.BodyRequest(ctx, http.MethodPost, w.url, body, "application/json")
	if err != nil {
		return nil, err
	}
	w.signer.sign(req, id, w.now().Unix(), body)
	return []*http.Request{req}, nil
}
