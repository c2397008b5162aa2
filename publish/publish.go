// Package publish delivers an enriched alert to one target: one file per
// target type, with the HTTP sending and the classification of its outcome
// written once here.
package publish

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
)

// Publisher delivers one alert to one target. It does not retry: retries
// belong to the caller, which knows about breakers and deadlines.
type Publisher interface {
	Publish(ctx context.Context, a *core.EnrichedAlert) error
}

// Renderer is implemented by publishers that speak HTTP: it builds the
// requests Publish would send, without sending them, for dry runs.
type Renderer interface {
	Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error)
}

// Options carries what publishers need besides their target's config.
type Options struct {
	Logger *slog.Logger
	// UserAgent is sent with every request, "am-fanout/<version>".
	UserAgent string
	// StoragePath is the directory for publishers that keep state across
	// restarts.
	StoragePath string
	// OnTemplateError is called when a user template fails to render and
	// the default rendering is used instead; nil ignores it.
	OnTemplateError func(target, field string)
}

// New builds the publisher for a configured target.
func New(t *config.Target, o Options) (Publisher, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Logger = o.Logger.With("target", t.Name, "type", t.Type)
	switch spec := t.Spec.(type) {
	case *config.Webhook:
		return newWebhook(t.Name, spec, o)
	case *config.File:
		return newFile(spec)
	case *config.Slack:
		return newSlack(t.Name, spec, o)
	case *config.Discord:
		return newDiscord(t.Name, spec, o)
	case *config.PagerDuty:
		return newPagerDuty(t.Name, spec, o)
	case *config.Opsgenie:
		return newOpsgenie(t.Name, spec, o)
	case *config.Rootly:
		return newRootly(t.Name, spec, o)
	case *config.MSTeams:
		return newMSTeams(t.Name, spec, o)
	}
	return nil, fmt.Errorf("target %q: no publisher for type %q", t.Name, t.Type)
}
