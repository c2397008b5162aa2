// Package outbox makes delivery durable: once the webhook has answered,
// every (alert, target) delivery is in a bbolt file and will be delivered,
// dead-lettered, or superseded by a newer state of the same alert.
//
// Write path. Accept writes one record per target that selects an alert,
// in a transaction shared with every other write waiting at the time (one
// committer goroutine, one fsync per group), and only then lets the
// webhook answer. Bounds (MaxPending, MaxBytes), a closing outbox or a
// failed write (disk full) make Accept fail as a whole, and the webhook
// answers 503 so that Alertmanager sends the notification again.
//
// Attempts. The first attempt starts right after the commit, in the
// target's lane, through fanout.Attempter (breaker, publisher, health,
// metrics). A success moves the record to the dedup log; a retryable
// failure, an open breaker or an unhealthy skip schedules a retry after a
// full-jitter exponential backoff (RetryBase, RetryCap, never shorter than
// the target's Retry-After); a permanent failure, a target that is no
// longer configured, or a delivery older than MaxAge becomes a dead
// letter. Publishers never retry: this is the only retry layer.
//
// Order. The states of one alert for one target are ordered by episode:
// a firing opens one, a resolve ends it, and within one the resolve is the
// last word even when Alertmanager moved its start before the firing's
// (order.go has the rule). Resends of one state share the order and the
// dedup key (core.DeliveryKey). At most one attempt per (target,
// fingerprint) is in flight. A newer state replaces the pending older one
// (it is deleted, or dropped after its attempt in flight); a state older
// than the newest accepted one is never delivered (StateStale). Ordering
// state is kept for the retention period after its last change.
//
// Idempotency. The dedup log (done records) lives in the same file:
// Store implements fanout.Deduplicator, and Accept skips deliveries done
// within the dedup window, or already pending, so restarts and resends do
// not duplicate. A kill between a target's answer and the commit of its
// outcome delivers that one delivery again after the restart.
//
// Lifecycle. New loads the pending deliveries; Start resumes them at
// their next attempt time. Close stops accepting and starting retries,
// gives the attempts in flight the grace period, then cancels them; all
// that is not done stays in the file. Done records are pruned past the
// dedup window and ordering state past the retention, both also bounded
// in number; Open compacts a file that is mostly free pages into a fresh
// one. A file that is not a valid store is an error naming it, never
// reset.
package outbox
