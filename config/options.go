package config

import (
	"log/slog"
	"time"

	"github.com/am-fanout/am-fanout/fanout"
	"github.com/am-fanout/am-fanout/health"
	"github.com/am-fanout/am-fanout/outbox"
)

// The config assembles the options of the packages it configures, so that
// wiring passes them on as they are.

// Options are the fan-out's options from the fanout section; health is
// consulted and breakers respected, as the seed design's defaults.
func (f Fanout) Options() fanout.ParallelPublishOptions {
	return fanout.ParallelPublishOptions{
		Timeout:                time.Duration(f.Timeout),
		CheckHealth:            true,
		HealthStrategy:         f.HealthStrategy,
		MaxConcurrent:          f.MaxConcurrent,
		RespectCircuitBreakers: true,
	}
}

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

// Options are the outbox's retry and bound options.
func (o Outbox) Options(logger *slog.Logger) outbox.Options {
	return outbox.Options{
		RetryBase: time.Duration(o.RetryBase), RetryCap: time.Duration(o.RetryCap), MaxAge: time.Duration(o.MaxAge),
		MaxPending: o.MaxPending, MaxBytes: o.MaxBytes, MaxInFlight: o.MaxInFlight, Logger: logger,
	}
}
