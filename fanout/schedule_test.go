package fanout

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// TestBackoff: a wait drawn from the upper half of an exponential
// ceiling, capped at RetryCap.
func TestBackoff(t *testing.T) {
	top := func(n int64) int64 { return n - 1 }
	zero := func(int64) int64 { return 0 }
	for _, tc := range []struct {
		name     string
		attempts int
		rnd      func(int64) int64
		want     time.Duration
	}{
		{"first probe waits at most the base", 1, top, time.Second},
		{"the ceiling doubles per failure", 4, top, 8 * time.Second},
		{"the ceiling stops at the cap", 20, top, time.Minute},
		{"a huge failure count does not overflow", 200, top, time.Minute},
		{"jitter waits at least half the ceiling", 3, zero, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := backoff(tc.attempts, time.Second, time.Minute, tc.rnd); got != tc.want {
				t.Errorf("backoff(%d) = %v, want %v", tc.attempts, got, tc.want)
			}
		})
	}
}

// Lanes that wait for MaxInFlight take turns: an attempt's end chains
// its lane's next attempt only while no other lane waits, and each
// scheduler pass begins after the lane that took the last room. Two
// lanes with one attempt in flight between them alternate, where a lane
// that chained its own every time, or that a pass took first more often
// than the other, would send runs of its queue.
func TestChainedAttemptsLeaveRoomForOtherLanes(t *testing.T) {
	var (
		mu    sync.Mutex
		order []string
	)
	a, b := newServer(t), newServer(t)
	for name, s := range map[string]*server{"a": a, "b": b} {
		s.arrived = func() {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
		}
	}
	opts := fastRetries()
	opts.MaxInFlight = 1
	h := newHarness(t, map[string]*server{"a": a, "b": b}, opts, 100)
	releaseA, releaseB := a.hold(), b.hold()
	var alerts []*core.EnrichedAlert
	for i := range 20 {
		alerts = append(alerts, alert(fmt.Sprintf("fp%02d", i), core.StatusFiring, 0))
	}
	h.accept(false, alerts...)
	releaseA()
	releaseB()
	waitUntil(t, "every delivery to be done", func() bool { return h.box.Pending() == 0 })
	mu.Lock()
	defer mu.Unlock()
	turns := 0
	for i := 1; i < len(order); i++ {
		if order[i] != order[i-1] {
			turns++
		}
	}
	if len(order) != 2*len(alerts) || turns != len(order)-1 {
		t.Errorf("%d requests changed lanes %d times (%v), want %d alternating", len(order), turns, order, 2*len(alerts))
	}
}

// A chained attempt goes to its target as configured now: after a
// reload that points the target elsewhere, the lane's next attempts go
// there, although no scheduler pass came between them.
func TestChainedAttemptsFollowAReload(t *testing.T) {
	before, after := newServer(t), newServer(t)
	opts := fastRetries()
	opts.LaneInFlight = 1
	h := newHarness(t, map[string]*server{"t": before}, opts, 100)
	moved := newHarness(t, map[string]*server{"t": after}, opts, 100).targets.Targets()
	release := before.hold()
	var alerts []*core.EnrichedAlert
	for i := range 10 {
		alerts = append(alerts, alert(fmt.Sprintf("fp%02d", i), core.StatusFiring, 0))
	}
	h.accept(false, alerts...)
	before.waitArrivals(1)
	h.targets.Store(moved)
	release()
	waitUntil(t, "every delivery to be done", func() bool { return h.box.Pending() == 0 })
	if got, moved := len(before.received()), len(after.received()); got != 1 || moved != len(alerts)-1 {
		t.Errorf("the first target got %d requests and the one the reload named %d, want 1 and %d", got, moved, len(alerts)-1)
	}
}
