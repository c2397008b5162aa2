package fanout

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// heldPipeline is a pipeline with two targets whose attempts are held
// until released (each release may be called more than once, and runs at
// the test's end).
type heldPipeline struct {
	h                  *harness
	t1, t2             *server
	release1, release2 func()
}

// newHeldPipeline builds a heldPipeline bounded at maxPending deliveries
// and accepts alert a, two deliveries whose attempts wait at the targets.
func newHeldPipeline(t *testing.T, maxPending int) *heldPipeline {
	t.Helper()
	opts := fastRetries()
	opts.MaxPending = maxPending
	hp := &heldPipeline{t1: newServer(t), t2: newServer(t)}
	hp.h = newHarness(t, map[string]*server{"t1": hp.t1, "t2": hp.t2}, opts, 100)
	if err := hp.h.box.AwaitRoom(t.Context()); err != nil {
		t.Fatalf("an empty pipeline: %v, want nil at once", err)
	}
	hp.release1, hp.release2 = sync.OnceFunc(hp.t1.hold()), sync.OnceFunc(hp.t2.hold())
	t.Cleanup(hp.release1)
	t.Cleanup(hp.release2)
	hp.h.accept(false, alert("a", core.StatusFiring, 0))
	hp.t1.waitArrivals(1)
	hp.t2.waitArrivals(1)
	return hp
}

// refuseFour offers b and c, four deliveries, which must be refused for
// want of room; the need they leave holds for the test's length.
func (hp *heldPipeline) refuseFour(t *testing.T, until time.Time) {
	t.Helper()
	if _, err := hp.h.box.Accept(t.Context(), []*core.EnrichedAlert{alert("b", core.StatusFiring, 0), alert("c", core.StatusFiring, 0)}, false); !errors.Is(err, ErrFull) {
		t.Fatalf("four more deliveries with room for two: %v, want ErrFull", err)
	}
	hp.h.box.mu.Lock()
	hp.h.box.need.until = until
	hp.h.box.mu.Unlock()
}

// awaitRoom starts AwaitRoom and returns what it will return.
func awaitRoom(ctx context.Context, p *Pipeline) <-chan error {
	got := make(chan error, 1)
	go func() { got <- p.AwaitRoom(ctx) }()
	return got
}

// returned waits for an AwaitRoom started by awaitRoom, failing the
// test if it does not return within the test's time.
func returned(t *testing.T, got <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-got:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("AwaitRoom did not return once %s", what)
		return nil
	}
}

// stillWaiting fails the test if the AwaitRoom started by awaitRoom
// returned.
func stillWaiting(t *testing.T, got <-chan error, what string) {
	t.Helper()
	select {
	case err := <-got:
		t.Fatalf("AwaitRoom returned %v %s", err, what)
	default:
	}
}

// TestAwaitRoomReturnsAsDeliveriesEnd: a full pipeline holds AwaitRoom
// until its pending deliveries end, then lets it go with nil; an empty
// one answers at once.
func TestAwaitRoomReturnsAsDeliveriesEnd(t *testing.T) {
	hp := newHeldPipeline(t, 2) // 2 of 2 pending
	got := awaitRoom(t.Context(), hp.h.box)
	stillWaiting(t, got, "with its two deliveries in flight at the bound")
	hp.release1()
	if err := returned(t, got, "a delivery ended"); err != nil {
		t.Errorf("after one of the two deliveries ended: %v, want nil", err)
	}
	hp.release2()
	waitUntil(t, "both deliveries to end", func() bool { return hp.h.box.Pending() == 0 })
}

// TestAwaitRoomWaitsForTheNeed: after a notification was refused for the
// room it needed, AwaitRoom waits until that much is free, not one
// delivery's room.
func TestAwaitRoomWaitsForTheNeed(t *testing.T) {
	hp := newHeldPipeline(t, 4) // 2 of 4 pending
	hp.refuseFour(t, time.Now().Add(time.Hour))
	got := awaitRoom(t.Context(), hp.h.box)
	hp.release1()
	waitUntil(t, "t1's delivery to end", func() bool { return hp.h.box.Pending() == 1 })
	stillWaiting(t, got, "with room for three of the four the refused notification needed")
	hp.release2()
	if err := returned(t, got, "room for four was free"); err != nil {
		t.Errorf("with room for the need: %v, want nil", err)
	}
}

