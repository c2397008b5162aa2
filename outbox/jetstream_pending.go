package outbox

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// slotRef is what a decision read of a slot: its state, whether it had
// one, and the revision a compare-and-set expects.
type slotRef struct {
	st    slotState
	known bool
	rev   uint64
}

func (s *JetStreamStore) slotKey(slot string) string { return hashHex(slot, 16) }

// readSlot reads a slot from the leader.
func (s *JetStreamStore) readSlot(ctx context.Context, key string) (slotRef, error) {
	m, err := s.leaderLast(ctx, "KV_"+s.names.latest, kvSubject(s.names.latest, key))
	if err != nil || m == nil {
		return slotRef{}, err
	}
	if isTombstone(m) {
		return slotRef{rev: m.Sequence}, nil
	}
	st, ok := decodeSlot(m.Data)
	if !ok {
		return slotRef{}, fmt.Errorf("ordering record %s: %d bytes, not a slot state", key, len(m.Data))
	}
	return slotRef{st: st, known: true, rev: m.Sequence}, nil
}

// writeSlot sets a slot if its revision is still ref's, and returns the
// new revision. A slot with nothing pending expires after the retention.
func (s *JetStreamStore) writeSlot(ctx context.Context, key string, ref slotRef, st slotState) (uint64, error) {
	ttl := time.Duration(0)
	if st.Pending == 0 {
		ttl = s.opts.Store.Retention
	}
	return s.put(ctx, s.names.latest, key, st.encode(), true, ref.rev, ttl)
}

// Load calls fn with every pending delivery (one its slot names), in
// acceptance order, numbered by its slot's revision. Messages no slot
// names, older than twice the duplicate window, are deleted: they are
// the leftovers of decisions that failed midway or lost a race.
func (s *JetStreamStore) Load(fn func(*Candidate)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*s.opts.RequestTimeout)
	defer cancel()
	info, err := s.stream(ctx, "KV_"+s.names.latest)
	if err != nil {
		return fmt.Errorf("nats store: %w", err)
	}
	// Watch starts after the slots Load saw: a slot changed later is
	// seen by Watch.
	s.watchFrom.Store(info.CachedInfo().State.LastSeq + 1)
	var out []*Candidate
	var orphans []uint64
	err = s.scan(ctx, s.pending, "", 1, func(m *jetstream.RawStreamMsg) (bool, error) {
		d, ref, err := s.linked(ctx, m)
		if err != nil {
			return false, err
		}
		if d == nil {
			if time.Since(m.Time) > 2*s.opts.DuplicateWindow {
				orphans = append(orphans, m.Sequence)
			}
			return true, nil
		}
		data, err := s.merged(ctx, d, m.Data)
		if err != nil {
			return false, err
		}
		out = append(out, &Candidate{Delivery: d, size: len(data), State: StateAccepted, Seq: ref.rev})
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("nats store: loading pending deliveries: %w", err)
	}
	for _, seq := range orphans {
		_ = s.pending.DeleteMsg(ctx, seq)
	}
	slices.SortFunc(out, func(a, b *Candidate) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, c := range out {
		fn(c)
	}
	if len(out) > 0 {
		s.opts.Store.Logger.Info("outbox resumes pending deliveries", "pending", len(out), "stream", s.names.pending)
	}
	return nil
}

// linked decodes a pending message and returns it with its slot when
// the slot names it; nil when it does not (it is not pending).
func (s *JetStreamStore) linked(ctx context.Context, m *jetstream.RawStreamMsg) (*Delivery, slotRef, error) {
	d := &Delivery{}
	if err := json.Unmarshal(m.Data, d); err != nil {
		return nil, slotRef{}, fmt.Errorf("pending delivery %d: %w", m.Sequence, err)
	}
	d.ID = m.Sequence
	ref, err := s.readSlot(ctx, s.slotKey(d.Slot()))
	if err != nil || !ref.known || ref.st.Pending != d.ID {
		return nil, ref, err
	}
	return d, ref, nil
}

// merged replaces d by its retry record when it has one, and returns the
// record's encoding.
func (s *JetStreamStore) merged(ctx context.Context, d *Delivery, data []byte) ([]byte, error) {
	e, err := kvGet(ctx, s.retry, strconv.FormatUint(d.ID, 10))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return data, nil
	}
	if err != nil {
		return nil, err
	}
	id := d.ID
	*d = Delivery{}
	if err := json.Unmarshal(e.Value(), d); err != nil {
		return nil, fmt.Errorf("retry record of delivery %d: %w", id, err)
	}
	d.ID = id
	return e.Value(), nil
}

