package outbox

import "time"

// DeadLetters lists the dead letters of sel in id order (the order they
// were accepted), from after page.After; next is the After of the next
// page, 0 when this one is the last.
func (o *Outbox) DeadLetters(sel Selection, page Page) (list []DeadLetter, next uint64, err error) {
	return o.store.DeadLetters(sel, page)
}

// Replay makes the dead letters of sel pending again, with a fresh
// maximum age, queues them in their lanes, and logs what it did.
func (o *Outbox) Replay(sel Selection) ([]Replayed, error) {
	out, back, err := o.store.Replay(sel, time.Now())
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	for _, c := range back {
		o.admit(c)
	}
	o.mu.Unlock()
	o.poke()
	o.logger.Info("dead letters replayed", "id", sel.ID, "target", sel.Target, "replayed", len(back), "asked", len(out))
	return out, nil
}

// Purge deletes the dead letters of sel for good and says how many; an
// empty selection purges every dead letter.
func (o *Outbox) Purge(sel Selection) (int, error) {
	n, err := o.store.Purge(sel)
	if err != nil {
		return 0, err
	}
	o.logger.Info("dead letters purged", "id", sel.ID, "target", sel.Target, "purged", n)
	return n, nil
}

// Histories lists the recent deliveries q selects, newest first.
func (o *Outbox) Histories(q HistoryQuery) ([]History, error) { return o.store.Histories(q) }