// TestAwaitRoomOutlastsNoNeed: a wait refused only for the room the last
// refused notification needed ends when that need's time is up, with no
// delivery ending.
func TestAwaitRoomOutlastsNoNeed(t *testing.T) {
	hp := newHeldPipeline(t, 4) // 2 of 4 pending
	hp.refuseFour(t, time.Now().Add(10*time.Millisecond))
	if err := returned(t, awaitRoom(t.Context(), hp.h.box), "the need's time was up"); err != nil {
		t.Errorf("once the need's time was up: %v, want nil (room for two)", err)
	}
	if n := hp.h.box.Pending(); n != 2 {
		t.Errorf("%d deliveries pending, want the two held", n)
	}
}

// TestAwaitRoomEnds: a wait ends with what Refuses says when its context
// ends (ErrFull), when the waits end at shutdown (EndWaits) and when the
// pipeline closes (ErrClosing).
func TestAwaitRoomEnds(t *testing.T) {
	hp := newHeldPipeline(t, 2)
	box := hp.h.box

	ctx, cancel := context.WithCancel(t.Context())
	got := awaitRoom(ctx, box)
	stillWaiting(t, got, "before its context ended")
	cancel()
	if err := returned(t, got, "its context ended"); !errors.Is(err, ErrFull) {
		t.Errorf("context ended: %v, want ErrFull", err)
	}

	got = awaitRoom(t.Context(), box)
	stillWaiting(t, got, "before the waits ended")
	box.EndWaits()
	if err := returned(t, got, "the waits ended"); !errors.Is(err, ErrFull) {
		t.Errorf("waits ended: %v, want ErrFull", err)
	}
	if err := box.AwaitRoom(t.Context()); !errors.Is(err, ErrFull) {
		t.Errorf("a wait after the waits ended: %v, want ErrFull at once", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	box.Close(ctx)
	if err := box.AwaitRoom(t.Context()); !errors.Is(err, ErrClosing) {
		t.Errorf("closed: %v, want ErrClosing", err)
	}
}

// TestAwaitRoomWakesOldestFirst: each delivery's end that leaves room
// wakes one waiting webhook, the one that waited longest.
func TestAwaitRoomWakesOldestFirst(t *testing.T) {
	hp := newHeldPipeline(t, 2) // 2 of 2 pending
	box := hp.h.box
	waiting := func(n int) func() bool {
		return func() bool {
			box.mu.Lock()
			defer box.mu.Unlock()
			return len(box.roomWaits) == n
		}
	}
	first := awaitRoom(t.Context(), box)
	waitUntil(t, "the first wait", waiting(1))
	second := awaitRoom(t.Context(), box)
	waitUntil(t, "the second wait", waiting(2))

	hp.release1()
	if err := returned(t, first, "a delivery ended"); err != nil {
		t.Fatalf("the oldest wait after a delivery ended: %v, want nil", err)
	}
	stillWaiting(t, second, "when one delivery's end woke the oldest wait")
	hp.release2()
	if err := returned(t, second, "the second delivery ended"); err != nil {
		t.Errorf("the second wait after the second delivery ended: %v, want nil", err)
	}
}

// TestBoundsRefuseWholeNotification: past max_pending or max_bytes Accept
// fails with ErrFull and persists nothing of the notification.
func TestBoundsRefuseWholeNotification(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bound func(*Options)
	}{
		{"max pending", func(o *Options) { o.MaxPending = 1 }},
		{"max bytes", func(o *Options) { o.MaxBytes = 100 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := fastRetries()
			tc.bound(&opts)
			h := newHarness(t, map[string]*server{"t1": newServer(t), "t2": newServer(t)}, opts, 100)
			_, err := h.box.Accept(t.Context(), []*core.EnrichedAlert{alert("a", core.StatusFiring, 0)}, false)
			if !errors.Is(err, ErrFull) {
				t.Fatalf("Accept over the bound: %v, want ErrFull", err)
			}
			n := 0
			if err := h.store.Load(func(*outbox.Candidate) { n++ }); err != nil {
				t.Fatalf("reading the store: %v", err)
			}
			if n != 0 || h.box.Pending() != 0 {
				t.Errorf("%d records stored, %d pending, want none", n, h.box.Pending())
			}
		})
	}
}

// TestRefusesAtBounds: Refuses says nothing while one more delivery
// fits, ErrFull once the pending deliveries fill the bound, ErrClosing
// once the pipeline closes.
func TestRefusesAtBounds(t *testing.T) {
	opts := fastRetries()
	opts.MaxPending = 2
	h := newHarness(t, map[string]*server{"t1": newServer(t, 503), "t2": newServer(t, 503)}, opts, 100)
	if err := h.box.Refuses(); err != nil {
		t.Fatalf("an empty pipeline refuses: %v", err)
	}
	h.accept(false, alert("a", core.StatusFiring, 0))
	if err := h.box.Refuses(); !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "2 deliveries pending, the bound is 2") {
		t.Errorf("with its two deliveries pending (targets failing): %v, want ErrFull naming the bound", err)
	}
	h.box.Close(t.Context())
	if err := h.box.Refuses(); !errors.Is(err, ErrClosing) {
		t.Errorf("closed: %v, want ErrClosing", err)
	}
}

