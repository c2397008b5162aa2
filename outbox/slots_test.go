package outbox

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// wantSlots checks the slots s keeps and the records of its slots' log,
// read from the file, at the moment when names.
func wantSlots(t *testing.T, s *Store, live, records int, when string) {
	t.Helper()
	gotLive, _ := s.slots.counts()
	if gotRecords := bucketLen(t, s, bucketSlots); gotLive != live || gotRecords != records {
		t.Errorf("%s: %d slots in %d records of the log, want %d in %d", when, gotLive, gotRecords, live, records)
	}
}

// The slots are read back from their log when the file is opened again:
// an alert's order and its delivered state survive a restart, and each
// slot's newest record wins over the earlier ones it superseded.
func TestSlotsLogSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s := newStoreAt(t, path)
	deliver(t, s, accept(t, s, "t1", alert("a", core.StatusFiring, 0))[0])
	accept(t, s, "t1", alert("b", core.StatusFiring, 5))
	// b's newer firing supersedes its first: two records, one live.
	accept(t, s, "t1", alert("b", core.StatusFiring, 10))
	wantSlots(t, s, 2, 3, "after the acceptances")
	reopenedDecides(t, s, []decision{
		{alert("a", core.StatusFiring, 0), StateAlreadyDelivered},
		{alert("b", core.StatusFiring, 5), StateStale},
		{alert("b", core.StatusFiring, 10), StateAlreadyPending},
		{alert("b", core.StatusResolved, 10), StateAccepted},
	})
}

// decision is the state an acceptance of a should get.
type decision struct {
	a    *core.EnrichedAlert
	want string
}

// reopenedDecides closes s, opens its file again and checks, in turn,
// what accepting each alert to t1 decides.
func reopenedDecides(t *testing.T, s *Store, decisions []decision) {
	t.Helper()
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = newStoreAt(t, path)
	for _, d := range decisions {
		if got := accept(t, s, "t1", d.a)[0].State; got != d.want {
			t.Errorf("%s %s after reopening: %q, want %q", d.a.Alert.Fingerprint, stateOf(d.a), got, d.want)
		}
	}
}

// A transaction that fails leaves the slots as they were, as it leaves
// the file: its changes never reach the index.
func TestFailedCommitLeavesSlots(t *testing.T) {
	s := newStore(t, StoreOptions{})
	first := accept(t, s, "t1", alert("a", core.StatusFiring, 10))[0]
	key := fileKey(first.Delivery.Slot())
	before, ok := committedSlot(t, s, key)
	if !ok {
		t.Fatal("no slot after an acceptance")
	}
	boom := errors.New("boom")
	err := s.update(func(tx *boltTx) error {
		if err := s.slots.put(tx, key, slotState{Order: orderOf(alert("a", core.StatusFiring, 20)), At: time.Now()}); err != nil {
			return err
		}
		if err := s.slots.put(tx, fileKey(slotKey("t1", "new")), slotState{At: time.Now()}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("the failing write returned %v", err)
	}
	if after, _ := committedSlot(t, s, key); after != before {
		t.Errorf("a failed transaction changed the slot: %+v, then %+v", before, after)
	}
	if _, ok := committedSlot(t, s, fileKey(slotKey("t1", "new"))); ok {
		t.Error("a failed transaction added a slot")
	}
	wantSlots(t, s, 1, 1, "after a failed transaction")
	// The order is the committed one: a firing between the two is newer.
	if got := accept(t, s, "t1", alert("a", core.StatusFiring, 15))[0].State; got != StateAccepted {
		t.Errorf("a firing later than the committed one: %q, want accepted", got)
	}
}

// Pruning drops the records later changes superseded from the log's
// head, and, when the dead records outnumber the live ones behind a slot
// it keeps, writes that slot again at the end so that they go too.
func TestPruneSlotsDropsDeadRecords(t *testing.T) {
	s := newStore(t, StoreOptions{})
	// a first and kept; then b changed 20 times: 19 dead records behind
	// a's live one.
	deliver(t, s, accept(t, s, "t1", alert("a", core.StatusFiring, 0))[0])
	for i := range 20 {
		deliver(t, s, accept(t, s, "t1", alert("b", core.StatusFiring, i))[0])
	}
	wantSlots(t, s, 2, 21, "before pruning")
	if err := s.Prune(time.Now()); err != nil {
		t.Fatal(err)
	}
	wantSlots(t, s, 2, 2, "after pruning")
	// Both slots still order and deduplicate, also read back from the
	// file.
	reopenedDecides(t, s, []decision{
		{alert("a", core.StatusFiring, 0), StateAlreadyDelivered},
		{alert("b", core.StatusFiring, 19), StateAlreadyDelivered},
		{alert("b", core.StatusFiring, 18), StateStale},
	})
}

// Past the retention, a slot goes once nothing is pending for it; a slot
// whose delivery is still pending stays, and its record moves to the
// log's end so that the slots behind it can go.
func TestPruneSlotsByAge(t *testing.T) {
	s := newStore(t, StoreOptions{Retention: time.Hour})
	accept(t, s, "t1", alert("p", core.StatusFiring, 0))
	deliver(t, s, accept(t, s, "t1", alert("a", core.StatusFiring, 0))[0])
	deliver(t, s, accept(t, s, "t1", alert("b", core.StatusFiring, 0))[0])
	if err := s.Prune(time.Now().Add(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	for fp, want := range map[string]bool{"p": true, "a": false, "b": false} {
		if kept := slotBytes(t, s, "t1", fp) != nil; kept != want {
			t.Errorf("slot %s kept: %v, want %v", fp, kept, want)
		}
	}
	wantSlots(t, s, 1, 1, "after pruning")
	// The pending slot still supersedes: its older firing is stale.
	if got := accept(t, s, "t1", alert("p", core.StatusFiring, -5))[0].State; got != StateStale {
		t.Errorf("an older firing of the pending slot: %q, want stale", got)
	}
}

// The slots' index holds no pointers and little per slot: 100 000 slots,
// max_done's default, take under 64 bytes each and add nothing the
// garbage collector scans.
func TestSlotIndexMemory(t *testing.T) {
	const n = 100000
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	x := newSlotIndex()
	for i := range n {
		x.m[x.hash(fmt.Appendf(nil, "%016x\x00target-%d", i, i%10))] = uint64(i + 1)
	}
	per := float64(heap()-before) / n
	runtime.KeepAlive(x)
	t.Logf("%.0f bytes per slot in the index", per)
	if per > 64 {
		t.Errorf("%.0f bytes per slot in the index, want under 64", per)
	}
	if _, ok := x.m[x.hash([]byte(fmt.Sprintf("%016x\x00target-%d", 7, 7)))]; !ok {
		t.Error("a slot put in is not found by its key")
	}
}

// A pending slot at the log's head stays where it is when nothing behind
// it is to go: pruning does not rewrite a long outage's pending slots
// every minute.
func TestPruneSlotsLeavesPendingInPlace(t *testing.T) {
	s := newStore(t, StoreOptions{Retention: time.Hour})
	accept(t, s, "t1", alert("p", core.StatusFiring, 0))
	deliver(t, s, accept(t, s, "t1", alert("a", core.StatusFiring, 0))[0])
	before := slotBytes(t, s, "t1", "p")
	if err := s.Prune(time.Now()); err != nil {
		t.Fatal(err)
	}
	if after := slotBytes(t, s, "t1", "p"); string(after) != string(before) {
		t.Errorf("pruning with nothing to drop rewrote the pending slot: %x, then %x", before, after)
	}
	wantSlots(t, s, 2, 2, "after pruning")
}
