package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// The states of a replay, per dead letter.
const (
	// StateReplayed: the dead letter is pending again.
	StateReplayed = "replayed"
	// StateNotFound: no dead letter has this id.
	StateNotFound = "not_found"
)

// Replayed is the fate of one dead letter asked to be replayed. A dead
// letter whose state was delivered since, or for which a newer state was
// accepted, stays a dead letter: replaying it would break the order.
type Replayed struct {
	ID     uint64 `json:"id"`
	Target string `json:"target,omitempty"`
	State  string `json:"state"`
}

// DeadLetter is a delivery that failed for good, as the outbox lists it:
// the alert it carries is named, not included. It never holds a secret.
type DeadLetter struct {
	ID          uint64            `json:"id"`
	Target      string            `json:"target"`
	Fingerprint string            `json:"fingerprint"`
	AlertName   string            `json:"alertname,omitempty"`
	Status      core.AlertStatus  `json:"status"`
	StartsAt    time.Time         `json:"starts_at"`
	AcceptedAt  time.Time         `json:"accepted_at"`
	DeadAt      time.Time         `json:"dead_at"`
	Attempts    int               `json:"attempts"`
	Reason      string            `json:"reason"`
	LastError   string            `json:"last_error,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	// HandedTo lists the fallback targets the dead letter was handed to;
	// FallbackFrom, the target whose dead letter it was itself handed from.
	HandedTo     []string `json:"handed_to_fallbacks,omitempty"`
	FallbackFrom string   `json:"fallback_from,omitempty"`
}

func deadLetterOf(d *Delivery) DeadLetter {
	a := &d.Alert.Alert
	labels := a.Labels
	if d.Group != nil {
		// A notification is listed by its group: the labels it shares.
		labels = d.Group.Group.CommonLabels
	}
	return DeadLetter{
		ID: d.ID, Target: d.Target, Fingerprint: d.Fingerprint(), AlertName: labels["alertname"],
		Status: d.Status(), StartsAt: a.StartsAt, AcceptedAt: d.AcceptedAt, DeadAt: d.DeadAt,
		Attempts: d.Attempts, Reason: d.DeadReason, LastError: d.LastError, Labels: labels,
		HandedTo: d.FallbackTo, FallbackFrom: d.FallbackFrom,
	}
}

// Selection picks dead letters: one by id, or every one of a target, or
// every one when both are empty.
type Selection struct {
	ID     uint64
	Target string
}

func (s Selection) holds(id uint64, d *Delivery) bool {
	return (s.ID == 0 || s.ID == id) && (s.Target == "" || s.Target == d.Target)
}

// Page is a window of a listing: the entries after the id After, at most
// Limit of them; a zero Limit lists them all.
type Page struct {
	After uint64
	Limit int
}

// pageFill collects the dead letters of one page, in id order.
type pageFill struct {
	limit int
	list  []DeadLetter
	next  uint64
}

func newPageFill(page Page) *pageFill { return &pageFill{limit: page.Limit, list: []DeadLetter{}} }

// full says whether the page holds its limit while more letters follow,
// and notes then that the next page starts after its last.
func (p *pageFill) full() bool {
	if p.limit > 0 && len(p.list) == p.limit {
		p.next = p.list[len(p.list)-1].ID
		return true
	}
	return false
}

// add lists d.
func (p *pageFill) add(_ []byte, d *Delivery) error {
	p.list = append(p.list, deadLetterOf(d))
	return nil
}

// DeadLetters lists the dead letters of sel in id order (the order they
// were accepted), from after page.After; next is the After of the next
// page, 0 when this one is the last.
func (s *Store) DeadLetters(sel Selection, page Page) (list []DeadLetter, next uint64, err error) {
	p := newPageFill(page)
	err = s.view(func(tx *txn) error {
		if sel.ID != 0 {
			return eachDead(tx, sel, p.add)
		}
		c := tx.Bucket(bucketDead).Cursor()
		for k, v := c.Seek(encodeID(page.After + 1)); k != nil && !p.full(); k, v = c.Next() {
			if err := visitDead(k, v, sel, p.add); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("reading the outbox store: %w", err)
	}
	return p.list, p.next, nil
}

func eachDead(tx *txn, sel Selection, fn func(k []byte, d *Delivery) error) error {
	b := tx.Bucket(bucketDead)
	if sel.ID != 0 {
		v := b.Get(encodeID(sel.ID))
		if v == nil {
			return nil
		}
		return visitDead(encodeID(sel.ID), v, sel, fn)
	}
	return b.ForEach(func(k, v []byte) error { return visitDead(k, v, sel, fn) })
}

func visitDead(k, v []byte, sel Selection, fn func(k []byte, d *Delivery) error) error {
	d, err := deadOf(decodeID(k), v, sel)
	if d == nil || err != nil {
		return err
	}
	return fn(k, d)
}

// deadOf decodes the dead letter id, its record v; nil when sel does not
// hold it.
func deadOf(id uint64, v []byte, sel Selection) (*Delivery, error) {
	d := &Delivery{}
	if err := json.Unmarshal(v, d); err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", id, err)
	}
	d.ID = id
	if !sel.holds(id, d) {
		return nil, nil
	}
	return d, nil
}

// Replay makes the dead letters of sel pending again, with a fresh
// maximum age, unless the order of their alerts forbids it, in one
// commit. It returns the fate of each and the replayed deliveries, as
// accepted candidates for the lanes.
func (s *Store) Replay(sel Selection, now time.Time) ([]Replayed, []*Candidate, error) {
	if sel.ID == 0 && sel.Target == "" {
		return nil, nil, errors.New("replay needs an id or a target")
	}
	var out []Replayed
	var back []*Candidate
	err := s.update(func(tx *txn) error {
		out, back = nil, nil
		var keys [][]byte
		var letters []*Delivery
		err := eachDead(tx, sel, func(k []byte, d *Delivery) error {
			keys, letters = append(keys, append([]byte(nil), k...)), append(letters, d)
			return nil
		})
		if err != nil {
			return err
		}
		for i, d := range letters {
			state, c, err := s.revive(tx, keys[i], d, now)
			if err != nil {
				return err
			}
			out = append(out, Replayed{ID: d.ID, Target: d.Target, State: state})
			if c != nil {
				back = append(back, c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("replaying dead letters: %w", err)
	}
	if sel.ID != 0 && len(out) == 0 {
		out = append(out, Replayed{ID: sel.ID, State: StateNotFound})
	}
	return out, back, nil
}

// revive moves one dead letter back to pending unless the order of its
// alert forbids it; a replayed one is returned as an accepted candidate,
// naming the pending delivery it superseded.
func (s *Store) revive(tx *txn, key []byte, d *Delivery, now time.Time) (string, *Candidate, error) {
	pending := s.pending(tx)
	slotKey := fileKey(d.Slot())
	st, known := s.slots.get(tx, slotKey)
	settle(&st, pending, seek(tx.Bucket(bucketSettled)))
	x := d.order()
	if s.deliveredIn(doneIn(tx), st, known, d, x, now) {
		return StateAlreadyDelivered, nil, nil
	}
	if v := st.verdict(known, x); v != "" {
		return v, nil, nil
	}
	if st.Pending != 0 {
		if err := pending.Delete(encodeID(st.Pending)); err != nil {
			return "", nil, err
		}
	}
	d.Attempts, d.AcceptedAt, d.NextAttempt, d.DeadAt, d.DeadReason = 0, now, now, time.Time{}, ""
	d.FallbackTo = nil
	data, err := json.Marshal(d)
	if err != nil {
		return "", nil, err
	}
	if err := tx.Bucket(bucketDead).Delete(key); err != nil {
		return "", nil, err
	}
	// A dead letter's id is no pending one's.
	if err := pending.Insert(key, data); err != nil {
		return "", nil, err
	}
	if err := s.slots.put(tx, slotKey, st.after(known, x, d.ID, now)); err != nil {
		return "", nil, err
	}
	return StateReplayed, &Candidate{Delivery: d, size: len(data), State: StateAccepted, Old: st.Pending, Seq: s.commits.Add(1)}, nil
}

// Purge deletes the dead letters of sel for good and says how many; an
// empty selection purges every dead letter.
func (s *Store) Purge(sel Selection) (int, error) {
	n := 0
	err := s.update(func(tx *txn) error {
		n = 0
		var keys [][]byte
		err := eachDead(tx, sel, func(k []byte, _ *Delivery) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Bucket(bucketDead).Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purging dead letters: %w", err)
	}
	return n, nil
}