// TestRefusesUnreadWhileShort: a notification refused at the bounds after
// it was read leaves its need: the next are refused before they are read
// until that much room is free, for at most needFor, or until one is
// accepted; one that could never fit leaves none.
func TestRefusesUnreadWhileShort(t *testing.T) {
	opts := fastRetries()
	opts.MaxPending = 5
	h := newHarness(t, map[string]*server{"t1": newServer(t, 503), "t2": newServer(t, 503)}, opts, 100)
	h.accept(false, alert("a", core.StatusFiring, 0)) // 2 of 5 pending
	if _, err := h.box.Accept(t.Context(), []*core.EnrichedAlert{alert("b", core.StatusFiring, 0), alert("c", core.StatusFiring, 0)}, false); !errors.Is(err, ErrFull) {
		t.Fatalf("four more deliveries with room for three: %v, want ErrFull", err)
	}
	err := h.box.Refuses()
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "needed room for 4 deliveries") {
		t.Fatalf("after a refusal needing 4 with room for 3: %v, want ErrFull naming the need", err)
	}
	h.box.mu.Lock()
	h.box.need.until = time.Now().Add(-time.Nanosecond)
	h.box.mu.Unlock()
	if err := h.box.Refuses(); err != nil {
		t.Errorf("once the need's time is up: %v, want nil (room for three)", err)
	}

	if _, err := h.box.Accept(t.Context(), []*core.EnrichedAlert{alert("b", core.StatusFiring, 0), alert("c", core.StatusFiring, 0)}, false); !errors.Is(err, ErrFull) {
		t.Fatalf("four more deliveries with room for three: %v, want ErrFull", err)
	}
	h.accept(false, alert("d", core.StatusFiring, 0)) // read past Refuses, it fits: 4 of 5
	if err := h.box.Refuses(); err != nil {
		t.Errorf("after an acceptance: %v, want nil (room for one, the need cleared)", err)
	}

	_, err = h.box.Accept(t.Context(), []*core.EnrichedAlert{alert("e", core.StatusFiring, 0), alert("f", core.StatusFiring, 0), alert("g", core.StatusFiring, 0)}, false)
	if !errors.Is(err, ErrFull) || !errors.Is(err, ErrOverBounds) || !strings.Contains(err.Error(), "6 deliveries, more than outbox.max_pending (5)") {
		t.Fatalf("six deliveries with a bound of five: %v, want ErrOverBounds (an ErrFull) naming both", err)
	}
	if err := h.box.Refuses(); err != nil {
		t.Errorf("after a notification that could never fit: %v, want nil (it leaves no need)", err)
	}
}
