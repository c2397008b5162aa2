package fanout

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/am-fanout/am-fanout/core"
)

// A first attempt that waited for a slot of MaxInFlight is not a retry:
// a target that never fails has no retries, however many deliveries
// queued behind the bound.
func TestFirstAttemptsWaitingForASlotAreNotRetries(t *testing.T) {
	tg := newServer(t)
	opts := fastRetries()
	opts.MaxInFlight = 1
	h := newHarness(t, map[string]*server{"t1": tg}, opts, 100)
	release := tg.hold()
	var alerts []*core.EnrichedAlert
	for i := range 20 {
		alerts = append(alerts, alert(fmt.Sprintf("fp%02d", i), core.StatusFiring, 0))
	}
	h.accept(false, alerts...)
	release()
	waitUntil(t, "every delivery to be done", func() bool { return h.box.Pending() == 0 })
	if n := len(tg.received()); n != len(alerts) {
		t.Fatalf("target got %d requests, want %d", n, len(alerts))
	}
	if v := testutil.ToFloat64(h.box.metrics.retries.WithLabelValues("t1")); v != 0 {
		t.Errorf("am_fanout_delivery_retries_total = %v for a target that never failed, want 0", v)
	}
}
