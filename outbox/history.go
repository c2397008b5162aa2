package outbox

import (
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// bucketHistory holds the recent deliveries and their attempts: key
// accepted-at (8 bytes) + id (8 bytes), so that keys sort by acceptance
// and ids reused by a volatile store never collide; value the time of its
// last change (8 bytes, for pruning without decoding) + History JSON.
var bucketHistory = []byte("history")

// maxHistoryAttempts bounds the attempts kept per delivery: the first and
// the latest.
const maxHistoryAttempts = 20

// The states of a delivery in its history.
const (
	HistoryPending   = "pending"
	HistoryDelivered = "delivered"
	HistoryDead      = "dead"
)

// History is one delivery and its attempts, for GET /api/v1/deliveries.
type History struct {
	ID     uint64 `json:"id"`
	Target string `json:"target"`
	// Fingerprints are the alert's, or the alerts' of a group delivery.
	Fingerprints []string         `json:"fingerprints"`
	AlertName    string           `json:"alertname,omitempty"`
	Status       core.AlertStatus `json:"status"`
	Group        bool             `json:"group,omitempty"`
	AcceptedAt   time.Time        `json:"accepted_at"`
	State        string           `json:"state"`
	Attempts     []Attempt        `json:"attempts"`
	// AttemptsOmitted counts attempts left out between the first and the
	// latest ones kept.
	AttemptsOmitted int `json:"attempts_omitted,omitempty"`
}

// Attempt is one delivery attempt's outcome.
type Attempt struct {
	At         time.Time `json:"at"`
	Outcome    string    `json:"outcome"`
	StatusCode int       `json:"status_code,omitempty"`
	Duration   string    `json:"duration"`
	Error      string    `json:"error,omitempty"`
	SkipReason string    `json:"skip_reason,omitempty"`
}

// HistoryQuery selects deliveries; empty fields select all. Limit bounds
// the answer (newest first).
type HistoryQuery struct {
	Fingerprint string
	Target      string
	Status      core.AlertStatus
	State       string
	Limit       int
}

// appendHistoryKey appends d's history key to b.
func appendHistoryKey(b []byte, d *Delivery) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(d.AcceptedAt.UnixNano()))
	return binary.BigEndian.AppendUint64(b, d.ID)
}

// historyEntry is an attempt's line in its delivery's history, prepared
// outside the transaction that writes it: for a delivery's first attempt
// (no history yet) the whole record, encoded before the transaction that
// all writers share.
type historyEntry struct {
	key     []byte
	attempt Attempt
	state   string
	first   bool    // the delivery's first recorded attempt
	h       History // the record as it is when the delivery has no history yet
	fresh   []byte  // h encoded, for a first attempt
	// What key and h's slices hold for an alert's delivery, in the same
	// allocation as the entry.
	keyBuf   [16]byte
	fp       [1]string
	attempts [1]Attempt
}

// newHistoryEntry prepares the history line of an attempt's outcome.
func newHistoryEntry(d *Delivery, out *core.Outcome, what Fate, now time.Time) *historyEntry {
	a := Attempt{At: now.UTC(), Outcome: out.Kind.String(), StatusCode: out.StatusCode,
		Duration: out.Duration.String(), SkipReason: out.SkipReason}
	if out.Err != nil {
		a.Error = out.Err.Error()
	}
	// A delivery's first attempt has no history yet: its key (acceptance
	// time and id) is new, as it is for a replay or a fallback hand-over.
	he := &historyEntry{attempt: a, state: HistoryPending, first: d.Attempts <= 1}
	he.key = appendHistoryKey(he.keyBuf[:0], d)
	switch what {
	case FateDone:
		he.state = HistoryDelivered
	case FateDead:
		he.state = HistoryDead
	}
	he.h = historyOf(d, he.fp[:0])
	he.h.Attempts = he.attempts[:0]
	he.h.add(a)
	he.h.State = he.state
	if he.first {
		he.fresh = encodeHistory(&he.h, now)
	}
	return he
}

