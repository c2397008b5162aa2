// Package outbox is the store of the delivery pipeline: once the webhook
// has answered, every (alert, target) delivery is in a bbolt file and
// will be delivered, dead-lettered, or superseded by a newer state of the
// same alert. The engine that delivers them (lanes, attempts, retries) is
// package fanout, which reaches the store through its fanout.Store
// interface; Store here is the bbolt implementation, with its pending
// deliveries optionally in memory.
//
// Write path. Accept decides, for each candidate delivery of a
// notification (encoded once per alert, Encoder), whether it is accepted,
// already delivered, already pending or stale, in a transaction shared
// with every other write waiting at the time (one committer goroutine,
// one fsync per group; after a commit of several acceptances, the next
// waits acceptLinger for more), and only then lets the webhook answer. A
// failed write (disk full, a closed store) accepts nothing.
//
// Outcomes. Record writes what an attempt led to: a done delivery leaves
// the pending records for the dedup log, a retry is updated in place, a
// dead one becomes a dead letter, its fallback hand-over accepted in the
// same commit; each attempt's line goes into the delivery's history
// (history.go) in that commit too.
//
// Order. The states of one alert for one target are ordered by episode:
// a firing opens one, a resolve ends it, and within one the resolve is the
// last word even when Alertmanager moved its start before the firing's
// (order.go has the rule). Resends of one state share the order and the
// dedup key (core.DeliveryKey). A newer state replaces the pending older
// one (Accept deletes it and names it as superseded); a state older than
// the newest accepted one is never delivered (StateStale). Ordering state
// is kept for the retention period after its last change.
//
// Idempotency. The dedup log (done records) lives in the same file, and
// Accept skips deliveries done within the dedup window, or already
// pending, so restarts and resends do not duplicate. A kill between a
// target's answer and the commit of its outcome delivers that one
// delivery again after the restart.
//
// Volatile. With outbox.enabled: false the pending records live in memory
// with the same transactions (volatile.go); ordering, the dedup log, dead
// letters and publisher state stay in the file, written without fsync.
//
// Lifecycle. Load hands the pending deliveries to the engine in
// acceptance order. Prune removes done records past the dedup window and
// ordering state and history past the retention, both also bounded in
// number, and expired publisher state (state.go); PruneDeadLetters
// applies the dead letters' bounds. Open compacts a file that is mostly
// free pages into a fresh one. A file that is not a valid store is an
// error naming it, never reset.
//
// Shared. JetStreamStore (jetstream*.go) is the same store on NATS
// JetStream for replicas that share it (storage.backend: nats): its doc
// comment gives the mapping of streams and buckets, and what a failure
// midway through an acceptance means there.
package outbox
