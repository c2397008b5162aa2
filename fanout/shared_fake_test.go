package fanout

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/outbox"
)

// sharedLog is one bbolt store that several replicas share, and the log
// of the deliveries accepted in it, in commit order, which each replica's
// Watch follows: a stand-in for the replicated store.
type sharedLog struct {
	store *outbox.Store

	mu      chanMutex // serialises the writes that accept, so the log is in commit order
	log     []*outbox.Candidate
	seqs    map[uint64]uint64 // commit order of each delivery accepted, by id
	changed chan struct{}     // closed and replaced when the log grows
	lanes   map[string]outbox.LaneMemory
}

func newSharedLog(store *outbox.Store) *sharedLog {
	return &sharedLog{store: store, mu: make(chanMutex, 1), seqs: map[uint64]uint64{}, changed: make(chan struct{})}
}

// chanMutex is a mutex whose waiters are durably blocked for
// testing/synctest, unlike sync.Mutex's: a replica waiting for the log
// while another's write waits out the store's outcome linger on the
// bubble's clock must not keep that clock from moving.
type chanMutex chan struct{}

func (m chanMutex) Lock()   { m <- struct{}{} }
func (m chanMutex) Unlock() { <-m }

// replica is one replica's view of the shared store.
func (h *sharedLog) replica() *sharedReplica { return &sharedReplica{Store: h.store, hub: h} }

// publish logs the accepted candidates, each a copy of its own: the
// accepting pipeline goes on with the original. h.mu must be held.
func (h *sharedLog) publish(cands []*outbox.Candidate) {
	n := len(h.log)
	for _, c := range cands {
		if c.State != outbox.StateAccepted {
			continue
		}
		cc, d := *c, *c.Delivery
		cc.Delivery = &d
		h.log = append(h.log, &cc)
		h.seqs[d.ID] = c.Seq
	}
	if len(h.log) > n {
		close(h.changed)
		h.changed = make(chan struct{})
	}
}

// sharedReplica is the SharedStore of one replica: the shared store, with
// Watch following what any replica accepted after this one's last Load.
type sharedReplica struct {
	*outbox.Store
	hub  *sharedLog
	from int // in hub.log, guarded by hub.mu
	// breaks makes that many Watch calls fail at once.
	breaks atomic.Int32
}

var (
	_ SharedStore = (*sharedReplica)(nil)
	_ LaneStore   = (*sharedReplica)(nil)
)

// SaveLane keeps a lane's state for every replica.
func (r *sharedReplica) SaveLane(m outbox.LaneMemory) error {
	r.hub.mu.Lock()
	defer r.hub.mu.Unlock()
	if r.hub.lanes == nil {
		r.hub.lanes = map[string]outbox.LaneMemory{}
	}
	r.hub.lanes[m.Target] = m
	return nil
}

// LoadLanes returns the lanes' states kept by any replica.
func (r *sharedReplica) LoadLanes() (map[string]outbox.LaneMemory, error) {
	r.hub.mu.Lock()
	defer r.hub.mu.Unlock()
	return maps.Clone(r.hub.lanes), nil
}

// Load gives the pending deliveries numbered as they were accepted (the
// bbolt store numbers them afresh), as a replicated store's sequence does.
func (r *sharedReplica) Load(fn func(*outbox.Candidate)) error {
	h := r.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	r.from = len(h.log)
	return r.Store.Load(func(c *outbox.Candidate) {
		if seq, ok := h.seqs[c.Delivery.ID]; ok {
			c.Seq = seq
		}
		fn(c)
	})
}

func (r *sharedReplica) Accept(cands []*outbox.Candidate, now time.Time) error {
	h := r.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := r.Store.Accept(cands, now); err != nil {
		return err
	}
	h.publish(cands)
	return nil
}

func (r *sharedReplica) Replay(sel outbox.Selection, now time.Time) ([]outbox.Replayed, []*outbox.Candidate, error) {
	h := r.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	out, back, err := r.Store.Replay(sel, now)
	if err == nil {
		h.publish(back)
	}
	return out, back, err
}

func (r *sharedReplica) Record(now time.Time, ss ...*outbox.Settlement) error {
	h := r.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := r.Store.Record(now, ss...); err != nil {
		return err
	}
	for _, st := range ss {
		h.publish(st.Handover)
	}
	return nil
}

// Watch gives, in commit order, every delivery accepted after this
// replica's last Load, then each one accepted later, until ctx ends.
func (r *sharedReplica) Watch(ctx context.Context, fn func(*outbox.Candidate)) error {
	if r.breaks.Add(-1) >= 0 {
		return errors.New("the watch broke")
	}
	h := r.hub
	h.mu.Lock()
	next := r.from
	h.mu.Unlock()
	for {
		h.mu.Lock()
		batch, changed := h.log[next:], h.changed
		next = len(h.log)
		h.mu.Unlock()
		for _, c := range batch {
			cc := *c
			fn(&cc)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// pending counts the deliveries pending in the shared store.
func (h *sharedLog) pending(t testing.TB) int {
	t.Helper()
	n := 0
	if err := h.store.Load(func(*outbox.Candidate) { n++ }); err != nil {
		t.Fatalf("loading the pending deliveries: %v", err)
	}
	return n
}

// leases hands one lease among replicas: give makes a replica its
// holder, and the one that held it before loses it.
type leases struct {
	mu     sync.Mutex
	holder *lease
}

// lease is one replica's Lease.
type lease struct {
	all     *leases
	granted chan struct{} // closed once given to this replica
	lost    chan struct{} // of the current hold
}

func (a *leases) replica() *lease { return &lease{all: a, granted: make(chan struct{})} }

// revoke takes the lease from its holder, if any, and gives it to none;
// it reports whether there was one.
func (a *leases) revoke() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := a.holder
	if h == nil {
		return false
	}
	close(h.lost)
	h.granted = make(chan struct{})
	a.holder = nil
	return true
}

// give hands the lease to to.
func (a *leases) give(to *lease) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.holder == to {
		return
	}
	if h := a.holder; h != nil {
		close(h.lost)
		h.granted = make(chan struct{})
	}
	a.holder, to.lost = to, make(chan struct{})
	close(to.granted)
}

func (l *lease) Hold(ctx context.Context) (<-chan struct{}, error) {
	for {
		l.all.mu.Lock()
		granted := l.granted
		l.all.mu.Unlock()
		select {
		case <-granted:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		l.all.mu.Lock()
		if l.all.holder == l {
			lost := l.lost
			l.all.mu.Unlock()
			// A hold ends with its context: the lease is free then.
			context.AfterFunc(ctx, func() { l.all.free(l, lost) })
			return lost, nil
		}
		l.all.mu.Unlock()
	}
}

// holds reports whether l holds the lease; nil: whether nobody does.
func (a *leases) holds(l *lease) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.holder == l
}

// free ends l's hold lost, unless it has ended already.
func (a *leases) free(l *lease, lost chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.holder == l && l.lost == lost {
		close(lost)
		l.granted = make(chan struct{})
		a.holder = nil
	}
}
