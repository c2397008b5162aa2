package outbox

import (
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// order is what the per-alert order reads of one state of an alert.
// Alertmanager's resends of one state share the order and the dedup key.
type order struct {
	StartsAt time.Time
	Resolved bool
	// EndsAt is a resolve's end, never before its start; zero for a
	// firing.
	EndsAt time.Time
}

func orderOf(a *core.EnrichedAlert) order {
	start := a.Alert.StartsAt
	if start.IsZero() {
		// Stored as nanoseconds since 1970; a zero time has none.
		start = time.Unix(0, 0)
	}
	o := order{StartsAt: start.UTC()}
	if a.Alert.Status == core.StatusResolved {
		o.Resolved, o.EndsAt = true, later(start, a.Alert.EndsAt).UTC()
	}
	return o
}

// The order of an alert's states goes by episodes: a firing opens one, a
// resolve ends it. Timestamps alone cannot say which episode a resolve
// ends, because Alertmanager moves a resolve's start back (its merge keeps
// the earliest start; a resolve posted with only an end in the past gets
// that end as its start, even before the firing's). So the slot remembers
// the episodes it has seen (slotState.Mark), and:
//
//   - a state with the same status and start as the newest one is the same
//     state;
//   - while firing, a firing with a later start opens a new episode, an
//     earlier one is stale; a resolve ends the current episode unless it
//     started at or before the mark and ended before the current firing
//     started: then it ends an episode already left, and is stale;
//   - once resolved, a firing or a resolve is newer only if it is later
//     than the end of the episode (a firing's start, a resolve's end):
//     a new episode; otherwise it is stale.

// rank says whether x is older than (-1), the same state as (0) or newer
// than (+1) the slot's newest state.
func (st slotState) rank(x order) int {
	cur := st.Order
	switch {
	case x.Resolved == cur.Resolved && x.StartsAt.Equal(cur.StartsAt):
		return 0
	case !cur.Resolved && !x.Resolved:
		return x.StartsAt.Compare(cur.StartsAt)
	case !cur.Resolved:
		if x.StartsAt.After(st.Mark) || !x.EndsAt.Before(cur.StartsAt) {
			return 1
		}
		return -1
	}
	at := x.StartsAt
	if x.Resolved {
		at = x.EndsAt
	}
	if at.After(st.Mark) {
		return 1
	}
	return -1
}

// verdict is what the slot, read with known, says of a new state x
// before anything else is looked at: StateStale, StateAlreadyPending (the
// same state is pending), or "" when x is newer, or the same state with
// nothing pending.
func (st slotState) verdict(known bool, x order) string {
	if !known {
		return ""
	}
	switch cmp := st.rank(x); {
	case cmp < 0:
		return StateStale
	case cmp == 0 && st.Pending != 0:
		return StateAlreadyPending
	}
	return ""
}

// after is the slot's state once x, not older than its newest state (or
// the first state when known is false), is accepted with its pending id.
func (st slotState) after(known bool, x order, pending uint64, now time.Time) slotState {
	next := slotState{Order: x, Pending: pending, At: now}
	cur := st.Order
	switch {
	case !known:
		next.Mark = x.EndsAt
	case st.rank(x) == 0:
		next.Mark = st.Mark
	case x.Resolved && !cur.Resolved:
		next.Mark = later(x.EndsAt, cur.StartsAt)
	case x.Resolved:
		next.Mark = x.EndsAt
	case cur.Resolved:
		// A new episode after a resolve: the resolve's end stays the mark.
		next.Mark = st.Mark
	default:
		// A firing replaced by a later one: its episode is over.
		next.Mark = cur.StartsAt
	}
	return next
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
