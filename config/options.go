package config

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/am-fanout/am-fanout/fanout"
	"github.com/am-fanout/am-fanout/health"
	"github.com/am-fanout/am-fanout/outbox"
	commoncfg "github.com/prometheus/common/config"
)

// The config assembles the options of the packages it configures, so that
// wiring passes them on as they are.

// Options are the health monitor's options from the health section.
func (h Health) Options() health.Options {
	return health.Options{
		UnhealthyAfter:        h.UnhealthyAfter,
		DegradedAfter:         h.DegradedAfter,
		RecheckAfter:          time.Duration(h.RecheckAfter),
		Window:                time.Duration(h.Window),
		MinSamples:            h.MinSamples,
		DegradedSuccessRatio:  h.DegradedSuccessRatio,
		UnhealthySuccessRatio: h.UnhealthySuccessRatio,
		DegradedLatency:       time.Duration(h.DegradedLatency),
	}
}

// StoreOptions are the store's options: the outbox section's retention
// and bounds, and the fan-out's dedup window.
func (c *Config) StoreOptions(logger *slog.Logger) outbox.StoreOptions {
	o := c.Outbox
	return outbox.StoreOptions{
		DedupWindow: time.Duration(c.Fanout.DedupWindow), MaxDone: o.MaxDone,
		Retention: time.Duration(o.Retention), Logger: logger,
		DeadLetterRetention: time.Duration(o.DeadLetterRetention), MaxDeadLetters: o.MaxDeadLetters,
	}
}

// OutboxOptions are the pipeline's options: the outbox section's retry
// and bounds, and from the fanout section the deliveries in flight per
// target's lane (max_concurrent) and how long a waiting webhook waits
// (timeout).
func (c *Config) OutboxOptions(logger *slog.Logger) fanout.Options {
	o := c.Outbox
	return fanout.Options{
		RetryBase: time.Duration(o.RetryBase), RetryCap: time.Duration(o.RetryCap), MaxAge: time.Duration(o.MaxAge),
		MaxPending: o.MaxPending, MaxBytes: o.MaxBytes, MaxInFlight: o.MaxInFlight,
		LaneInFlight: c.Fanout.MaxConcurrent, WaitTimeout: time.Duration(c.Fanout.Timeout),
		// Half the bound of each bucket the deliveries write.
		PruneAfter:     max(1, o.MaxDone/2),
		HealthStrategy: c.Fanout.HealthStrategy, Logger: logger,
	}
}

// JetStreamOptions are the NATS JetStream store's options: the
// storage.nats block, with the outbox section's retention and the
// fan-out's dedup window as for the bbolt store.
func (c *Config) JetStreamOptions(logger *slog.Logger) (outbox.JetStreamOptions, error) {
	n := c.Storage.NATS
	o := outbox.JetStreamOptions{
		Servers: n.Servers, CredentialsFile: n.CredentialsFile, NKeyFile: n.NKeyFile, TokenFile: n.TokenFile,
		StreamPrefix: n.StreamPrefix, Replicas: n.Replicas, DuplicateWindow: time.Duration(n.DuplicateWindow),
		ConnectTimeout: time.Duration(n.ConnectTimeout), LeaseTTL: time.Duration(n.LeaseTTL), Store: c.StoreOptions(logger),
	}
	if n.TLSConfig != nil {
		tc, err := commoncfg.NewTLSConfig(n.TLSConfig)
		if err != nil {
			return o, fmt.Errorf("storage.nats.tls_config: %w", err)
		}
		o.TLS = tc
	}
	return o, nil
}
