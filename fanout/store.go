package fanout

import (
	"time"

	"github.com/am-fanout/am-fanout/outbox"
)

// Store keeps the pipeline's deliveries durable: what is pending, the
// per-alert order and the dedup log that decide what is accepted, the
// dead letters, and the history of attempts. Each method that writes
// returns once its write is durable (for a store that is). outbox.Store
// (bbolt, its pending deliveries optionally in memory) is one.
type Store interface {
	// Load calls fn with every pending delivery, in acceptance order, as
	// an accepted candidate numbered in commit order.
	Load(fn func(*outbox.Candidate)) error
	// Accept decides each candidate's State in one commit: accepted
	// (Old names the pending older state it supersedes, Seq its commit
	// order), already delivered within the dedup window, already
	// pending, or stale. An error means none was accepted.
	Accept(cands []*outbox.Candidate, now time.Time) error
	// Read returns the pending delivery id; nil, with no error, when it
	// is no longer pending.
	Read(id uint64) (*outbox.Delivery, error)
	// Record writes the settlements of attempts in one commit: done
	// (into the dedup log), retry (updated in place) or dead (a dead
	// letter, its fallback hand-over accepted in the same commit), each
	// with its attempt's history line. A delivery no longer pending is
	// neither written back nor buried.
	Record(now time.Time, ss ...*outbox.Settlement) error
	// Replay makes dead letters pending again where the order of their
	// alerts allows it, and returns them as accepted candidates.
	Replay(sel outbox.Selection, now time.Time) ([]outbox.Replayed, []*outbox.Candidate, error)
	// DeadLetters lists dead letters by id; Purge deletes them.
	DeadLetters(sel outbox.Selection, page outbox.Page) ([]outbox.DeadLetter, uint64, error)
	Purge(sel outbox.Selection) (int, error)
	// Prune drops what retention no longer keeps (done records past the
	// dedup window, ordering state, history, expired publisher state);
	// PruneDeadLetters applies the dead letters' bounds and says how many
	// it dropped by age and by count.
	Prune(now time.Time) error
	PruneDeadLetters(now time.Time) (byAge, byCount int, err error)
	// Size is the bytes the store takes, for am_fanout_outbox_bytes.
	Size() int64
}

var _ Store = (*outbox.Store)(nil)

// Committer is a store whose writes share group commits (bbolt's): it
// reports their totals, for am_fanout_outbox_commits_total and its
// siblings.
type Committer interface {
	CommitStats() outbox.CommitStats
}

var _ Committer = (*outbox.Store)(nil)
