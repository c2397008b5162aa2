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

// order ranks the states of one alert: a later start time is a newer
// firing; for the same start time, resolved comes after firing.
// Alertmanager's resends of one state share the order and the dedup key.
type order struct {
	StartsAt time.Time `json:"starts_at"`
	Resolved bool      `json:"resolved"`
}

func orderOf(a *core.EnrichedAlert) order {
	start := a.Alert.StartsAt
	if start.IsZero() {
		// Stored as nanoseconds since 1970; a zero time has none.
		start = time.Unix(0, 0)
	}
	return order{StartsAt: start, Resolved: a.Alert.Status == core.StatusResolved}
}

// compare returns -1, 0 or +1 as o is older than, the same as or newer
// than p.
func (o order) compare(p order) int {
	if c := o.StartsAt.Compare(p.StartsAt); c != 0 {
		return c
	}
	switch {
	case o.Resolved == p.Resolved:
		return 0
	case o.Resolved:
		return 1
	}
	return -1
}

// slotState is the value of the latest bucket: the newest state accepted
// for a (target, alert) and the id of its pending delivery, 0 once that
// delivery is done or dead.
type slotState struct {
	Order   order     `json:"order"`
	Pending uint64    `json:"pending,omitempty"`
	At      time.Time `json:"at"`
}

// A slotState is encoded as four big-endian 8-byte fields: start time and
// time of change (unix nanoseconds), resolved (0 or 1), pending id.
const slotStateLen = 32

func decodeSlot(b []byte) (slotState, bool) {
	if len(b) != slotStateLen {
		return slotState{}, false
	}
	return slotState{
		Order:   order{StartsAt: decodeTime(b[0:8]).UTC(), Resolved: b[23] == 1},
		At:      decodeTime(b[8:16]),
		Pending: binary.BigEndian.Uint64(b[24:32]),
	}, true
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
	return binary.BigEndian.AppendUint64(b, s.Pending)
}

// newDelivery encodes like a Delivery not yet attempted, with its alert
// encoded once for all its targets.
type newDelivery struct {
	Target      string          `json:"target"`
	Alert       json.RawMessage `json:"alert"`
	AcceptedAt  time.Time       `json:"accepted_at"`
	NextAttempt time.Time       `json:"next_attempt"`
}
