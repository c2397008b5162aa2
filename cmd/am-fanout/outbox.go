package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/fanout"
	"github.com/am-fanout/am-fanout/outbox"
	"github.com/am-fanout/am-fanout/receiver"
)

// durable is the store under --storage.path and, when the config enables
// it, the outbox in it. The store is also the dedup log, outbox or not.
// Changes to the outbox section take effect on restart, except
// wait_for_first_attempt, which follows reloads.
type durable struct {
	store  *outbox.Store
	box    *outbox.Outbox // nil when the outbox is disabled
	pub    currentPublisher
	logger *slog.Logger
}

// currentPublisher hands the outbox's retries to the dispatcher of the
// latest configuration.
type currentPublisher struct {
	p atomic.Pointer[fanout.Dispatcher]
}

func (c *currentPublisher) PublishToMultiple(ctx context.Context, a *core.EnrichedAlert, ts []*core.Target) (*core.ParallelPublishResult, error) {
	return c.p.Load().PublishToMultiple(ctx, a, ts)
}

// openDurable opens the store and loads the outbox's pending deliveries;
// it starts nothing.
func openDurable(storagePath string, cfg *config.Config, src fanout.TargetSource, logger *slog.Logger, reg prometheus.Registerer) (*durable, error) {
	oc := cfg.Outbox
	path := oc.File
	if !filepath.IsAbs(path) {
		path = filepath.Join(storagePath, path)
	}
	store, err := outbox.Open(path, cfg.StoreOptions(logger))
	if err != nil {
		return nil, err
	}
	d := &durable{store: store, logger: logger}
	if !oc.Enabled {
		return d, nil
	}
	d.box, err = outbox.New(store, src, &d.pub, oc.Options(logger))
	if err == nil {
		err = d.box.Register(reg)
	}
	if err != nil {
		store.Close()
		return nil, err
	}
	return d, nil
}

// dedup is the Deduplicator for the dispatcher: none with the outbox,
// which checks and records deliveries in its own transactions.
func (d *durable) dedup() fanout.Deduplicator {
	if d.box != nil {
		return nil
	}
	return d.store
}

// use makes p the publisher of retries and returns the webhook's outbox.
func (d *durable) use(p *fanout.Dispatcher) receiver.Outbox {
	d.pub.p.Store(p)
	if d.box == nil {
		return nil // not a nil *outbox.Outbox, which would be a non-nil Outbox
	}
	return d.box
}

// start resumes the pending deliveries.
func (d *durable) start() {
	if d.box != nil {
		d.box.Start()
	}
}

// routes adds the dead-letter API when there is an outbox; guard wraps
// its state-changing endpoints.
func (d *durable) routes(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	if d.box != nil {
		receiver.DeadLetterRoutes(mux, d.box, d.logger, guard)
	}
}

// drain lets attempts in flight finish until ctx ends; the rest stays
// pending in the store.
func (d *durable) drain(ctx context.Context) {
	if d.box != nil {
		d.box.Close(ctx)
	}
}

// close drains with no grace left, then closes the store.
func (d *durable) close() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.drain(ctx)
	if err := d.store.Close(); err != nil {
		d.logger.Error("closing the outbox store", "file", d.store.Path(), "err", err)
	}
}

// forget dead-letters the pending deliveries of a target that a reload
// removed; re-adding the target and replaying them delivers them.
func (d *durable) forget(target string) {
	if d.box != nil {
		d.box.DropTarget(target)
	}
}
