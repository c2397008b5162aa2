package fanout

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/am-fanout/am-fanout/core"
)

// memoSpy notes the render memo each attempt carries, by target, in the
// order of the attempts.
type memoSpy struct {
	next DeliveryAttempter
	mu   sync.Mutex
	seen map[string][]*core.RenderMemo
}

func (s *memoSpy) Attempt(ctx context.Context, t *core.Target, a *core.EnrichedAlert, n *core.Notification) core.Outcome {
	s.mu.Lock()
	s.seen[t.Name] = append(s.seen[t.Name], core.RenderMemoFrom(ctx))
	s.mu.Unlock()
	return s.next.Attempt(ctx, t, a, n)
}

func (s *memoSpy) memos(target string) []*core.RenderMemo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*core.RenderMemo(nil), s.seen[target]...)
}

// spyOnMemos restarts the harness's pipeline with a spy on its attempts.
func spyOnMemos(h *harness) *memoSpy {
	h.close()
	spy := &memoSpy{next: h.pub, seen: map[string][]*core.RenderMemo{}}
	h.attempter = spy
	h.open()
	return spy
}

// TestDeliveriesOfOneAlertShareARenderMemo: the first attempts of one
// alert's deliveries carry one memo, so that targets sending the same
// body encode it once; a retry, read back from the store, carries none.
func TestDeliveriesOfOneAlertShareARenderMemo(t *testing.T) {
	a, b := newServer(t), newServer(t, http.StatusServiceUnavailable, http.StatusOK)
	h := newHarness(t, map[string]*server{"a": a, "b": b}, fastRetries(), 100)
	spy := spyOnMemos(h)

	h.accept(false, alert("m1", core.StatusFiring, 0))
	waitUntil(t, "both deliveries to be done", func() bool { return h.box.Pending() == 0 })
	ma, mb := spy.memos("a"), spy.memos("b")
	if len(ma) != 1 || len(mb) != 2 {
		t.Fatalf("attempts: %d to a, %d to b; want 1 and 2 (one retry)", len(ma), len(mb))
	}
	if ma[0] == nil || ma[0] != mb[0] {
		t.Errorf("the first attempts carried memos %p and %p, want one memo shared", ma[0], mb[0])
	}
	if mb[1] != nil {
		t.Error("a retry carried a render memo: its record was read back and holds none")
	}
	if got, want := a.received()[0].Alert.Fingerprint, b.received()[0].Alert.Fingerprint; got != want {
		t.Errorf("the targets received alerts %q and %q", got, want)
	}

	// Another alert gets a memo of its own.
	h.accept(false, alert("m2", core.StatusFiring, 0))
	waitUntil(t, "the second alert's deliveries to be done", func() bool { return h.box.Pending() == 0 })
	if ma = spy.memos("a"); len(ma) != 2 || ma[1] == nil || ma[1] == ma[0] {
		t.Errorf("the second alert's attempt carried memo %v, want one of its own", ma[1:])
	}
}

// TestAPreparedAlertRendersAfresh: an alert the preparer changed is no
// longer the one the memo's bodies came from.
func TestAPreparedAlertRendersAfresh(t *testing.T) {
	opts := fastRetries()
	opts.Prepare = &countingPreparer{}
	h := newHarness(t, map[string]*server{"a": newServer(t)}, opts, 100)
	spy := spyOnMemos(h)

	h.accept(false, alert("m3", core.StatusFiring, 0))
	waitUntil(t, "the delivery to be done", func() bool { return h.box.Pending() == 0 })
	if m := spy.memos("a"); len(m) != 1 || m[0] != nil {
		t.Errorf("a prepared delivery's attempt carried memos %v, want none", m)
	}
}

// labelPreparer adds a label to every alert it prepares, in the alert's
// own map, as the classifier does; while off it says it is not active.
type labelPreparer struct {
	off   bool
	mu    sync.Mutex
	calls int
}

func (p *labelPreparer) Prepare(_ context.Context, a *core.EnrichedAlert) bool {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	a.Alert.Labels["prepared"] = "yes"
	return true
}

func (p *labelPreparer) Active() bool { return !p.off }

// TestAPreparerChangesOnlyItsDeliverysAlert: the deliveries of one alert
// share its maps until their first attempts; a preparer that writes to
// them gets a copy per delivery (the race detector watches), and one
// that is not active is not called.
func TestAPreparerChangesOnlyItsDeliverysAlert(t *testing.T) {
	servers := map[string]*server{"a": newServer(t), "b": newServer(t), "c": newServer(t)}
	prep := &labelPreparer{}
	opts := fastRetries()
	opts.Prepare = prep
	h := newHarness(t, servers, opts, 100)
	shared := alert("m4", core.StatusFiring, 0)
	h.accept(false, shared)
	waitUntil(t, "the deliveries to be done", func() bool { return h.box.Pending() == 0 })
	for name, s := range servers {
		if got := s.received()[0].Alert.Labels["prepared"]; got != "yes" {
			t.Errorf("%s received the alert without the preparer's label", name)
		}
	}
	if _, ok := shared.Alert.Labels["prepared"]; ok {
		t.Error("the preparer wrote to the accepted alert's own map")
	}

	h.close()
	prep.off = true
	h.open()
	h.accept(false, alert("m5", core.StatusFiring, 0))
	waitUntil(t, "the deliveries to be done", func() bool { return h.box.Pending() == 0 })
	prep.mu.Lock()
	defer prep.mu.Unlock()
	if prep.calls != 3 {
		t.Errorf("the preparer ran %d times, want 3: not while it is not active", prep.calls)
	}
}
