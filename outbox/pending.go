package outbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// The states of a delivery in a webhook answer.
const (
	// StateAccepted: persisted now; it will be delivered.
	StateAccepted = "accepted"
	// StateAlreadyDelivered: the same state reached the target within
	// the dedup window.
	StateAlreadyDelivered = "already_delivered"
	// StateAlreadyPending: the same state is pending from an earlier
	// notification.
	StateAlreadyPending = "already_pending"
	// StateStale: a newer state of the alert was accepted for the target
	// already, so this one is never delivered.
	StateStale = "stale"
)

// Candidate is one delivery offered to the store, its record encoded
// before the commit, and what the store decided for it. Load and Replay
// hand pending deliveries over in the same form.
type Candidate struct {
	Delivery *Delivery
	// data is the delivery's record. A candidate of Encoder.Alert has
	// none yet: rec is its delivery without the alert, after room for a
	// shared record's header, and payload the alert, which a file store
	// writes once for the candidates of all its targets (recordOf), and
	// any other store puts back in (inline).
	data    []byte
	rec     []byte
	payload *payload
	size    int
	// shared is how much of size is the alert's encoding, shared with
	// the same alert's deliveries to other targets.
	shared int
	// State is what Accept decided: StateAccepted, StateAlreadyDelivered,
	// StateAlreadyPending or StateStale; "" when nothing was decided (a
	// hand-over whose dead letter was not buried).
	State string
	// Old is the pending delivery an accepted one superseded, 0 if none.
	Old uint64
	// Seq numbers the accepted deliveries in the order of their commits
	// (a store's commits run one at a time).
	Seq uint64
}

// NewCandidate offers d, encoded as it is.
func NewCandidate(d *Delivery) *Candidate {
	data, _ := json.Marshal(d)
	return &Candidate{Delivery: d, data: data, size: len(data)}
}

// inline is the delivery's record with its alert in it. Built from rec
// and payload, it lets go of both: the whole record holds the alert.
func (c *Candidate) inline() []byte {
	switch {
	case c.data != nil:
	case c.payload != nil:
		b := make([]byte, 0, c.size)
		b = append(b, `{"alert":`...)
		b = append(b, c.payload.json...)
		b = append(b, ',')
		c.data = append(b, c.rec[sharedHeader+1:]...)
	default:
		c.data, _ = json.Marshal(c.Delivery)
		c.size = len(c.data)
	}
	c.rec, c.payload = nil, nil
	return c.data
}

// sharing is the delivery's shared record, naming the payload ref.
func (c *Candidate) sharing(ref uint64) []byte {
	c.rec[0] = sharedRecord
	binary.BigEndian.PutUint64(c.rec[1:sharedHeader], ref)
	return c.rec
}

// Size is the size of the candidate's record, which counts against the
// bounds of pending deliveries.
func (c *Candidate) Size() int { return c.size }

// Shared is how many bytes of the record are its alert's encoding, when
// Encoder.Alert made it: the deliveries of one alert to several targets
// differ only in their target then. 0 for any other candidate.
func (c *Candidate) Shared() int { return c.shared }

// Encoder makes the candidates of one notification's deliveries: each
// alert is encoded once for all the targets that select it.
type Encoder struct {
	alerts      []*core.EnrichedAlert
	encoded     []*payload
	memos       []*core.RenderMemo
	now         time.Time
	traceParent string
}

// NewEncoder encodes the deliveries of alerts accepted at now; tp is the
// traceparent of the accept span, if any.
func NewEncoder(alerts []*core.EnrichedAlert, now time.Time, tp string) *Encoder {
	return &Encoder{alerts: alerts, encoded: make([]*payload, len(alerts)), memos: make([]*core.RenderMemo, len(alerts)), now: now, traceParent: tp}
}

// Alert is the delivery of the notification's alert i to target.
func (e *Encoder) Alert(target string, i int) *Candidate {
	if e.encoded[i] == nil {
		e.encoded[i] = &payload{json: e.alerts[i].AppendJSON(make([]byte, 0, 1024))}
		e.memos[i] = new(core.RenderMemo)
	}
	p := e.encoded[i]
	p.uses++
	// The candidate and its delivery in one allocation.
	cd := &struct {
		c Candidate
		d Delivery
	}{d: Delivery{Target: target, Alert: *e.alerts[i], AcceptedAt: e.now, NextAttempt: e.now, TraceParent: e.traceParent, Memo: e.memos[i]}}
	rec := (&newDelivery{Target: target, AcceptedAt: e.now, NextAttempt: e.now, TraceParent: e.traceParent}).appendTo(make([]byte, sharedHeader, sharedHeader+len(target)+len(e.traceParent)+160))
	cd.c = Candidate{Delivery: &cd.d, rec: rec, payload: p, size: inlineSize(len(rec)-sharedHeader, len(p.json)), shared: len(p.json)}
	return &cd.c
}

