package genie

import (
	"context"
	"net/http"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// Texts are the message and description an alert is created with, cut
// to the Alert API's limits (130 and 15000 characters), which Update
// Message and Update Description keep.
type Texts struct {
	Message, Description string
}

// Updater brings an open alert's message and description up to date
// where the API key cannot do it by alias: JSM's integration events API
// has no Update Message or Update Description, its REST API has them by
// alert id, with a user's API token (package jsm).
type Updater interface {
	// Update makes the open alert with alias, if any, show t, sending
	// with c. It runs after the create, whose repeat for an open alias
	// keeps the texts the alert was opened with.
	Update(ctx context.Context, c *http.Client, alias string, t Texts) error
	// Render builds the requests Update sends when the alert is open
	// with other texts, without sending them; what only the API's
	// answer to Update's lookup gives stands as placeholder, and why
	// says what that is, for dry runs.
	Render(ctx context.Context, alias string, t Texts) (reqs []*http.Request, placeholder string, why error)
}

// delivery is what one delivery sends: reqs in order, then, for a firing
// alert with an Updater, the update of the alert with alias to texts.
type delivery struct {
	reqs  []*http.Request
	alias string
	texts *Texts
}

// deliver sends d's requests, stopping at the first failure, then its
// update; a retry sends them all again, which the API takes as a repeat.
func (g *Publisher) deliver(ctx context.Context, d delivery) error {
	if err := g.send(d.reqs); err != nil {
		return err
	}
	if d.texts == nil {
		return nil
	}
	return g.api.Updater.Update(ctx, g.Client, d.alias, *d.texts)
}

// rendered is d as a dry run shows it: its requests, and with an update
// the requests of that update as a publish.NeedsEarlierAnswer.
func (g *Publisher) rendered(ctx context.Context, d delivery) ([]*http.Request, error) {
	if d.texts == nil {
		return d.reqs, nil
	}
	more, placeholder, why := g.api.Updater.Render(ctx, d.alias, *d.texts)
	if more == nil {
		return nil, why
	}
	return nil, &publish.NeedsEarlierAnswer{Err: why, Placeholder: placeholder, Requests: append(d.reqs, more...)}
}

// firing is the delivery of a create: the create, and the update that
// follows it when the API has an Updater.
func (g *Publisher) firing(ctx context.Context, alias string, create *alert) (delivery, error) {
	reqs, err := g.requests(ctx, alias, nil, create)
	if err != nil || g.api.Updater == nil {
		return delivery{reqs: reqs}, err
	}
	return delivery{reqs: reqs, alias: alias, texts: &Texts{Message: create.Message, Description: create.Description}}, nil
}

// resolved is the delivery of a close by alias.
func (g *Publisher) resolved(ctx context.Context, alias string, c *closing) (delivery, error) {
	reqs, err := g.requests(ctx, alias, c, nil)
	return delivery{reqs: reqs}, err
}

// alertDelivery is what one alert's delivery sends.
func (g *Publisher) alertDelivery(ctx context.Context, a *core.EnrichedAlert) (delivery, error) {
	alias := publish.IncidentKey(a)
	if a.Alert.Status == core.StatusResolved {
		return g.resolved(ctx, alias, g.closeBody(a.Alert.EndsAt))
	}
	return g.firing(ctx, alias, g.createBody(a, alias))
}
