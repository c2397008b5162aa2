package fanout

import (
	"context"
	"sync"
	"testing"

	"github.com/am-fanout/am-fanout/core"
)

// TestDeliveryObserverSeesEachDeliveryAsItEnds: a fast target's result
// reaches the observer while a black-holed target of the same fan-out is
// still running; a breaker's rejection is observed like an attempt.
func TestDeliveryObserverSeesEachDeliveryAsItEnds(t *testing.T) {
	fast, hung := &fakePublisher{}, &fakePublisher{block: true}
	skipped := target("open", &fakePublisher{})
	skipped.Circuit = rejectingBreaker{err: core.ErrCircuitOpen}
	d := newTestDispatcher(nil, Dependencies{}, ParallelPublishOptions{RespectCircuitBreakers: true})

	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var seen []string
	// fastSeen closes once the fast and the rejected deliveries are
	// observed, so that cancelling cannot reach one that has not started.
	fastSeen := make(chan struct{})
	ctx = WithDeliveryObserver(ctx, func(tg *core.Target, r core.TargetPublishResult) {
		mu.Lock()
		seen = append(seen, tg.Name+":"+r.Outcome())
		n := len(seen)
		mu.Unlock()
		if tg.Name != "hung" && n == 2 {
			close(fastSeen)
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = d.PublishToMultiple(ctx, testAlert(), []*core.Target{target("hung", hung), target("fast", fast), skipped})
	}()
	<-fastSeen // the hung delivery still runs: the fan-out is not over
	select {
	case <-done:
		t.Fatalf("the fan-out ended before the hung target was released")
	default:
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	want := map[string]bool{"fast:success": true, "hung:failure": true, "open:skipped": true}
	if len(seen) != 3 {
		t.Fatalf("observed %v, want the three deliveries", seen)
	}
	for _, s := range seen {
		if !want[s] {
			t.Errorf("observed %q, want one of %v", s, want)
		}
	}
}