// Read returns the pending delivery id, its retry record if it has one;
// nil, with no error, when its slot no longer names it.
func (s *JetStreamStore) Read(id uint64) (*Delivery, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	m, err := getMsg(ctx, s.pending, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nats store: reading delivery %d: %w", id, err)
	}
	d, _, err := s.linked(ctx, m)
	if d == nil || err != nil {
		return nil, err
	}
	if _, err := s.merged(ctx, d, m.Data); err != nil {
		return nil, err
	}
	return d, nil
}

// forget deletes a delivery no slot names any more: its message and its
// retry record. A failure leaves a message that is not pending, which
// Load deletes later.
func (s *JetStreamStore) forget(ctx context.Context, id uint64) {
	if err := s.pending.DeleteMsg(ctx, id); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		s.opts.Store.Logger.Debug("deleting a delivery no longer pending failed", "id", id, "err", err)
	}
	_ = s.retry.Purge(ctx, strconv.FormatUint(id, 10), s.markerTTL()...)
}

func (s *JetStreamStore) markerTTL() []jetstream.KVDeleteOpt {
	if !s.keyTTL {
		return nil
	}
	return []jetstream.KVDeleteOpt{jetstream.PurgeTTL(time.Minute)}
}

// samePending reports whether the pending group delivery id carries the
// same notification as d.
func (s *JetStreamStore) samePending(ctx context.Context, id uint64, d *Delivery) bool {
	m, err := getMsg(ctx, s.pending, id)
	return err == nil && carriesSame(m.Data, d)
}

// deliveredAt reports whether key is in the dedup log within the window.
func (s *JetStreamStore) deliveredAt(ctx context.Context, key string, now time.Time) (bool, error) {
	m, err := s.leaderLast(ctx, "KV_"+s.names.done, kvSubject(s.names.done, hashHex(key, 16)))
	if err != nil || m == nil || isTombstone(m) {
		return false, err
	}
	at := decodeTime(m.Data)
	return !at.IsZero() && now.Sub(at) < s.opts.Store.DedupWindow, nil
}

// Record writes the settlements, one after the other: a done delivery
// into the dedup log, then released by its slot and deleted; a dead one
// published as a dead letter, its hand-over accepted, then released; a
// retry's record into the retry bucket. Each attempt's line goes into its
// history. A delivery its slot no longer names is neither written back
// nor buried.
func (s *JetStreamStore) Record(now time.Time, ss ...*Settlement) error {
	ctx, cancel := s.ctx()
	defer cancel()
	for _, st := range ss {
		at := st.when(now)
		if err := s.settle(ctx, st, at); err != nil {
			return fmt.Errorf("nats store: recording delivery %d: %w", st.Delivery.ID, err)
		}
		if st.Attempt != nil {
			if err := s.appendHistory(ctx, newHistoryEntry(st.Delivery, st.Attempt, st.Fate, at), at); err != nil {
				return fmt.Errorf("nats store: history of delivery %d: %w", st.Delivery.ID, err)
			}
		}
	}
	return nil
}

func (s *JetStreamStore) settle(ctx context.Context, st *Settlement, now time.Time) error {
	d := st.Delivery
	for _, c := range st.Handover {
		c.State = ""
	}
	slot := s.slotKey(d.Slot())
	ref, err := s.readSlot(ctx, slot)
	if err != nil {
		return err
	}
	pending := ref.known && ref.st.Pending == d.ID
	switch st.Fate {
	case FateRetry:
		if !pending {
			return nil
		}
		data, _ := json.Marshal(d)
		_, err := s.put(ctx, s.names.retry, strconv.FormatUint(d.ID, 10), data, false, 0, 0)
		return err
	case FateDone:
		if _, err := s.put(ctx, s.names.done, hashHex(d.key(), 16), encodeTime(now), false, 0, 0); err != nil {
			return err
		}
	case FateDead:
		if !pending {
			return nil
		}
		data, _ := json.Marshal(d)
		m := &nats.Msg{Subject: s.names.deadSubject + hashHex(d.Target, 8), Data: data}
		if _, err := s.publish(ctx, m, jetstream.WithMsgID("dead."+strconv.FormatUint(d.ID, 10))); err != nil {
			return err
		}
		if err := s.acceptAll(ctx, st.Handover, now); err != nil {
			return err
		}
	}
	return s.release(ctx, slot, ref, d.ID, now)
}

// release clears the slot's pending delivery if it is still id, and
// deletes the delivery.
func (s *JetStreamStore) release(ctx context.Context, slot string, ref slotRef, id uint64, now time.Time) error {
	for range maxDecideRounds {
		if !ref.known || ref.st.Pending != id {
			break
		}
		next := ref.st
		next.Pending, next.At = 0, now
		_, err := s.writeSlot(ctx, slot, ref, next)
		if err == nil {
			break
		}
		if !isConflict(err) {
			return err
		}
		if ref, err = s.readSlot(ctx, slot); err != nil {
			return err
		}
	}
	s.forget(ctx, id)
	return nil
}
