package fanout

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// TestReplayAndPurge: dead letters are listed by target, replayed one by
// id or all of a target, refused when the order forbids it, and purged.
func TestReplayAndPurge(t *testing.T) {
	t1, t2 := newServer(t, 400), newServer(t, 400)
	h := newHarness(t, map[string]*server{"t1": t1, "t2": t2}, fastRetries(), 100)
	h.accept(true, alert("a", core.StatusFiring, 0), alert("b", core.StatusFiring, 0))
	list := func(target string) []outbox.DeadLetter {
		t.Helper()
		ds, _, err := h.box.DeadLetters(outbox.Selection{Target: target}, outbox.Page{})
		if err != nil {
			t.Fatalf("DeadLetters: %v", err)
		}
		return ds
	}
	if n := len(list("t1")); n != 2 {
		t.Fatalf("t1 has %d dead letters, want 2", n)
	}
	t1.answer(http.StatusOK)
	t2.answer(http.StatusOK)

	id := list("t1")[0].ID
	got, err := h.box.Replay(outbox.Selection{ID: id})
	if err != nil || len(got) != 1 || got[0].State != outbox.StateReplayed {
		t.Fatalf("Replay(id %d) = %+v, %v; want it replayed", id, got, err)
	}
	waitUntil(t, "the replayed delivery", func() bool { return h.box.Pending() == 0 })
	if n := len(list("t1")); n != 1 {
		t.Errorf("t1 has %d dead letters after replaying one, want 1", n)
	}

	// A newer state of alert b makes its dead firing stale.
	h.accept(true, alert("b", core.StatusResolved, 0))
	for _, tc := range []struct {
		sel  outbox.Selection
		want string
	}{
		{outbox.Selection{Target: "t1"}, outbox.StateStale},
		{outbox.Selection{ID: 9999}, outbox.StateNotFound},
	} {
		got, err := h.box.Replay(tc.sel)
		if err != nil || len(got) != 1 || got[0].State != tc.want {
			t.Errorf("Replay(%+v) = %+v, %v; want one %q", tc.sel, got, err, tc.want)
		}
	}

	got, err = h.box.Replay(outbox.Selection{Target: "t2"})
	if err != nil || len(got) != 2 || got[0].State != outbox.StateReplayed || got[1].State != outbox.StateStale {
		t.Errorf("Replay(target t2) = %+v, %v; want alert a replayed and b stale", got, err)
	}
	waitUntil(t, "the replayed delivery", func() bool { return h.box.Pending() == 0 })
	if n, err := h.box.Purge(outbox.Selection{Target: "t1"}); err != nil || n != 1 {
		t.Errorf("Purge(t1) = %d, %v; want 1", n, err)
	}
	if n, err := h.box.Purge(outbox.Selection{}); err != nil || n != 1 {
		t.Errorf("Purge(all) = %d, %v; want the 1 left for t2", n, err)
	}
	if n := len(list("")); n != 0 {
		t.Errorf("%d dead letters after purging all, want 0", n)
	}
	if _, err := h.box.Replay(outbox.Selection{}); err == nil {
		t.Errorf("Replay with neither id nor target succeeded, want an error")
	}
}

// A listing pages through the dead letters in id order.
func TestDeadLettersArePaged(t *testing.T) {
	tg := newServer(t, 400)
	h := newHarness(t, map[string]*server{"t1": tg}, fastRetries(), 100)
	var alerts []*core.EnrichedAlert
	for i := range 7 {
		alerts = append(alerts, alert(fmt.Sprintf("fp%d", i), core.StatusFiring, 0))
	}
	h.accept(true, alerts...)
	var seen []uint64
	page := outbox.Page{Limit: 3}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		list, next, err := h.box.DeadLetters(outbox.Selection{}, page)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > page.Limit {
			t.Fatalf("a page of %d holds %d", page.Limit, len(list))
		}
		for _, d := range list {
			seen = append(seen, d.ID)
		}
		if next == 0 {
			break
		}
		page.After = next
	}
	if len(seen) != 7 {
		t.Fatalf("paging listed %d dead letters (%v), want 7", len(seen), seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Errorf("ids %v are not in increasing order without repeats", seen)
		}
	}
}
