package fanout

import (
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// TestHistoryRecordsEveryAttempt: a delivery that failed, then succeeded,
// has both attempts in its history, selected by fingerprint, target and
// state; history older than the retention is pruned.
func TestHistoryRecordsEveryAttempt(t *testing.T) {
	tg := newServer(t, 503, 200)
	h := newHarness(t, map[string]*server{"t1": tg}, fastRetries(), 100)
	h.accept(false, alert("a", core.StatusFiring, 0))
	waitUntil(t, "the delivery after one retry", func() bool { return h.box.Pending() == 0 })

	for _, q := range []outbox.HistoryQuery{{Fingerprint: "a"}, {Target: "t1"}, {State: outbox.HistoryDelivered}, {Status: core.StatusFiring}} {
		got, err := h.store.Histories(q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].State != outbox.HistoryDelivered || len(got[0].Attempts) != 2 ||
			got[0].Attempts[0].StatusCode != 503 || got[0].Attempts[1].Outcome != "delivered" {
			t.Fatalf("Histories(%+v) = %+v, want one delivered delivery with a 503 then a success", q, got)
		}
	}
	if got, _ := h.store.Histories(outbox.HistoryQuery{Fingerprint: "other"}); len(got) != 0 {
		t.Errorf("another fingerprint selects %+v, want none", got)
	}
	if err := h.store.Prune(time.Now().Add(48 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.store.Histories(outbox.HistoryQuery{}); len(got) != 0 {
		t.Errorf("after the retention %d deliveries are listed, want none", len(got))
	}
}
