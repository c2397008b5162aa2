package main

import (
	"bytes"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/config"
)

// GOMEMLIMIT in the environment wins over the container's limit: the
// runtime's limit is left as the environment set it.
func TestMemoryLimitFromTheEnvironmentIsKept(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "100MiB")
	before := debug.SetMemoryLimit(-1)
	var logs bytes.Buffer
	setMemoryLimit(slog.New(slog.NewTextHandler(&logs, nil)))
	if after := debug.SetMemoryLimit(-1); after != before {
		t.Errorf("the soft memory limit changed from %d to %d although GOMEMLIMIT is set", before, after)
	}
	if !strings.Contains(logs.String(), "memory limit from the environment") {
		t.Errorf("the log does not say where the limit comes from: %s", logs.String())
	}
}

// runtime.gogc sets the collector's GOGC, on every load of the
// configuration; GOGC in the environment wins over it.
func TestGoGCFromTheConfiguration(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	t.Setenv("GOGC", "")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	gc := newCollector()
	gc.apply(config.Runtime{GoGC: 250}, logger)
	if got := debug.SetGCPercent(250); got != 250 {
		t.Errorf("GOGC is %d after applying runtime.gogc 250", got)
	}
	if !strings.Contains(logs.String(), "gogc=250 heap_floor_bytes=0 was=100") {
		t.Errorf("the change is not logged with both values: %s", logs.String())
	}

	t.Setenv("GOGC", "50")
	gc.apply(config.Runtime{GoGC: 300}, logger)
	if got := debug.SetGCPercent(250); got != 250 {
		t.Errorf("runtime.gogc changed GOGC to %d although GOGC is set in the environment", got)
	}
}

// The floor's GOGC puts the next collection at the floor for a small live
// heap, never below runtime.gogc, and never above maxGoGC.
func TestHeapFloorPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tt := range []struct {
		base  int
		floor uint64
		live  uint64
		want  int
	}{
		{100, 0, 10 * mib, 100},        // off
		{100, 32 * mib, 8 * mib, 300},  // 8 MiB × 4 = 32 MiB
		{100, 32 * mib, 0, 700},        // before the first collection: the runtime's least heap, 4 MiB
		{100, 32 * mib, 16 * mib, 100}, // 16 MiB × 2 reaches the floor: GOGC's own
		{100, 32 * mib, 40 * mib, 100}, // above the floor
		{300, 32 * mib, 10 * mib, 300}, // runtime.gogc asks for more than the floor
		{50, 32 * mib, 16 * mib, 100},
		{100, 1 << 40, 4 * mib, maxGoGC},
	} {
		c := &collector{base: tt.base, floor: tt.floor, readLimit: func() int64 { return math.MaxInt64 }}
		if got := c.percent(tt.live); got != tt.want {
			t.Errorf("base %d, floor %d MiB, live %d MiB: GOGC %d, want %d", tt.base, tt.floor/mib, tt.live/mib, got, tt.want)
		}
	}
}

// A floor above half the soft memory limit counts as that half.
func TestHeapFloorStaysUnderHalfTheMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	c := &collector{base: 100, floor: 48 * mib, readLimit: func() int64 { return 64 * mib }}
	if got := c.percent(8 * mib); got != 300 { // 32 MiB: 8 MiB × 4
		t.Errorf("GOGC %d for a live heap of 8 MiB under a 64 MiB limit, want 300", got)
	}
	c.readLimit = func() int64 { return 200 * mib }
	if got := c.percent(8 * mib); got != 500 { // the floor's 48 MiB
		t.Errorf("GOGC %d for a live heap of 8 MiB under a 200 MiB limit, want 500", got)
	}
}

// With a floor far above the live heap, each collection leaves GOGC
// raised; with the floor turned off, runtime.gogc holds again after the
// next collection as well.
func TestHeapFloorRaisesGoGCAfterCollections(t *testing.T) {
	before := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(math.MaxInt64)
	gc := newCollector()
	t.Cleanup(func() {
		gc.set(100, 0)
		runtime.GC()
		debug.SetGCPercent(before)
		debug.SetMemoryLimit(limit)
	})
	t.Setenv("GOGC", "")
	logger := slog.New(slog.DiscardHandler)
	gc.apply(config.Runtime{GoGC: 100, HeapFloor: 1 << 40}, logger)
	if got := gogcPercent(); got != maxGoGC {
		t.Fatalf("GOGC is %d right after setting a floor far above the heap, want %d", got, maxGoGC)
	}
	// A collection's sweep runs the cleanup that sets GOGC again: put
	// something else in its place first to see it set.
	debug.SetGCPercent(100)
	for i := 0; gogcPercent() != maxGoGC; i++ {
		if i == 1000 {
			t.Fatalf("GOGC is %d after %d collections with a floor far above the heap, want %d", gogcPercent(), i, maxGoGC)
		}
		runtime.GC()
		runtime.Gosched()
	}

	gc.stop()
	if got := gogcPercent(); got != 100 {
		t.Fatalf("GOGC is %d once the server stopped the floor, want runtime.gogc's 100", got)
	}
	gc.apply(config.Runtime{GoGC: 120}, logger)
	if got := gogcPercent(); got != 120 {
		t.Fatalf("GOGC is %d once the floor is off, want runtime.gogc's 120", got)
	}
	for range 20 {
		runtime.GC()
		runtime.Gosched()
	}
	if got := gogcPercent(); got != 120 {
		t.Errorf("GOGC is %d after collections with the floor off, want 120", got)
	}
}

// gogcPercent is the GOGC in effect.
func gogcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}
