package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/fanout"
	"github.com/am-fanout/am-fanout/outbox"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/receiver"
)

// durable is the store under --storage.path and the delivery pipeline on
// it. Every delivery goes through the pipeline; with outbox.enabled: false
// its pending deliveries live in memory only (outbox.StoreOptions
// Volatile), while the file keeps the dedup log, ordering, dead letters
// and publisher state. Changes to the outbox section take effect on
// restart, except wait_for_first_attempt, which follows reloads.
type durable struct {
	store backend
	// where names the store in logs: the file, or the NATS servers.
	where string
	// state is each target's publisher state in the store.
	state  func(target string) publish.State
	box    *fanout.Pipeline
	logger *slog.Logger
}

// backend is what the wiring needs of a store besides fanout.Store: the
// bbolt file (outbox.Store) or NATS JetStream (outbox.JetStreamStore).
type backend interface {
	fanout.Store
	Histories(q outbox.HistoryQuery) ([]outbox.History, error)
	ImportState(target string, entries []outbox.StateEntry, now time.Time) (int, error)
	Close() error
}

// openDurable opens the store (storage.backend) and loads its pending
// deliveries into the pipeline; it starts nothing. With NATS the replicas
// share the store, and the one holding the lanes' lease runs them.
func openDurable(storagePath string, cfg *config.Config, src fanout.TargetSource, at fanout.DeliveryAttempter, prep fanout.Preparer, logger *slog.Logger, reg prometheus.Registerer) (*durable, error) {
	d := &durable{logger: logger}
	opts := cfg.OutboxOptions(logger)
	if cfg.Storage.Backend == config.BackendNATS {
		jo, err := cfg.JetStreamOptions(logger)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), jo.ConnectTimeout+5*time.Second)
		js, err := outbox.OpenJetStream(ctx, jo, logger)
		cancel()
		if err != nil {
			return nil, err
		}
		d.store, d.where = js, "nats "+strings.Join(cfg.Storage.NATS.Servers, ",")
		d.state = func(target string) publish.State { return js.State(target) }
		opts.Lease = js.Lease("lanes", replicaName())
	} else {
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
		d.store, d.where = store, path
		d.state = func(target string) publish.State { return store.State(target) }
		if !oc.Enabled {
			logger.Warn("outbox.enabled is false: pending deliveries are kept in memory only and are lost if am-fanout stops before they are delivered", "file", path)
		}
	}
	opts.OnDrained = func() {
		// A storm's backlog is delivered: give its memory back now rather
		// than as the runtime scavenges.
		debug.FreeOSMemory()
		logger.Info("outbox backlog delivered; memory returned to the system")
	}
	opts.Prepare = prep
	box, err := fanout.New(d.store, src, at, opts)
	if err == nil {
		err = box.Register(reg)
	}
	if err != nil {
		d.store.Close()
		return nil, err
	}
	d.box = box
	return d, nil
}

// replicaName names this replica to the others in the lanes' lease: the
// pod's name (its hostname) and the process.
func replicaName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
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
		d.logger.Error("closing the outbox store", "store", d.where, "err", err)
	}
}

// forget dead-letters the pending deliveries of a target that a reload
// removed; re-adding the target and replaying them delivers them.
func (d *durable) forget(target string) { d.box.DropTarget(target) }