// encodeHistory is a history record's value: now, then h's JSON.
func encodeHistory(h *History, now time.Time) []byte {
	return h.appendJSON(appendTime(make([]byte, 0, 8+256+128*len(h.Attempts)), now))
}

// decodeHistory reads a history record's value (encodeHistory's); false
// when it is missing or unreadable.
func decodeHistory(v []byte) (History, bool) {
	var h History
	return h, len(v) > 8 && json.Unmarshal(v[8:], &h) == nil
}

// next is the value to write over stored, the delivery's history record
// (nil when there is none): the prepared record for a first attempt or
// when stored is missing or unreadable, else stored with the attempt
// added.
func (he *historyEntry) next(stored []byte, now time.Time) []byte {
	if he.first {
		return he.fresh
	}
	h, ok := decodeHistory(stored)
	if !ok {
		return encodeHistory(&he.h, now)
	}
	h.add(he.attempt)
	h.State = he.state
	return encodeHistory(&h, now)
}

// appendHistory writes an attempt's line, at the time of its outcome, in
// the order of the outcomes' commits (historybuf.go).
func (s *Store) appendHistory(tx *txn, he *historyEntry) error {
	now := he.attempt.At
	b := tx.Bucket(bucketHistory)
	b.FillPercent = appendFill
	var stored []byte
	if !he.first {
		stored = b.Get(he.key)
	}
	return b.Put(he.key, he.next(stored, now))
}

// add appends an attempt, keeping the first and the latest ones.
func (h *History) add(a Attempt) {
	h.Attempts = append(h.Attempts, a)
	if len(h.Attempts) > maxHistoryAttempts {
		h.Attempts = append(h.Attempts[:1], h.Attempts[2:]...)
		h.AttemptsOmitted++
	}
}

// historyOf is d's history record without attempts, its fingerprints
// appended to fps.
func historyOf(d *Delivery, fps []string) History {
	h := History{ID: d.ID, Target: d.Target, AcceptedAt: d.AcceptedAt.UTC(), Status: d.Status(), Group: d.Group != nil}
	if d.Group != nil {
		for i := range d.Group.Alerts {
			fps = append(fps, d.Group.Alerts[i].Alert.Fingerprint)
		}
		h.AlertName = d.Group.Group.CommonLabels["alertname"]
	} else {
		fps = append(fps, d.Alert.Alert.Fingerprint)
		h.AlertName = d.Alert.Alert.Labels["alertname"]
	}
	h.Fingerprints = fps
	return h
}

// Histories lists the recent deliveries q selects, newest first, with
// every attempt recorded so far: the lines still waiting are written
// first.
func (s *Store) Histories(q HistoryQuery) ([]History, error) {
	s.writeHistory(true)
	limit := q.limit()
	out := []History{}
	err := s.view(func(tx *txn) error {
		c := tx.Bucket(bucketHistory).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			if h, ok := decodeHistory(v); ok && q.selects(&h) {
				out = append(out, h)
			}
		}
		return nil
	})
	return out, err
}

// limit is how many deliveries the answer holds at most: Limit, 100 when
// it is not set.
func (q *HistoryQuery) limit() int {
	if q.Limit <= 0 {
		return 100
	}
	return q.Limit
}

func (q *HistoryQuery) selects(h *History) bool {
	switch {
	case q.Target != "" && h.Target != q.Target,
		q.Status != "" && h.Status != q.Status,
		q.State != "" && h.State != q.State:
		return false
	case q.Fingerprint == "":
		return true
	}
	for _, fp := range h.Fingerprints {
		if fp == q.Fingerprint {
			return true
		}
	}
	return false
}

// historyChanged reads when a history record last changed.
func historyChanged(v []byte) time.Time {
	if len(v) < 8 {
		return time.Time{}
	}
	return decodeTime(v[:8])
}
