package fanout

import (
	"context"

	"github.com/am-fanout/am-fanout/outbox"
)

// SharedStore is a Store that several replicas share (storage.backend:
// nats): a delivery any replica accepts must reach the lanes of the one
// replica that runs them. Its Load, Accept, Replay and Watch number the
// candidates in one commit order shared by all replicas (Seq): a leader
// that loads while replicas accept orders the states of an alert by it.
type SharedStore interface {
	Store
	// Watch calls fn, in acceptance order, with every delivery accepted
	// by any replica after those Load gave, until ctx ends or an error
	// stops it. A delivery fn was already given (by Load or by this
	// replica's Accept) may come again; the pipeline ignores it then.
	Watch(ctx context.Context, fn func(*outbox.Candidate)) error
}

// Lease decides which replica runs the lanes: of the replicas sharing a
// store, one at a time holds it, so that pacing, pauses and breakers see
// every request to a target.
type Lease interface {
	// Hold blocks until this replica holds the lease, or ctx ends (then
	// it returns ctx's error). lost is closed when the replica no longer
	// holds it: it could not renew it in time, or ctx ended.
	Hold(ctx context.Context) (lost <-chan struct{}, err error)
}

// LaneStore is implemented by shared stores that keep each lane's
// flow-control state, so that the replica taking the lanes over resumes a
// paused, failing or broken target where the last one left it.
type LaneStore interface {
	SaveLane(m outbox.LaneMemory) error
	LoadLanes() (map[string]outbox.LaneMemory, error)
}
