package fanout

import (
	"sync"
	"time"

	"github.com/am-fanout/am-fanout/outbox"
)

// settler writes the attempts' settlements to a store whose writes share
// group commits (Committer: bbolt). An attempt queues its settlement and
// returns; one goroutine writes everything queued at the time in one
// write and runs each settlement's completion once it is durable.
// Without it every attempt waits for its commit in a goroutine of its
// own, and a commit wakes one goroutine per attempt it holds: under load
// those wake-ups, more than the disk, kept the committer and the
// webhooks' answers waiting for a CPU (BENCHMARKS.md). A store without
// group commits (JetStream: a sequence of requests per settlement) is
// written from each attempt's goroutine, in parallel.
type settler struct {
	// on: the store has group commits, and settlements are queued.
	on      bool
	mu      sync.Mutex
	queue   []queuedSettlement
	running bool
	wg      sync.WaitGroup
}

// queuedSettlement is one settlement waiting to be written and what
// runs once it is.
type queuedSettlement struct {
	st   *outbox.Settlement
	then func(error)
}

// write records st durably, then calls then with the store's answer:
// at once, from the caller's goroutine, for a store without group
// commits; else later, from the settler's.
func (p *Pipeline) write(st *outbox.Settlement, then func(error)) {
	s := &p.settler
	if !s.on {
		then(p.store.Record(st.At, st))
		return
	}
	s.mu.Lock()
	s.queue = append(s.queue, queuedSettlement{st: st, then: then})
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if start {
		s.wg.Go(p.writeQueued)
	}
}

// writeQueued writes the queued settlements until none is left. A write
// that fails is tried again settlement by settlement, so that one bad
// settlement cannot fail the others.
func (p *Pipeline) writeQueued() {
	s := &p.settler
	var ss []*outbox.Settlement
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		if len(batch) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		ss = ss[:0]
		for _, q := range batch {
			ss = append(ss, q.st)
		}
		err := p.store.Record(time.Now(), ss...)
		for _, q := range batch {
			if err != nil && len(batch) > 1 {
				q.then(p.store.Record(q.st.At, q.st))
				continue
			}
			q.then(err)
		}
	}
}
