package config

// Runtime tunes the Go runtime, as Prometheus's runtime section does.
type Runtime struct {
	// GoGC is the collector's GOGC: how far, in percent of the live heap,
	// the heap grows before the next collection. A GOGC in the
	// environment wins over it.
	GoGC int `yaml:"gogc"`
	// HeapFloor, in bytes, is the heap size below which the collector
	// does not run: while the live heap times (1 + gogc/100) is smaller,
	// GOGC is raised after each collection so that the next one falls
	// due at the floor. 0 turns it off. A GOGC in the environment turns
	// it off as well; the soft memory limit (GOMEMLIMIT) still wins over
	// it.
	HeapFloor int64 `yaml:"heap_floor"`
}

// DefaultGoGC is Go's own default. Twice it saved about a tenth of
// am-fanout's CPU per delivery under the end-to-end load, for a heap up
// to half as large again; but under the outbox's bounds with a
// black-holed target the process, with the store file's mapped pages,
// then came within a few MiB of a 128 MiB container's limit and once in
// five runs passed it, where at 100 it stays 24 MiB under (BENCHMARKS.md,
// Memory). Raise it where memory is to spare; HeapFloor buys most of
// the saving without the larger heap under overload.
const DefaultGoGC = 100

// DefaultHeapFloor is 32 MiB. am-fanout's live heap under a steady
// stream of deliveries is about 10 MiB, which GOGC 100 collects at 20:
// at ten thousand deliveries a second that is several collections a
// second, each of which scans every goroutine's stack and slows every
// allocation while it marks. With the floor it collects at 32 MiB there,
// less than half as often (its share of the CPU fell from 12 % to 4 %),
// while under the outbox's bounds, where the live
// heap is larger, the floor is below what GOGC asks for anyway and
// changes nothing measurable; it is never more than half the soft
// memory limit (the chart's is 112 MiB). At 48 MiB the peaks of the
// memory tests rose by 14 MiB (BENCHMARKS.md, "End to end: a floor under
// the heap").
const DefaultHeapFloor = 32 << 20

// DefaultRuntime is the runtime section used for every key the file
// omits.
func DefaultRuntime() Runtime { return Runtime{GoGC: DefaultGoGC, HeapFloor: DefaultHeapFloor} }

func (r *Runtime) validate(pos *position) error {
	if r.GoGC < 1 {
		return pos.errorf("runtime.gogc", "must be at least 1, got %d (GOGC=off in the environment turns the collector off)", r.GoGC)
	}
	if r.HeapFloor < 0 {
		return pos.errorf("runtime.heap_floor", "must be 0 (off) or a size in bytes, got %d", r.HeapFloor)
	}
	return nil
}
