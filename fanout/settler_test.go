package fanout

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// batchSpy is the bbolt store with its Record watched: the first call
// says it has begun (entered) and waits for hold to close, and any call
// holding a delivery to target "bad" fails.
type batchSpy struct {
	*outbox.Store
	entered chan struct{}
	hold    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	// calls are the targets of each Record call's settlements.
	calls [][]string
}

var errBadSettlement = errors.New("this settlement cannot be written")

func (s *batchSpy) Record(now time.Time, ss ...*outbox.Settlement) error {
	s.once.Do(func() {
		close(s.entered)
		<-s.hold
	})
	var names []string
	bad := false
	for _, st := range ss {
		names = append(names, st.Delivery.Target)
		bad = bad || st.Delivery.Target == "bad"
	}
	s.mu.Lock()
	s.calls = append(s.calls, names)
	s.mu.Unlock()
	if bad {
		return errBadSettlement
	}
	return s.Store.Record(now, ss...)
}

func (s *batchSpy) recorded() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.calls...)
}

// TestSettlementsShareAWriteAndFailAlone: outcomes settled while a write
// is under way are written together in the next one; when that write
// fails, each is written again alone, so that the one that cannot be
// written fails by itself and the others are recorded.
func TestSettlementsShareAWriteAndFailAlone(t *testing.T) {
	first, good, bad := newServer(t), newServer(t), newServer(t)
	h := newHarness(t, map[string]*server{"first": first, "good": good, "bad": bad}, fastRetries(), 100)
	h.close()
	releaseGood, releaseBad := good.hold(), bad.hold()

	store, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	spy := &batchSpy{Store: store, entered: make(chan struct{}), hold: make(chan struct{})}
	box, err := New(spy, h.targets, h.pub, fastRetries())
	if err != nil {
		t.Fatal(err)
	}
	box.Start()
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		box.Close(ctx)
	}()

	out, err := box.Accept(context.Background(), []*core.EnrichedAlert{alert("s1", core.StatusFiring, 0)}, false)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]uint64{}
	for _, d := range out[0].Deliveries {
		ids[d.Target] = d.ID
	}
	// The first outcome's write waits (the other targets hold their
	// requests until it has begun); the other two settle meanwhile.
	waitUntil(t, "the first outcome's write to begin", func() bool {
		select {
		case <-spy.entered:
			return true
		default:
			return false
		}
	})
	releaseGood()
	releaseBad()
	waitUntil(t, "two outcomes queued behind the first write", func() bool {
		box.settler.mu.Lock()
		defer box.settler.mu.Unlock()
		return len(box.settler.queue) == 2
	})
	close(spy.hold)
	waitUntil(t, "the writes", func() bool { return len(spy.recorded()) == 4 })

	calls := spy.recorded()
	if len(calls[0]) != 1 || calls[0][0] != "first" || len(calls[1]) != 2 {
		t.Fatalf("Record calls %v, want [first], then the two queued together", calls)
	}
	for _, c := range calls[2:] {
		if len(c) != 1 {
			t.Errorf("after the shared write failed, Record got %v, want one settlement", c)
		}
	}
	waitUntil(t, "the pipeline to forget the settled deliveries", func() bool { return box.Pending() == 0 })
	for target, pending := range map[string]bool{"first": false, "good": false, "bad": true} {
		d, err := store.Read(ids[target])
		if err != nil {
			t.Fatal(err)
		}
		if (d != nil) != pending {
			t.Errorf("delivery to %s pending in the store: %v, want %v", target, d != nil, pending)
		}
	}
}

// TestCommitMetrics: the bbolt store's commits are counted on /metrics,
// with the writes they held and the time they took.
func TestCommitMetrics(t *testing.T) {
	h := newHarness(t, map[string]*server{"a": newServer(t)}, fastRetries(), 100)
	h.accept(false, alert("c1", core.StatusFiring, 0))
	waitUntil(t, "the delivery to be done", func() bool { return h.box.Pending() == 0 })
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if m := mf.GetMetric(); len(m) == 1 && m[0].GetCounter() != nil {
			got[mf.GetName()] = m[0].GetCounter().GetValue()
		}
	}
	// At least the acceptance and the outcome: two writes, in one or two
	// commits.
	if n := got["am_fanout_outbox_commits_total"]; n < 1 {
		t.Errorf("am_fanout_outbox_commits_total = %v, want at least 1", n)
	}
	if n := got["am_fanout_outbox_commit_writes_total"]; n < 2 {
		t.Errorf("am_fanout_outbox_commit_writes_total = %v, want at least 2", n)
	}
	if s := got["am_fanout_outbox_commit_seconds_total"]; s <= 0 {
		t.Errorf("am_fanout_outbox_commit_seconds_total = %v, want > 0", s)
	}
}
