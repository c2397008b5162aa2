package config

// Runtime tunes the Go runtime, as Prometheus's runtime section does.
type Runtime struct {
	// GoGC is the collector's GOGC: how far, in percent of the live heap,
	// the heap grows before the next collection. A GOGC in the
	// environment wins over it.
	GoGC int `yaml:"gogc"`
}

// DefaultGoGC is twice Go's default. am-fanout's live heap is small (tens
// of MiB under load) and short-lived garbage dominates what it
// allocates, so collecting half as often saved about a tenth of its CPU
// per delivery for 6-27 MiB more peak memory under the end-to-end load
// (BENCHMARKS.md); the soft memory limit set from the container's
// (GOMEMLIMIT) still makes the collector work harder near the limit.
const DefaultGoGC = 200

// DefaultRuntime is the runtime section used for every key the file
// omits.
func DefaultRuntime() Runtime { return Runtime{GoGC: DefaultGoGC} }

func (r *Runtime) validate(pos *position) error {
	if r.GoGC < 1 {
		return pos.errorf("runtime.gogc", "must be at least 1, got %d (GOGC=off in the environment turns the collector off)", r.GoGC)
	}
	return nil
}
