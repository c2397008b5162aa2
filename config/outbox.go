package config

import (
	"time"

	"github.com/prometheus/common/model"
)

// Outbox configures the durable delivery outbox: where it lives, how
// deliveries are retried and how much it may hold.
type Outbox struct {
	// Enabled persists every delivery before the webhook answers; off, a
	// delivery lives only as long as its webhook request.
	Enabled bool `yaml:"enabled"`
	// File is the store file, relative to --storage.path unless absolute.
	File string `yaml:"file"`
	// WaitForFirstAttempt makes /webhook answer after the first attempts,
	// with their results, as with ?wait=true.
	WaitForFirstAttempt bool `yaml:"wait_for_first_attempt"`
	// WaitForRoom is how long a webhook waits for room in an outbox at
	// its bounds before it is answered 503; 0 answers 503 at once.
	WaitForRoom model.Duration `yaml:"wait_for_room"`
	// RetryBase and RetryCap shape the backoff of a failing target's
	// lane between its probes.
	RetryBase model.Duration `yaml:"retry_base"`
	RetryCap  model.Duration `yaml:"retry_cap"`
	// MaxAge is how long a failing delivery is retried before it becomes
	// a dead letter.
	MaxAge model.Duration `yaml:"max_age"`
	// MaxPending and MaxBytes bound the pending deliveries; past them the
	// webhook answers 503.
	MaxPending int   `yaml:"max_pending"`
	MaxBytes   int64 `yaml:"max_bytes"`
	// MaxInFlight bounds the attempts made in the background at once.
	MaxInFlight int `yaml:"max_in_flight"`
	// Retention is how long the order of an alert's states is kept;
	// MaxDone bounds the done and ordering records kept.
	Retention model.Duration `yaml:"retention"`
	MaxDone   int            `yaml:"max_done"`
	// DeadLetterRetention is how long a dead letter is kept;
	// MaxDeadLetters bounds how many are kept, the oldest going first.
	DeadLetterRetention model.Duration `yaml:"dead_letter_retention"`
	MaxDeadLetters      int            `yaml:"max_dead_letters"`
}

// DefaultWaitForRoom is 2 s: long enough for a backlog that drains at a
// few hundred deliveries a second to make room for a notification of
// many alerts, short enough that Alertmanager, which gives a notification
// group_interval and at least 10 s (notify.MinTimeout) before it gives
// up on it, still sends a refused one again several times in that time.
const DefaultWaitForRoom = 2 * time.Second

// DefaultOutbox is the outbox section used for every key the file omits.
func DefaultOutbox() Outbox {
	return Outbox{
		Enabled:     true,
		File:        "outbox.db",
		WaitForRoom: model.Duration(DefaultWaitForRoom),
		RetryBase:   model.Duration(time.Second),
		RetryCap:    model.Duration(5 * time.Second),
		MaxAge:      model.Duration(24 * time.Hour),
		MaxPending:  30000,
		MaxBytes:    32 << 20,
		MaxInFlight: 256,
		Retention:   model.Duration(24 * time.Hour),
		MaxDone:     100000,

		DeadLetterRetention: model.Duration(7 * 24 * time.Hour),
		MaxDeadLetters:      10000,
	}
}

func (o *Outbox) validate(pos *position) error {
	for _, f := range []struct {
		key string
		d   model.Duration
	}{{"retry_base", o.RetryBase}, {"retry_cap", o.RetryCap}, {"max_age", o.MaxAge}, {"retention", o.Retention}, {"dead_letter_retention", o.DeadLetterRetention}} {
		if f.d <= 0 {
			return pos.errorf("outbox."+f.key, "must be positive")
		}
	}
	if o.RetryCap < o.RetryBase {
		return pos.errorf("outbox.retry_cap", "%s is shorter than retry_base %s", o.RetryCap, o.RetryBase)
	}
	for _, f := range []struct {
		key string
		n   int64
	}{{"max_pending", int64(o.MaxPending)}, {"max_bytes", o.MaxBytes}, {"max_in_flight", int64(o.MaxInFlight)}, {"max_done", int64(o.MaxDone)}, {"max_dead_letters", int64(o.MaxDeadLetters)}} {
		if f.n < 1 {
			return pos.errorf("outbox."+f.key, "must be at least 1, got %d", f.n)
		}
	}
	if o.File == "" {
		return pos.errorf("outbox.file", "must not be empty")
	}
	return nil
}