// Group is the delivery of n, made of the notification's alerts, to
// target as one message.
func (e *Encoder) Group(target string, n *core.Notification) *Candidate {
	group, _ := json.Marshal(n)
	d := &Delivery{Target: target, Group: n, AcceptedAt: e.now, NextAttempt: e.now, TraceParent: e.traceParent}
	data := (&newDelivery{Target: target, Group: group, AcceptedAt: e.now, NextAttempt: e.now, TraceParent: e.traceParent}).appendTo(nil)
	return &Candidate{Delivery: d, data: data, size: len(data)}
}

// Load calls fn with every pending delivery, in acceptance order, as an
// accepted candidate numbered after the ones accepted before.
func (s *Store) Load(fn func(*Candidate)) error {
	n := 0
	err := s.view(func(tx *txn) error {
		payloads := s.payloads(tx)
		return s.pending(tx).ForEach(func(k, v []byte) error {
			var d Delivery
			size, err := decodePending(v, payloads, &d)
			if err != nil {
				return fmt.Errorf("pending delivery %d: %w", decodeID(k), err)
			}
			d.ID = decodeID(k)
			fn(&Candidate{Delivery: &d, size: size, State: StateAccepted, Seq: s.commits.Add(1)})
			n++
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("outbox store %s: %w", s.Path(), err)
	}
	if n > 0 {
		s.opts.Logger.Info("outbox resumes pending deliveries", "pending", n, "file", s.Path())
	}
	return nil
}

// Accept decides every candidate's state in one durable commit, shared
// with the other writes waiting at the time, so that concurrent
// notifications of one alert are ordered by commit order: a delivery
// done within the dedup window is already delivered, one pending already
// pending, one older than the newest accepted state of its alert (or
// group) stale; the others are accepted, each superseding the pending
// older state of its alert.
func (s *Store) Accept(cands []*Candidate, now time.Time) error {
	for _, c := range cands {
		// Encoded before the commit. A candidate whose alert goes to it
		// alone, or to a store in memory, holds the whole record and lets
		// go of the alert's JSON before the commit, not after (of a
		// notification of 10 000 alerts to one target, 6 MiB held through
		// it: TestMemoryStaysUnderChartLimit).
		if c.payload != nil && (c.payload.uses < 2 || s.mem != nil) {
			c.inline()
		}
	}
	err := s.update(func(tx *txn) error { return s.decide(tx, cands, now) })
	if err == nil {
		// The records are written: what the candidates go on to be
		// (answers, lanes) need not hold them, nor the alerts' JSON.
		for _, c := range cands {
			c.data, c.rec, c.payload = nil, nil, nil
		}
	}
	return err
}

// decide settles each candidate's state inside the transaction.
func (s *Store) decide(tx *txn, cands []*Candidate, now time.Time) error {
	pending := s.pending(tx)
	fillInOrder(pending)
	done, settled := doneIn(tx), seek(tx.Bucket(bucketSettled))
	// The payload each shared alert was written to in this transaction.
	var written map[*payload]uint64
	for _, c := range cands {
		// The transaction may run again alone: decide afresh.
		c.State, c.Old, c.Seq, c.Delivery.ID = StateAccepted, 0, 0, 0
		d := c.Delivery
		slotKey := fileKey(d.Slot())
		st, known := s.slots.get(tx, slotKey)
		settle(&st, pending, settled)
		x := d.order()
		if s.deliveredIn(done, st, known, d, x, now) {
			c.State = StateAlreadyDelivered
			continue
		}
		switch v := st.verdict(known, x); {
		case v == StateStale:
			c.State = StateStale
			continue
		case v == StateAlreadyPending, d.Group != nil && st.Pending != 0 && samePending(pending, st.Pending, d):
			c.State, d.ID = StateAlreadyPending, st.Pending
			continue
		case st.Pending != 0:
			c.Old = st.Pending
			if err := pending.Delete(encodeID(st.Pending)); err != nil {
				return err
			}
		}
		id, err := pending.NextSequence()
		if err != nil {
			return err
		}
		d.ID, c.Seq = id, s.commits.Add(1)
		data, err := s.recordOf(tx, c, id, &written)
		if err != nil {
			return err
		}
		if err := pending.Insert(encodeID(id), data); err != nil {
			return err
		}
		if err := s.slots.put(tx, slotKey, st.after(known, x, id, now)); err != nil {
			return err
		}
	}
	return nil
}

// recordOf is the pending record of c, accepted as id: a shared record
// when c still has its payload (Accept keeps it only for an alert to
// several targets of a file store), the alert written to the payloads
// bucket with the first of them, which written notes; else the whole
// record.
func (s *Store) recordOf(tx *txn, c *Candidate, id uint64, written *map[*payload]uint64) ([]byte, error) {
	if c.payload == nil {
		return c.inline(), nil
	}
	ref, ok := (*written)[c.payload]
	if !ok {
		ref = id
		if err := tx.Bucket(bucketPayloads).Put(encodeID(ref), c.payload.json); err != nil {
			return nil, err
		}
		if *written == nil {
			*written = map[*payload]uint64{}
		}
		(*written)[c.payload] = ref
	}
	return c.sharing(ref), nil
}

// payloads reads tx's shared alerts (a store in memory has none).
func (s *Store) payloads(tx *txn) seeker { return seek(tx.Bucket(bucketPayloads)) }

// samePending reports whether the pending group delivery id carries the
// same notification as d (a resend of it), which is then not coalesced
// but answered as already pending.
func samePending(pending records, id uint64, d *Delivery) bool {
	return carriesSame(pending.Get(encodeID(id)), d)
}

// carriesSame reports whether the record v is a delivery with d's key.
func carriesSame(v []byte, d *Delivery) bool {
	var p Delivery
	return v != nil && json.Unmarshal(v, &p) == nil && p.key() == d.key()
}

// Read returns the pending delivery id; nil, with no error, when it is no
// longer pending (a newer state's commit deleted it).
func (s *Store) Read(id uint64) (*Delivery, error) {
	var d *Delivery
	var decodeErr error
	err := s.peek(func(tx *txn) error {
		d, decodeErr = nil, nil
		v := s.pending(tx).Get(encodeID(id))
		if v == nil {
			return nil
		}
		d = &Delivery{ID: id}
		if _, decodeErr = decodePending(v, s.payloads(tx), d); decodeErr != nil {
			d = nil
		}
		return nil
	})
	return d, errors.Join(err, decodeErr)
}

// Fate is what an attempt's outcome leads to for its delivery, as the
// store records it.
type Fate int

const (
	// FateDone: delivered; the record leaves for the dedup log.
	FateDone Fate = iota
	// FateRetry: still pending; the record is updated in place.
	FateRetry
	// FateDead: failed for good; the record becomes a dead letter.
	FateDead
)

// Settlement is what the store records of one delivery's attempt.
type Settlement struct {
	Delivery *Delivery
	Fate     Fate
	// Attempt, when set, is the attempt's outcome, added to the
	// delivery's history.
	Attempt *core.Outcome
	// At is when the attempt settled, the time of its history line and
	// of its done record; zero for the time Record is called.
	At time.Time
	// Handover, for a dead letter, are the deliveries that hand it to its
	// fallback targets: accepted in the commit that buries it, so that a
	// crash loses neither.
	Handover []*Candidate
}

// when is the settlement's time: At, or now when it is not set.
func (st *Settlement) when(now time.Time) time.Time {
	if st.At.IsZero() {
		return now
	}
	return st.At
}

// Record writes settlements in one durable commit: a done delivery leaves
// the pending deliveries for the dedup log, a dead one becomes a dead
// letter with its hand-over accepted, a retry is updated in place; each
// attempt's line goes into its history about historyLinger later. A
// delivery a newer state superseded is no longer pending: it is not
// written back, and a dead one is neither buried nor handed over, as the
// newer state goes on.
func (s *Store) Record(now time.Time, ss ...*Settlement) error {
	// Encoded here, not in the transaction all writers share.
	data := make([][]byte, len(ss))
	var lines []*historyEntry
	for i, st := range ss {
		if st.Fate != FateDone {
			data[i], _ = json.Marshal(st.Delivery)
		}
		if st.Attempt != nil {
			lines = append(lines, newHistoryEntry(st.Delivery, st.Attempt, st.Fate, st.when(now)))
		}
	}
	err := s.updateLazily(func(tx *txn) error {
		pending := s.pending(tx)
		var ends []settledEnd
		for i, st := range ss {
			var err error
			at := st.when(now)
			if st.Fate == FateDead {
				// Its hand-over is decided against the settled log:
				// the ends before it first.
				if err = writeSettled(tx, ends); err == nil {
					ends = ends[:0]
					err = s.bury(tx, pending, st.Delivery, data[i], st.Handover, at)
				}
			} else {
				err = s.record(tx, pending, &ends, st.Delivery, data[i], st.Fate, at)
			}
			if err != nil {
				return err
			}
		}
		return writeSettled(tx, ends)
	})
	if err != nil {
		return err
	}
	// The attempts' lines go into their history a little later, in a
	// commit of many (historybuf.go).
	if len(lines) > 0 && s.bufferHistory(lines) {
		s.writeHistory(false)
	}
	return nil
}

// record writes an attempt's outcome: a done delivery leaves the pending
// bucket for the dedup log, a dead one moves to the dead letters, a retry
// is updated in place. pending reads tx's pending deliveries; an alert's
// end is added to ends, for the caller to note in the settled log
// (writeSettled) once its settlements are all recorded (only a done
// delivery uses ends: bury, recording deaths, passes none).
func (s *Store) record(tx *txn, pending records, ends *[]settledEnd, d *Delivery, data []byte, what Fate, now time.Time) error {
	id := encodeID(d.ID)
	switch what {
	case FateRetry:
		if pending.Get(id) == nil {
			return nil
		}
		return pending.Put(id, data)
	case FateDone:
		// A notification's resends are known by the states it carries,
		// which its slot does not hold. An alert's delivery goes into the
		// settled log, by id: its slot, keyed by the alert's fingerprint
		// and so on a page of its own, learns of it when the alert's
		// next state reads it (settle), instead of being written twice
		// for every delivery.
		if d.Group != nil {
			if err := tx.Bucket(bucketDone).Put(fileKey(d.key()), encodeTime(now)); err != nil {
				return err
			}
			break
		}
		*ends = append(*ends, settledEnd{d.ID, now})
	case FateDead:
		if pending.Get(id) == nil {
			return nil
		}
		if err := tx.Bucket(bucketDead).Put(id, data); err != nil {
			return err
		}
	}
	if err := pending.Delete(id); err != nil {
		return err
	}
	if d.Group == nil {
		return nil
	}
	return s.clearPending(tx, d, what == FateDone, now)
}

// settle reads into st what became of its pending delivery since the slot
// was written, as the end of an alert's delivery does not write its slot
// (record): a delivery no longer pending was delivered when the settled
// log has it, at a time no earlier than the slot's (an earlier one is
// another delivery's end under the same id, as volatile stores before
// memorySince gave after a restart), and otherwise died or, in a volatile
// store, was lost with a restart. Every reader of a slot's pending id
// goes through it.
func settle(st *slotState, pending records, settled seeker) {
	if st.Pending == 0 {
		return
	}
	if pending.Get(encodeID(st.Pending)) != nil {
		return
	}
	at := settledAt(settled, st.Pending)
	st.Pending = 0
	if !at.IsZero() && !at.Before(st.At) {
		st.Delivered, st.At = true, at
	}
}

// clearPending notes that the slot's newest state is no longer pending,
// and whether it was delivered. A delivery a newer state superseded
// leaves the slot as it is: its resends are stale.
func (s *Store) clearPending(tx *txn, d *Delivery, delivered bool, now time.Time) error {
	key := fileKey(d.Slot())
	st, ok := s.slots.get(tx, key)
	if !ok || st.Pending != d.ID {
		return nil
	}
	st.Pending, st.At, st.Delivered = 0, now, delivered
	return s.slots.put(tx, key, st)
}

// bury moves d to the dead letters and accepts its fallback deliveries
// in the same transaction: either d is still pending and fails again, or
// both are written.
func (s *Store) bury(tx *txn, pending records, d *Delivery, data []byte, hand []*Candidate, now time.Time) error {
	for _, c := range hand {
		c.State = ""
	}
	if pending.Get(encodeID(d.ID)) == nil {
		return nil
	}
	if err := s.record(tx, pending, nil, d, data, FateDead, now); err != nil {
		return err
	}
	return s.decide(tx, hand, now)
}
