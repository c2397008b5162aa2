package fanout

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

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
	opts := fastRetries()
	opts.MaxPending = 2
	t1, t2 := newServer(t), newServer(t)
	h := newHarness(t, map[string]*server{"t1": t1, "t2": t2}, opts, 100)
	if err := h.box.AwaitRoom(t.Context()); err != nil {
		t.Fatalf("an empty pipeline: %v, want nil at once", err)
	}
	release1, release2 := t1.hold(), t2.hold()
	h.accept(false, alert("a", core.StatusFiring, 0)) // 2 of 2 pending, attempts held
	got := awaitRoom(t.Context(), h.box)
	t1.waitArrivals(1)
	t2.waitArrivals(1)
	stillWaiting(t, got, "with its two deliveries in flight at the bound")
	release1()
	if err := returned(t, got, "a delivery ended"); err != nil {
		t.Errorf("after one of the two deliveries ended: %v, want nil", err)
	}
	release2()
	waitUntil(t, "both deliveries to end", func() bool { return h.box.Pending() == 0 })
}

// TestAwaitRoomWaitsForTheNeed: after a notification was refused for the
// room it needed, AwaitRoom waits until that much is free, not one
// delivery's room.
func TestAwaitRoomWaitsForTheNeed(t *testing.T) {
	opts := fastRetries()
	opts.MaxPending = 4
	t1, t2 := newServer(t), newServer(t)
	h := newHarness(t, map[string]*server{"t1": t1, "t2": t2}, opts, 100)
	release1 := t1.hold()
	release2 := t2.hold()
	h.accept(false, alert("a", core.StatusFiring, 0)) // 2 of 4 pending
	if _, err := h.box.Accept(t.Context(), []*core.EnrichedAlert{alert("b", core.StatusFiring, 0), alert("c", core.StatusFiring, 0)}, false); !errors.Is(err, ErrFull) {
		t.Fatalf("four more deliveries with room for two: %v, want ErrFull", err)
	}
	// The need holds for needFor; here as long as the test runs.
	h.box.mu.Lock()
	h.box.need.until = time.Now().Add(time.Hour)
	h.box.mu.Unlock()
	got := awaitRoom(t.Context(), h.box)
	t1.waitArrivals(1)
	release1()
	waitUntil(t, "t1's delivery to end", func() bool { return h.box.Pending() == 1 })
	stillWaiting(t, got, "with room for three of the four the refused notification needed")
	release2()
	if err := returned(t, got, "room for four was free"); err != nil {
		t.Errorf("with room for the need: %v, want nil", err)
	}
}

// TestAwaitRoomEnds: a wait ends with what Refuses says when its context
// ends (ErrFull), when the waits end at shutdown (EndWaits) and when the
// pipeline closes (ErrClosing).
func TestAwaitRoomEnds(t *testing.T) {
	opts := fastRetries()
	opts.MaxPending = 2
	t1, t2 := newServer(t), newServer(t)
	h := newHarness(t, map[string]*server{"t1": t1, "t2": t2}, opts, 100)
	release1, release2 := t1.hold(), t2.hold()
	defer release2()
	defer release1()
	h.accept(false, alert("a", core.StatusFiring, 0))

	ctx, cancel := context.WithCancel(t.Context())
	got := awaitRoom(ctx, h.box)
	stillWaiting(t, got, "before its context ended")
	cancel()
	if err := returned(t, got, "its context ended"); !errors.Is(err, ErrFull) {
		t.Errorf("context ended: %v, want ErrFull", err)
	}

	got = awaitRoom(t.Context(), h.box)
	stillWaiting(t, got, "before the waits ended")
	h.box.EndWaits()
	if err := returned(t, got, "the waits ended"); !errors.Is(err, ErrFull) {
		t.Errorf("waits ended: %v, want ErrFull", err)
	}
	if err := h.box.AwaitRoom(t.Context()); !errors.Is(err, ErrFull) {
		t.Errorf("a wait after the waits ended: %v, want ErrFull at once", err)
	}

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		h.box.Close(ctx)
	}()
	<-closed
	if err := h.box.AwaitRoom(t.Context()); !errors.Is(err, ErrClosing) {
		t.Errorf("closed: %v, want ErrClosing", err)
	}
}

// TestAwaitRoomOutlastsNoNeed: a wait refused only for the room the last
// refused notification needed ends when that need's time is up, with no
// delivery ending.
func TestAwaitRoomOutlastsNoNeed(t *testing.T) {
	opts := fastRetries()
	opts.MaxPending = 4
	t1, t2 := newServer(t), newServer(t)
	h := newHarness(t, map[string]*server{"t1": t1, "t2": t2}, opts, 100)
	release1, release2 := t1.hold(), t2.hold()
	defer release2()
	defer release1()
	h.accept(false, alert("a", core.StatusFiring, 0)) // 2 of 4 pending
	if _, err := h.box.Accept(t.Context(), []*core.EnrichedAlert{alert("b", core.StatusFiring, 0), alert("c", core.StatusFiring, 0)}, false); !errors.Is(err, ErrFull) {
		t.Fatalf("four more deliveries with room for two: %v, want ErrFull", err)
	}
	h.box.mu.Lock()
	h.box.need.until = time.Now().Add(10 * time.Millisecond)
	h.box.mu.Unlock()
	if err := returned(t, awaitRoom(t.Context(), h.box), "the need's time was up"); err != nil {
		t.Errorf("once the need's time was up: %v, want nil (room for two)", err)
	}
	if n := h.box.Pending(); n != 2 {
		t.Errorf("%d deliveries pending, want the two held", n)
	}
}

// TestAwaitRoomWakesOldestFirst: each delivery's end that leaves room
// wakes one waiting webhook, the one that waited longest.
func TestAwaitRoomWakesOldestFirst(t *testing.T) {
	opts := fastRetries()
	opts.MaxPending = 2
	t1, t2 := newServer(t), newServer(t)
	h := newHarness(t, map[string]*server{"t1": t1, "t2": t2}, opts, 100)
	release1, release2 := t1.hold(), t2.hold()
	h.accept(false, alert("a", core.StatusFiring, 0)) // 2 of 2 pending, attempts held
	t1.waitArrivals(1)
	t2.waitArrivals(1)
	waiting := func(n int) func() bool {
		return func() bool {
			h.box.mu.Lock()
			defer h.box.mu.Unlock()
			return len(h.box.roomWaits) == n
		}
	}
	first := awaitRoom(t.Context(), h.box)
	waitUntil(t, "the first wait", waiting(1))
	second := awaitRoom(t.Context(), h.box)
	waitUntil(t, "the second wait", waiting(2))

	release1()
	if err := returned(t, first, "a delivery ended"); err != nil {
		t.Fatalf("the oldest wait after a delivery ended: %v, want nil", err)
	}
	stillWaiting(t, second, "when one delivery's end woke the oldest wait")
	release2()
	if err := returned(t, second, "the second delivery ended"); err != nil {
		t.Errorf("the second wait after the second delivery ended: %v, want nil", err)
	}
}
