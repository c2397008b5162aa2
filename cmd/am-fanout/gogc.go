package main

import (
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"github.com/am-fanout/am-fanout/config"
)

// apply sets the collector's GOGC to the configuration's runtime.gogc,
// raised while the live heap is small so that no collection runs before
// the heap reaches runtime.heap_floor, unless the environment sets GOGC:
// the environment wins over both, as it does for GOMEMLIMIT. The GOGC in
// effect is the Go runtime's go_gc_gogc_percent on /metrics.
func (c *collector) apply(rt config.Runtime, logger *slog.Logger) {
	if v := os.Getenv("GOGC"); v != "" {
		logger.Debug("GOGC from the environment, runtime.gogc and runtime.heap_floor not applied", "GOGC", v)
		return
	}
	if old, changed := c.set(rt.GoGC, rt.HeapFloor); changed {
		logger.Info("GOGC set from runtime.gogc and runtime.heap_floor", "gogc", rt.GoGC, "heap_floor_bytes", rt.HeapFloor, "was", old)
	}
}

// newCollector is the process's collector as the server tunes it: there
// is one per process, and the server holds it.
func newCollector() *collector {
	return &collector{readLimit: func() int64 { return debug.SetMemoryLimit(-1) }}
}

// maxGoGC bounds the GOGC the floor sets, for a live heap far below it:
// a heap of 4 MiB (the runtime's least) under a floor of 32 MiB asks for
// 700.
const maxGoGC = 1000

// collector keeps a floor under the heap: after each collection it sets
// GOGC to what makes the next one fall due at the floor, when the live
// heap times (1 + base/100) is below it, and to base otherwise. The soft
// memory limit still wins: the runtime collects earlier when the heap
// nears it, whatever GOGC says, and the floor is never more than half of
// it.
type collector struct {
	mu sync.Mutex
	// base is runtime.gogc; 0 until set first runs.
	base      int
	floor     uint64
	armed     bool
	readLimit func() int64 // the soft memory limit, math.MaxInt64 for none
}

// set makes gogc the base and floor the floor, applies them now, and
// returns the GOGC in effect before and whether either setting changed.
func (c *collector) set(gogc int, floor int64) (old int, changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := uint64(max(floor, 0))
	changed = c.base != gogc || c.floor != f
	c.base, c.floor = gogc, f
	old = debug.SetGCPercent(c.percent(liveHeap()))
	if c.floor > 0 && !c.armed {
		c.armed = true
		c.arm()
	}
	return old, changed
}

// stop turns the floor off, leaving GOGC at the base, when the server
// that set it closes.
func (c *collector) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.floor == 0 {
		return
	}
	c.floor = 0
	debug.SetGCPercent(c.percent(liveHeap()))
}

// percent is the GOGC that puts the next collection at the floor for a
// live heap of live bytes, and never below base. A floor above half the
// soft memory limit counts as that half: the floor is there to spare
// collections of a small heap, not to keep the heap near the limit.
func (c *collector) percent(live uint64) int {
	// Before the first collection the runtime's least heap stands in.
	live = max(live, 4<<20)
	floor := c.floor
	if limit := c.readLimit(); limit != math.MaxInt64 {
		floor = min(floor, uint64(limit)/2)
	}
	if floor <= live {
		return c.base
	}
	need := int(min((floor*100)/live-100, maxGoGC))
	return max(c.base, need)
}

// sentinel is an object that is only found unreachable by a collection;
// it holds a pointer so that the runtime's tiny allocator, whose blocks
// may hold it alive with their neighbours, does not take it.
type sentinel struct{ _ *byte }

// arm has the next collection call cycle, once its sweep let go of a
// sentinel made here. c.mu is held.
func (c *collector) arm() {
	runtime.AddCleanup(&sentinel{}, func(c *collector) { c.cycle() }, c)
}

// cycle runs after each collection: it sets GOGC for the heap that
// collection found live, and arms itself for the next one while a floor
// is set.
func (c *collector) cycle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.floor == 0 {
		c.armed = false
		return
	}
	debug.SetGCPercent(c.percent(liveHeap()))
	c.arm()
}

// liveHeap is the heap the last collection marked live, in bytes; 0
// before the first.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
