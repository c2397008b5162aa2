package fanout

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// SkipFollower answers a waiting webhook on a replica that does not run
// the lanes: its deliveries are persisted, and the replica that holds the
// lease delivers them.
const SkipFollower = "follower"

// leadership is the pipeline's side of a Lease (Options.Lease): of the
// replicas sharing a store, only the one holding the lease keeps the
// pending deliveries in memory and attempts them. Without a Lease the
// pipeline is in one term for good.
type leadership struct {
	shared SharedStore
	// term is the stretch of running the lanes this replica is in, nil
	// while it follows; guarded by p.mu.
	term *term
	// closing ends when Close begins; release ends the hold of a lease
	// still held then, once Close has settled the attempts.
	closing    context.Context
	endClosing context.CancelFunc
	release    context.CancelFunc
	// waits ends when the server starts shutting down (EndWaits) or
	// Close begins: waiting webhooks answer then with what was attempted.
	waits    context.Context
	endWaits context.CancelFunc
}

// term is one stretch of this replica running the lanes. Its attempts
// run in its context, cancelled when the lease is lost, and losing it
// waits for them before the memory of the lanes is dropped.
type term struct {
	ctx      context.Context
	cancel   context.CancelFunc
	attempts sync.WaitGroup
	// ready says the pending deliveries are loaded: scheduling starts.
	ready bool
}

func newTerm(parent context.Context) *term {
	ctx, cancel := context.WithCancel(parent)
	return &term{ctx: ctx, cancel: cancel}
}

// lead runs the lanes whenever this replica holds the lease, until Close.
func (p *Pipeline) lead() {
	for {
		hold, release := context.WithCancel(context.Background())
		stopWaiting := context.AfterFunc(p.closing, release)
		lost, err := p.opts.Lease.Hold(hold)
		if !stopWaiting() || err != nil {
			release()
			if p.closing.Err() != nil {
				return
			}
			p.logger.Warn("taking the lease of the lanes failed", "err", err)
			if !sleep(p.closing, p.opts.RetryCap) {
				return
			}
			continue
		}
		if p.run(lost) {
			// Close ends the hold once the attempts in flight are settled,
			// so that no other replica starts them meanwhile.
			p.release = release
			return
		}
		release()
	}
}

// run runs the lanes from gaining the lease until it is lost (then it
// drops them) or Close begins (then Close settles the attempts); it
// reports the latter.
func (p *Pipeline) run(lost <-chan struct{}) (closing bool) {
	if err := p.gain(); err != nil {
		p.logger.Error("this replica cannot run the lanes: it gives them up", "err", err)
		p.lose()
		return !sleep(p.closing, p.opts.RetryCap)
	}
	watching, stopWatching := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { p.watch(watching) })
	select {
	case <-lost:
	case <-p.stop:
	}
	stopWatching()
	wg.Wait()
	select {
	case <-p.stop:
		return true
	default:
	}
	p.lose()
	return false
}

// gain begins a term: the pending deliveries of the shared store join
// the lanes, with those this replica accepts meanwhile, and then the
// lanes start.
func (p *Pipeline) gain() error {
	tm := newTerm(p.ctx)
	p.mu.Lock()
	p.term = tm
	p.mu.Unlock()
	if ls, ok := p.store.(LaneStore); ok {
		kept, err := ls.LoadLanes()
		if err != nil {
			p.logger.Warn("reading the lanes' state from the shared store failed; they start afresh", "err", err)
		}
		p.mu.Lock()
		for name, m := range kept {
			p.lane(name).restore(m)
		}
		p.mu.Unlock()
	}
	n := 0
	err := p.shared.Load(func(c *outbox.Candidate) {
		if p.admitShared(c) {
			n++
		}
	})
	if err != nil {
		return fmt.Errorf("loading the pending deliveries: %w", err)
	}
	p.mu.Lock()
	tm.ready = true
	p.mu.Unlock()
	p.poke()
	p.logger.Info("this replica runs the lanes", "pending", n)
	return nil
}

// watch admits the deliveries any replica accepts, until ctx ends. When
// watching fails, the pending deliveries are loaded again before it goes
// on, so that none accepted meanwhile is missed.
func (p *Pipeline) watch(ctx context.Context) {
	for {
		err := p.shared.Watch(ctx, func(c *outbox.Candidate) { p.admitShared(c) })
		if ctx.Err() != nil {
			return
		}
		p.logger.Warn("watching the deliveries the replicas accept failed: loading the pending ones again", "err", err)
		for {
			if !sleep(ctx, p.opts.RetryCap) {
				return
			}
			if err = p.shared.Load(func(c *outbox.Candidate) { p.admitShared(c) }); err == nil {
				break
			}
			p.logger.Warn("loading the pending deliveries failed", "err", err)
		}
	}
}

// admitShared admits a delivery the shared store gave, unless it is known
// already; it reports whether it joined a lane.
func (p *Pipeline) admitShared(c *outbox.Candidate) bool {
	p.mu.Lock()
	_, known := p.entries[c.Delivery.ID]
	e, _ := p.admitOnce(c)
	p.mu.Unlock()
	if e == nil || known {
		return false
	}
	p.poke()
	return true
}

// admitOnce admits an accepted delivery into the lanes while this replica
// runs them (see admit); with a Lease, a delivery already known is not
// admitted again: it returns its entry. p.mu must be held.
func (p *Pipeline) admitOnce(c *outbox.Candidate) (e *entry, replaced bool) {
	if p.term == nil {
		return nil, false
	}
	if p.opts.Lease != nil {
		if e := p.entries[c.Delivery.ID]; e != nil {
			return e, false
		}
	}
	return p.admit(c)
}

// lose ends the term: no attempt starts any more, those in flight are
// cancelled (their deliveries stay pending, nothing is recorded for
// them), and once they are settled the lanes' memory is dropped. With a
// LaneStore, the next leader takes up each lane's pause, backoff and
// breaker from the state keepLane saved.
func (p *Pipeline) lose() {
	p.mu.Lock()
	tm := p.term
	p.term = nil
	cancelled := p.running
	for _, e := range p.entries {
		e.answer(core.Skip(SkipFollower))
	}
	p.mu.Unlock()
	tm.cancel()
	tm.attempts.Wait()
	p.mu.Lock()
	p.dropLanes()
	p.mu.Unlock()
	p.logger.Info("another replica runs the lanes", "attempts_cancelled", cancelled)
}

// dropLanes forgets every pending delivery and lane; p.mu must be held,
// and no attempt may be in flight.
func (p *Pipeline) dropLanes() {
	for _, e := range p.entries {
		p.drop(e)
		p.bytes -= int64(e.size)
	}
	clear(p.entries)
	clear(p.slots)
	clear(p.lanes)
	clear(p.turns)
	p.turns = p.turns[:0]
	p.backlog = 0
	p.freed()
}

// leading reports whether this replica runs the lanes.
func (p *Pipeline) leading() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.term != nil
}

// sleep waits for d, or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
