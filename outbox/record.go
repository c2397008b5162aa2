package outbox

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// Delivery is one (alert, target) delivery the outbox holds: pending until
// it succeeds, then gone; a dead letter when it failed for good.
type Delivery struct {
	// ID is the record's key, not part of its value, so that the value
	// is encoded before the transaction that numbers it.
	ID     uint64             `json:"-"`
	Target string             `json:"target"`
	Alert  core.EnrichedAlert `json:"alert,omitzero"`
	// Group, when set, makes this a group delivery (group_by:
	// notification): the whole notification as one message; Alert is
	// empty then.
	Group *core.Notification `json:"group,omitempty"`
	// AcceptedAt is when the webhook persisted it; maximum age counts
	// from here.
	AcceptedAt time.Time `json:"accepted_at"`
	Attempts   int       `json:"attempts"`
	// Prepared is set once Options.Prepare ran for its first attempt.
	Prepared    bool      `json:"prepared,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// DeadAt and DeadReason are set on dead letters.
	DeadAt     time.Time `json:"dead_at,omitzero"`
	DeadReason string    `json:"dead_reason,omitempty"`
	// TraceParent is the W3C traceparent of the webhook's accept span,
	// when tracing was on, so that every attempt, after a restart too,
	// is part of the notification's trace (tracing.go).
	TraceParent string `json:"traceparent,omitempty"`
	// FallbackFrom names the target whose dead letter this delivery
	// hands over (fallback.go); FallbackTo, on a dead letter, the
	// fallback targets it was handed to.
	FallbackFrom string   `json:"fallback_from,omitempty"`
	FallbackTo   []string `json:"fallback_to,omitempty"`
	// Memo, on a delivery as accepted, holds the bodies rendered from
	// its alert for its first attempt, shared with the deliveries of the
	// same alert to other targets; never stored.
	Memo *core.RenderMemo `json:"-"`
}

// key is the delivery's dedup key: core.DeliveryKey for an alert; for
// a notification, its group and the states of its alerts, so that
// Alertmanager's resends of one notification are one delivery.
func (d *Delivery) key() string {
	if d.Group != nil {
		return d.Slot() + "\x00" + statesDigest(d.Group)
	}
	return core.DeliveryKey(d.Target, &d.Alert)
}

// Slot names what the delivery's states are ordered in: the (target,
// alert) pair, or the (target, group) pair whose newest notification
// supersedes any older one still pending (coalescing). The notifications
// a fallback gets from one target have a slot of their own: they carry
// the alerts that target selected, not those the fallback's own
// notifications of the group hold.
func (d *Delivery) Slot() string {
	if d.Group != nil {
		if d.FallbackFrom != "" {
			return groupSlot(d.Target, d.Group.Group.GroupKey) + "\x00fallback\x00" + d.FallbackFrom
		}
		return groupSlot(d.Target, d.Group.Group.GroupKey)
	}
	return slotKey(d.Target, d.Alert.Alert.Fingerprint)
}

func slotKey(target, fingerprint string) string { return target + "\x00" + fingerprint }

// groupSlot cannot collide with an alert's slot: fingerprints are hex.
func groupSlot(target, groupKey string) string { return target + "\x00group\x00" + groupKey }

// order of a notification is its arrival: a later notification of a group
// holds the group's newer state.
func (d *Delivery) order() order {
	if d.Group != nil {
		return order{StartsAt: d.Group.ReceivedAt.UTC()}
	}
	return orderOf(&d.Alert)
}

// statesDigest hashes the states of a notification's alerts.
func statesDigest(n *core.Notification) string {
	h := sha256.New()
	for i := range n.Alerts {
		a := &n.Alerts[i].Alert
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\n", a.Fingerprint, a.Status, a.StartsAt.UnixNano(), a.EndsAt.UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Fingerprint names the delivery's alert, or its group, in logs.
func (d *Delivery) Fingerprint() string {
	if d.Group != nil {
		return "group " + d.Group.Group.GroupKey
	}
	return d.Alert.Alert.Fingerprint
}

// Status is the alert's status, or the notification's.
func (d *Delivery) Status() core.AlertStatus {
	if d.Group != nil {
		return d.Group.Status()
	}
	return d.Alert.Alert.Status
}

// slotState is the value of the latest bucket: the newest state accepted
// for a (target, alert), what the order knows of the episodes before it
// (see mark), and the id of its pending delivery, 0 once that delivery is
// done or dead. The bbolt store leaves an alert's slot as its acceptance
// wrote it when the delivery ends, and reads the end from the settled log
// (settle); a notification's slot it writes at the end.
type slotState struct {
	Order order
	// Mark, while the alert fires, is the last moment of the episodes
	// before the current one: the end of the last resolve, or the start
	// of a firing a later one replaced; zero when there was none. Once
	// resolved, it is the end of the episode: the resolve's end, and no
	// earlier than the start of the firing it ended.
	Mark    time.Time
	Pending uint64
	// At is when the slot last changed: the acceptance of its state, or
	// the end of its delivery.
	At time.Time
	// Delivered says that the state Order names was delivered, at At:
	// the bbolt store's dedup log of an alert's deliveries (deliveredIn),
	// as settle reads it from the settled log, or as the version before
	// that log wrote it into the slot at the end of the delivery.
	Delivered bool
}

// A slotState is encoded as five big-endian 8-byte fields: start time and
// time of change (unix nanoseconds), flags (resolved in the lowest byte,
// 0 or 1; delivered in the highest, 0 or 1, which stores written before it
// leave 0 and versions before it do not read), pending id, mark
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
		Order:     order{StartsAt: decodeTime(b[0:8]).UTC(), Resolved: b[23] == 1},
		At:        decodeTime(b[8:16]),
		Pending:   binary.BigEndian.Uint64(b[24:32]),
		Delivered: b[16] == 1,
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

func (s slotState) encode() []byte { return s.appendTo(make([]byte, 0, slotStateLen)) }

// appendTo appends the slot's encoding to b.
func (s slotState) appendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(s.Order.StartsAt.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(s.At.UnixNano()))
	flags := uint64(0)
	if s.Order.Resolved {
		flags = 1
	}
	if s.Delivered {
		flags |= 1 << 56
	}
	b = binary.BigEndian.AppendUint64(b, flags)
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
	Target      string
	Alert       json.RawMessage // or Group
	Group       json.RawMessage
	AcceptedAt  time.Time
	NextAttempt time.Time
	TraceParent string
}

// appendTo appends the record as a Delivery's JSON would be, with the alert
// (or group) already encoded copied in as it is: json.Marshal would
// compact the raw JSON again for every target.
func (n *newDelivery) appendTo(b []byte) []byte {
	if b == nil {
		b = make([]byte, 0, len(n.Alert)+len(n.Group)+len(n.Target)+160)
	}
	b = append(b, `{"target":`...)
	b = core.AppendJSONString(b, n.Target)
	if n.Alert != nil {
		b = append(b, `,"alert":`...)
		b = append(b, n.Alert...)
	}
	if n.Group != nil {
		b = append(b, `,"group":`...)
		b = append(b, n.Group...)
	}
	b = append(b, `,"accepted_at":"`...)
	b = n.AcceptedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","next_attempt":"`...)
	b = n.NextAttempt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if n.TraceParent != "" {
		b = append(b, `,"traceparent":`...)
		b = core.AppendJSONString(b, n.TraceParent)
	}
	return append(b, '}')
}
