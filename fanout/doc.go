// Package fanout is the delivery engine: every delivery of an alert (or a
// notification) to a target goes through one Pipeline, on a Store that
// makes it durable (package outbox).
//
// Accept. Pipeline.Accept makes the candidate deliveries of a notification
// (one per alert and selecting target, one per notification for targets
// with group_by: notification), counts them against MaxPending and
// MaxBytes, and has the Store decide and persist them in one commit. A
// closing pipeline, a full one or a failed write fails the whole call,
// and the webhook answers 503 so that Alertmanager sends it again. With
// wait it returns after the first attempts (accept.go), with their
// results; the seed's ParallelPublisher is implemented on the same path
// (parallel.go).
//
// Lanes. The target's lane, not the delivery, is the unit of flow
// control (lane.go): its deliveries in acceptance order, at most one
// attempt in flight per (target, alert), a token bucket per rate scope,
// a pause on 429, one probe at a time on a capped backoff while the
// target fails or its breaker is open. When the target recovers its
// backlog drains at once, at its pace. A newer state of a group replaces
// the waiting one in its place (coalescing).
//
// Attempts. The scheduler (schedule.go) starts what the lanes allow, at
// most MaxInFlight at once, through a DeliveryAttempter; Attempter is the
// one that meets the breaker, the publisher and the outcome's
// classification (attempt.go). Judging the outcome: a success is done; a
// retryable failure, an open breaker or an unhealthy skip waits for the
// lane's next probe (never sooner than the target's Retry-After); a
// permanent failure, a target that is no longer configured, or a delivery
// older than MaxAge becomes a dead letter, handed to the target's
// fallbacks (fallback.go). Publishers never retry: this is the only retry
// layer. The Store records each outcome before the lane goes on.
//
// Memory. A pending delivery costs an entry of what scheduling needs; its
// record is read back from the Store for each attempt, except a first
// attempt soon after acceptance, which uses the record it was accepted
// with (bounded to MaxBytes/8).
//
// Lifecycle. New loads the Store's pending deliveries; Start resumes them
// at once. Close stops accepting and starting retries, gives the attempts
// in flight the grace period, then cancels them; all that is not done
// stays in the Store.
//
// Replicas. With Options.Lease, replicas share a SharedStore and only the
// one holding the lease runs the lanes (leader.go): the others persist
// what they accept and leave it to it. Gaining the lease loads the
// pending deliveries and watches for those any replica accepts; losing
// it cancels the attempts in flight (they stay pending) and drops the
// lanes.
package fanout
