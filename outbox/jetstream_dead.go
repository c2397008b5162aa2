package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// deadFilter is the subject of sel's dead letters, "" for every one.
func (s *JetStreamStore) deadFilter(sel Selection) string {
	if sel.Target == "" {
		return ""
	}
	return s.names.deadSubject + hashHex(sel.Target, 8)
}

// eachDead calls fn with the dead letters of sel from sequence from on,
// until fn says stop.
func (s *JetStreamStore) eachDead(ctx context.Context, sel Selection, from uint64, fn func(*Delivery) bool) error {
	visit := func(m *jetstream.RawStreamMsg) (bool, error) {
		d, err := deadOf(m.Sequence, m.Data, sel)
		if d == nil || err != nil {
			return err == nil, err
		}
		return fn(d), nil
	}
	if sel.ID != 0 {
		m, err := getMsg(ctx, s.dead, sel.ID)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = visit(m)
		return err
	}
	return s.scan(ctx, s.dead, s.deadFilter(sel), from, visit)
}

// DeadLetters lists the dead letters of sel in id order (their sequence
// in the dead letters' stream), from after page.After; next is the After
// of the next page, 0 when this one is the last.
func (s *JetStreamStore) DeadLetters(sel Selection, page Page) (list []DeadLetter, next uint64, err error) {
	ctx, cancel := s.ctx()
	defer cancel()
	p := newPageFill(page)
	err = s.eachDead(ctx, sel, page.After+1, func(d *Delivery) bool {
		if p.full() {
			return false
		}
		_ = p.add(nil, d)
		return true
	})
	if err != nil {
		return nil, 0, fmt.Errorf("nats store: reading dead letters: %w", err)
	}
	return p.list, p.next, nil
}

// Replay makes the dead letters of sel pending again, each decided as an
// acceptance is (already delivered, stale, already pending, or accepted
// with a fresh maximum age), and deletes the ones replayed. A replayed
// delivery gets a new id, its sequence in the pending stream; Replayed
// names the dead letter's.
func (s *JetStreamStore) Replay(sel Selection, now time.Time) ([]Replayed, []*Candidate, error) {
	if sel.ID == 0 && sel.Target == "" {
		return nil, nil, errors.New("replay needs an id or a target")
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var letters []*Delivery
	if err := s.eachDead(ctx, sel, 1, func(d *Delivery) bool { letters = append(letters, d); return true }); err != nil {
		return nil, nil, fmt.Errorf("replaying dead letters: %w", err)
	}
	var out []Replayed
	var back []*Candidate
	for _, d := range letters {
		deadID := d.ID
		d.Attempts, d.AcceptedAt, d.NextAttempt, d.DeadAt, d.DeadReason = 0, now, now, time.Time{}, ""
		d.FallbackTo, d.LastError, d.Prepared = nil, "", false
		c := NewCandidate(d)
		if err := s.decide(ctx, c, now, "replay."+strconv.FormatUint(deadID, 10), 0); err != nil {
			return out, back, fmt.Errorf("replaying dead letter %d: %w", deadID, err)
		}
		state := c.State
		if state == StateAccepted {
			state = StateReplayed
			back = append(back, c)
			if err := s.dead.DeleteMsg(ctx, deadID); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				return out, back, fmt.Errorf("replaying dead letter %d: %w", deadID, err)
			}
		}
		out = append(out, Replayed{ID: deadID, Target: d.Target, State: state})
	}
	if sel.ID != 0 && len(out) == 0 {
		out = append(out, Replayed{ID: sel.ID, State: StateNotFound})
	}
	return out, back, nil
}

// Purge deletes the dead letters of sel for good and says how many; an
// empty selection purges every dead letter.
func (s *JetStreamStore) Purge(sel Selection) (int, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var ids []uint64
	if err := s.eachDead(ctx, sel, 1, func(d *Delivery) bool { ids = append(ids, d.ID); return true }); err != nil {
		return 0, fmt.Errorf("purging dead letters: %w", err)
	}
	n := 0
	for _, id := range ids {
		if err := s.dead.DeleteMsg(ctx, id); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, fmt.Errorf("purging dead letters: %w", err)
		}
		n++
	}
	return n, nil
}

// Prune has nothing to do: the server drops done records after the dedup
// window, history after the retention, ordering state with nothing
// pending after the retention and publisher state at its expiry, each by
// its TTL.
func (s *JetStreamStore) Prune(time.Time) error { return nil }

// PruneDeadLetters has nothing to do: the dead letters' stream applies
// their retention and bound itself, so it reports none dropped.
func (s *JetStreamStore) PruneDeadLetters(time.Time) (byAge, byCount int, err error) {
	return 0, 0, nil
}
