package outbox

import (
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/fanout"
)

// Delivery is one (alert, target) delivery the outbox holds: pending until
// it succeeds, then gone; a dead letter when it failed for good.
type Delivery struct {
	// ID is the record's key, not part of its value, so that the value
	// is encoded before the transaction that numbers it.
	ID     uint64             `json:"-"`
	Target string             `json:"target"`
	Alert  core.EnrichedAlert `json:"alert"`
	// AcceptedAt is when the webhook persisted it; maximum age counts
	// from here.
	AcceptedAt  time.Time `json:"accepted_at"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// DeadAt and DeadReason are set on dead letters.
	DeadAt     time.Time `json:"dead_at,omitzero"`
	DeadReason string    `json:"dead_reason,omitempty"`
}

// key is the delivery's dedup key, fanout.DeliveryKey.
func (d *Delivery) key() string { return fanout.DeliveryKey(d.Target, &d.Alert) }

// slot names the (target, alert) pair whose states are ordered.
func (d *Delivery) slot() string { return slotKey(d.Target, d.Alert.Alert.Fingerprint) }

func slotKey(target, fingerprint string) string { return target + "\x00" + fingerprint }

func (d *Delivery) order() order { return orderOf(&d.Alert) }

// slotState is the value of the latest bucket: the newest state accepted
// for a (target, alert), what the order knows of the episodes before it
// (see mark), and the id of its pending delivery, 0 once that delivery is
// done or dead.
type slotState struct {
	Order order
	// Mark, while the alert fires, is the last moment of the episodes
	// before the current one: the end of the last resolve, or the start
	// of a firing a later one replaced; zero when there was none. Once
	// resolved, it is the end of the episode: the resolve's end, and no
	// earlier than the start of the firing it ended.
	Mark    time.Time
	Pending uint64
	At      time.Time
}

// A slotState is encoded as five big-endian 8-byte fields: start time and
// time of change (unix nanoseconds), resolved (0 or 1), pending id, mark
// (unix nanoseconds, 0 for none). Stores written before the mark have the
// first four only; they read as if no earlier episode were known, and a
// resolved one as ending at its start.
const (
	slotStateLen   = 40
	slotStateLenV1 = 32
)

func decodeSlot(b []byte) (slotState, bool) {
	if len(b) != slotStateLen && len(b) != slotStateLenV1 {
		return slotState{}, false
	}
	st := slotState{
		Order:   order{StartsAt: decodeTime(b[0:8]).UTC(), Resolved: b[23] == 1},
		At:      decodeTime(b[8:16]),
		Pending: binary.BigEndian.Uint64(b[24:32]),
	}
	switch {
	case len(b) == slotStateLen:
		if n := binary.BigEndian.Uint64(b[32:40]); n != 0 {
			st.Mark = time.Unix(0, int64(n)).UTC()
		}
	case st.Order.Resolved:
		st.Mark = st.Order.StartsAt
	}
	return st, true
}

func (s slotState) encode() []byte {
	b := make([]byte, 0, slotStateLen)
	b = binary.BigEndian.AppendUint64(b, uint64(s.Order.StartsAt.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(s.At.UnixNano()))
	resolved := uint64(0)
	if s.Order.Resolved {
		resolved = 1
	}
	b = binary.BigEndian.AppendUint64(b, resolved)
	b = binary.BigEndian.AppendUint64(b, s.Pending)
	mark := uint64(0)
	if !s.Mark.IsZero() {
		mark = uint64(s.Mark.UnixNano())
	}
	return binary.BigEndian.AppendUint64(b, mark)
}

// newDelivery encodes like a Delivery not yet attempted, with its alert
// encoded once for all its targets.
type newDelivery struct {
	Target      string          `json:"target"`
	Alert       json.RawMessage `json:"alert"`
	AcceptedAt  time.Time       `json:"accepted_at"`
	NextAttempt time.Time       `json:"next_attempt"`
}
