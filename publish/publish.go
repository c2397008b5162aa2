// Package publish holds what every integration shares: the Config each
// target type implements, the options publishers are built with, HTTP
// sending and the classification of its outcome, secrets, URL checks,
// user templates and the texts several vendors show alike. Each
// integration lives in its own package below this one.
package publish

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// Config is the configuration block of one target type. Its UnmarshalYAML
// applies the type's defaults; Validate checks it and reads its *_file
// secrets, resolving relative paths against dir, the config file's
// folder. A validation error starts with the yaml key it is about, so the
// loader can point at that key's line.
type Config interface {
	core.Spec
	// NewPublisher builds the publisher of the target named name.
	NewPublisher(name string, o Options) (core.Publisher, error)
}

// Integration is one target type: its name in the config's type field and
// the constructor of its configuration block.
type Integration struct {
	Type      string
	NewConfig func() Config
}

// Renderer is implemented by publishers that speak HTTP: it builds the
// requests Publish would send, without sending them, for dry runs.
type Renderer interface {
	Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error)
}

// NeedsEarlierAnswer is the error of Render when a request needs what
// only the answer to an earlier delivery gives (Rootly resolves by the id
// its create returned) and that is not known. Requests are what would be
// sent once it is, with Placeholder in its place, for dry runs.
type NeedsEarlierAnswer struct {
	Err         error
	Placeholder string
	Requests    []*http.Request
}

func (e *NeedsEarlierAnswer) Error() string { return e.Err.Error() }

func (e *NeedsEarlierAnswer) Unwrap() error { return e.Err }

// Options carries what publishers need besides their target's config.
type Options struct {
	Logger *slog.Logger
	// UserAgent is sent with every request, "am-fanout/<version>".
	UserAgent string
	// State returns the state a target's publisher keeps across restarts;
	// the Slack bot and Rootly's alerts API need it.
	State func(target string) State
	// OnTemplateError is called when a user template fails to render and
	// the default rendering is used instead; nil ignores it.
	OnTemplateError func(target, field string)
	// Transport, when set, wraps the transport of every HTTP target's
	// client, so that a test send can show what was sent and answered;
	// nil leaves the client as http_config builds it.
	Transport func(http.RoundTripper) http.RoundTripper
	// Throttled, when set, is told that the target named target will be
	// refused until until, as its vendor said on an answer that succeeded
	// (Discord's X-RateLimit-Remaining: 0 with X-RateLimit-Reset-After):
	// the next request before then would earn a 429, so the caller should
	// hold the target's requests until then. It is called from the
	// publishing goroutine and must not block; nil ignores it.
	Throttled func(target string, until time.Time)
}

// New builds the target's publisher from its type's block, with a logger
// that names the target.
func New(t *core.Target, o Options) (core.Publisher, error) {
	c, ok := t.Spec.(Config)
	if !ok {
		return nil, fmt.Errorf("target %q: type %q has no publisher", t.Name, t.Type)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Logger = o.Logger.With("target", t.Name, "type", t.Type)
	return c.NewPublisher(t.Name, o)
}

// Built returns the publisher a constructor made, or its error, as a
// core.Publisher; a failed constructor's typed nil never becomes a
// non-nil interface.
func Built[P core.Publisher](p P, err error) (core.Publisher, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}
