package outbox

import (
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// TestHistoryRecordsEveryAttempt: a delivery that failed, then succeeded,
// has both attempts in its history, selected by fingerprint, target and
// state; history older than the retention is pruned.
func TestHistoryRecordsEveryAttempt(t *testing.T) {
	tg := newTarget(t, 503, 200)
	h := newHarness(t, map[string]*target{"t1": tg}, fastRetries(), 100)
	h.accept(false, alert("a", core.StatusFiring, 0))
	waitUntil(t, "the delivery after one retry", func() bool { return h.box.Pending() == 0 })

	for _, q := range []HistoryQuery{{Fingerprint: "a"}, {Target: "t1"}, {State: HistoryDelivered}, {Status: core.StatusFiring}} {
		got, err := h.box.Histories(q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].State != HistoryDelivered || len(got[0].Attempts) != 2 ||
			got[0].Attempts[0].StatusCode != 503 || got[0].Attempts[1].Outcome != "delivered" {
			t.Fatalf("Histories(%+v) = %+v, want one delivered delivery with a 503 then a success", q, got)
		}
	}
	if got, _ := h.box.Histories(HistoryQuery{Fingerprint: "other"}); len(got) != 0 {
		t.Errorf("another fingerprint selects %+v, want none", got)
	}
	if err := h.store.Prune(time.Now().Add(48 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.box.Histories(HistoryQuery{}); len(got) != 0 {
		t.Errorf("after the retention %d deliveries are listed, want none", len(got))
	}
}

func TestHistoryKeepsFirstAndLatestAttempts(t *testing.T) {
	var h History
	for i := range maxHistoryAttempts + 5 {
		h.add(Attempt{StatusCode: 500 + i})
	}
	if len(h.Attempts) != maxHistoryAttempts || h.Attempts[0].StatusCode != 500 ||
		h.Attempts[len(h.Attempts)-1].StatusCode != 500+maxHistoryAttempts+4 || h.AttemptsOmitted != 5 {
		t.Errorf("attempts %d (first %d, last %d), omitted %d", len(h.Attempts), h.Attempts[0].StatusCode,
			h.Attempts[len(h.Attempts)-1].StatusCode, h.AttemptsOmitted)
	}
}
