package outbox

import (
	"net/http"
	"testing"

	"github.com/am-fanout/am-fanout/core"
)

// TestReplayAndPurge: dead letters are listed by target, replayed one by
// id or all of a target, refused when the order forbids it, and purged.
func TestReplayAndPurge(t *testing.T) {
	t1, t2 := newTarget(t, 400), newTarget(t, 400)
	h := newHarness(t, map[string]*target{"t1": t1, "t2": t2}, fastRetries(), 100)
	h.accept(true, alert("a", core.StatusFiring, 0), alert("b", core.StatusFiring, 0))
	list := func(target string) []DeadLetter {
		t.Helper()
		ds, _, err := h.box.DeadLetters(Selection{Target: target}, Page{})
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
	got, err := h.box.Replay(Selection{ID: id})
	if err != nil || len(got) != 1 || got[0].State != StateReplayed {
		t.Fatalf("Replay(id %d) = %+v, %v; want it replayed", id, got, err)
	}
	waitUntil(t, "the replayed delivery", func() bool { return h.box.Pending() == 0 })
	if n := len(list("t1")); n != 1 {
		t.Errorf("t1 has %d dead letters after replaying one, want 1", n)
	}

	// A newer state of alert b makes its dead firing stale.
	h.accept(true, alert("b", core.StatusResolved, 0))
	for _, tc := range []struct {
		sel  Selection
		want string
	}{
		{Selection{Target: "t1"}, StateStale},
		{Selection{ID: 9999}, StateNotFound},
	} {
		got, err := h.box.Replay(tc.sel)
		if err != nil || len(got) != 1 || got[0].State != tc.want {
			t.Errorf("Replay(%+v) = %+v, %v; want one %q", tc.sel, got, err, tc.want)
		}
	}

	got, err = h.box.Replay(Selection{Target: "t2"})
	if err != nil || len(got) != 2 || got[0].State != StateReplayed || got[1].State != StateStale {
		t.Errorf("Replay(target t2) = %+v, %v; want alert a replayed and b stale", got, err)
	}
	waitUntil(t, "the replayed delivery", func() bool { return h.box.Pending() == 0 })
	if n, err := h.box.Purge(Selection{Target: "t1"}); err != nil || n != 1 {
		t.Errorf("Purge(t1) = %d, %v; want 1", n, err)
	}
	if n, err := h.box.Purge(Selection{}); err != nil || n != 1 {
		t.Errorf("Purge(all) = %d, %v; want the 1 left for t2", n, err)
	}
	if n := len(list("")); n != 0 {
		t.Errorf("%d dead letters after purging all, want 0", n)
	}
	if _, err := h.box.Replay(Selection{}); err == nil {
		t.Errorf("Replay with neither id nor target succeeded, want an error")
	}
}
