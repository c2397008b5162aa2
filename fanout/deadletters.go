package fanout

import (
	"time"

	"github.com/am-fanout/am-fanout/outbox"
)

// DeadLetters lists the dead letters of sel in id order (the order they
// were accepted), from after page.After; next is the After of the next
// page, 0 when this one is the last.
func (p *Pipeline) DeadLetters(sel outbox.Selection, page outbox.Page) (list []outbox.DeadLetter, next uint64, err error) {
	return p.store.DeadLetters(sel, page)
}

// Replay makes the dead letters of sel pending again, with a fresh
// maximum age, queues them in their lanes (the leader's, when this
// replica does not hold the lease), and logs what it did.
func (p *Pipeline) Replay(sel outbox.Selection) ([]outbox.Replayed, error) {
	out, back, err := p.store.Replay(sel, time.Now())
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	for _, c := range back {
		p.admitOnce(c)
	}
	p.mu.Unlock()
	p.poke()
	p.logger.Info("dead letters replayed", "id", sel.ID, "target", sel.Target, "replayed", len(back), "asked", len(out))
	return out, nil
}

// Purge deletes the dead letters of sel for good and says how many; an
// empty selection purges every dead letter.
func (p *Pipeline) Purge(sel outbox.Selection) (int, error) {
	n, err := p.store.Purge(sel)
	if err != nil {
		return 0, err
	}
	p.logger.Info("dead letters purged", "id", sel.ID, "target", sel.Target, "purged", n)
	return n, nil
}
