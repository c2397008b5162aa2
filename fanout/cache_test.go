package fanout

import (
	"reflect"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// kept accepts alert a for targets in a bare pipeline's cache, as Accept
// does, and returns their entries and the shared alert.
func kept(p *Pipeline, a *core.EnrichedAlert, now time.Time, targets ...string) ([]*entry, []*outbox.Delivery, *accepted) {
	enc := outbox.NewEncoder([]*core.EnrichedAlert{a}, now, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	var (
		entries []*entry
		records []*outbox.Delivery
		sh      *accepted
	)
	for _, target := range targets {
		c := enc.Alert(target, 0)
		c.Delivery.ID = uint64(len(p.entries) + len(entries) + 1)
		if sh == nil {
			sh = newAccepted(c)
		}
		e := &entry{id: c.Delivery.ID, size: c.Size(), index: -1, lane: p.lane(target)}
		p.cache(e, c.Delivery, sh)
		entries, records = append(entries, e), append(records, c.Delivery)
	}
	return entries, records, sh
}

// TestCachedAlertCountsOnce: the first-attempt records of one alert's
// deliveries to several targets hold the alert once, and it counts once
// against the cache's budget until the last of them is taken; each
// record taken is the record as accepted.
func TestCachedAlertCountsOnce(t *testing.T) {
	p := &Pipeline{opts: Options{MaxBytes: 32 << 20}, lanes: map[string]*lane{}, entries: map[uint64]*entry{}}
	now := time.Now()
	a := alert("c1", core.StatusFiring, 0)
	a.Alert.Annotations = map[string]string{"summary": "disk full on node-1"}
	entries, records, sh := kept(p, a, now, "a", "b", "c")
	if sh.cost < int64(len(a.Alert.Annotations["summary"])) {
		t.Fatalf("the shared alert costs %d bytes, less than its summary", sh.cost)
	}
	if want := sh.cost + 3*keptCost; p.cachedBytes != want {
		t.Fatalf("three records of one alert count %d bytes, want %d (the alert once)", p.cachedBytes, want)
	}
	got := p.uncache(entries[1])
	if !reflect.DeepEqual(got, records[1]) {
		t.Errorf("the record taken is\n%+v\nwant the record as accepted\n%+v", got, records[1])
	}
	if got.Memo == nil || got.Memo != records[0].Memo {
		t.Error("the record taken does not carry the alert's render memo")
	}
	if want := sh.cost + 2*keptCost; p.cachedBytes != want {
		t.Errorf("after one was taken: %d bytes, want %d", p.cachedBytes, want)
	}
	if p.uncache(entries[1]) != nil {
		t.Error("a record was taken twice")
	}
	p.drop(entries[0])
	if got := p.uncache(entries[2]); got == nil || got.Target != "c" {
		t.Errorf("the last record taken is %+v, want the delivery to c", got)
	}
	if p.cachedBytes != 0 {
		t.Errorf("with no record kept the cache counts %d bytes", p.cachedBytes)
	}
}

// TestCacheKeepsItsBudget: past the budget, records are not kept (their
// first attempts read them back), and neither is a further target's
// record of an alert kept whole.
func TestCacheKeepsItsBudget(t *testing.T) {
	probe := &Pipeline{opts: Options{MaxBytes: 32 << 20}, lanes: map[string]*lane{}, entries: map[uint64]*entry{}}
	_, _, sh := kept(probe, alert("b0", core.StatusFiring, 0), time.Now(), "a")
	// Room for one alert and two of its records.
	budget := sh.cost + 2*keptCost
	p := &Pipeline{opts: Options{MaxBytes: 32 << 20}, lanes: map[string]*lane{}, entries: map[uint64]*entry{}}
	p.opts.MaxBytes = p.opts.MaxBytes * budget / p.maxCached()
	if p.maxCached() != budget {
		t.Fatalf("a budget of %d bytes could not be set: %d", budget, p.maxCached())
	}
	entries, _, _ := kept(p, alert("b0", core.StatusFiring, 0), time.Now(), "a", "b", "c")
	if entries[0].share == nil || entries[1].share == nil || entries[2].share != nil {
		t.Errorf("kept: %v %v %v, want the first two records only", entries[0].share != nil, entries[1].share != nil, entries[2].share != nil)
	}
	more, _, _ := kept(p, alert("b1", core.StatusFiring, 0), time.Now(), "a")
	if more[0].share != nil {
		t.Error("a second alert was kept past the budget")
	}
	if p.cachedBytes > p.maxCached() {
		t.Errorf("the cache counts %d bytes, over its budget of %d", p.cachedBytes, p.maxCached())
	}
}
