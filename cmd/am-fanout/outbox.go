package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/fanout"
	"github.com/am-fanout/am-fanout/outbox"
	"github.com/am-fanout/am-fanout/receiver"
)

// durable is the store under --storage.path and the delivery pipeline on
// it. Every delivery goes through the pipeline; with outbox.enabled: false
// its pending deliveries live in memory only (outbox.StoreOptions
// Volatile), while the file keeps the dedup log, ordering, dead letters
// and publisher state. Changes to the outbox section take effect on
// restart, except wait_for_first_attempt, which follows reloads.
type durable struct {
	store  *outbox.Store
	box    *fanout.Pipeline
	logger *slog.Logger
}

// openDurable opens the store and loads its pending deliveries into the
// pipeline; it starts nothing.
func openDurable(storagePath string, cfg *config.Config, src fanout.TargetSource, at fanout.DeliveryAttempter, prep fanout.Preparer, logger *slog.Logger, reg prometheus.Registerer) (*durable, error) {
	oc := cfg.Outbox
	path := oc.File
	if !filepath.IsAbs(path) {
		path = filepath.Join(storagePath, path)
	}
	so := cfg.StoreOptions(logger)
	so.Volatile = !oc.Enabled
	store, err := outbox.Open(path, so)
	if err != nil {
		return nil, err
	}
	d := &durable{store: store, logger: logger}
	if !oc.Enabled {
		logger.Warn("outbox.enabled is false: pending deliveries are kept in memory only and are lost if am-fanout stops before they are delivered", "file", path)
	}
	opts := cfg.OutboxOptions(logger)
	opts.OnDrained = func() {
		// A storm's backlog is delivered: give its memory back now rather
		// than as the runtime scavenges.
		debug.FreeOSMemory()
		logger.Info("outbox backlog delivered; memory returned to the system")
	}
	opts.Prepare = prep
	d.box, err = fanout.New(store, src, at, opts)
	if err == nil {
		err = d.box.Register(reg)
	}
	if err != nil {
		store.Close()
		return nil, err
	}
	return d, nil
}

// start resumes the pending deliveries.
func (d *durable) start() { d.box.Start() }

// routes adds the dead-letter and delivery-history API; guard wraps the
// state-changing endpoints.
func (d *durable) routes(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	receiver.DeadLetterRoutes(mux, d.box, d.logger, guard)
	receiver.DeliveryRoutes(mux, d.store)
}

// drain lets attempts in flight finish until ctx ends; the rest stays
// pending in the store.
func (d *durable) drain(ctx context.Context) { d.box.Close(ctx) }

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
func (d *durable) forget(target string) { d.box.DropTarget(target) }
