package config

// Runtime tunes the Go runtime, as Prometheus's runtime section does.
type Runtime struct {
	// GoGC is the collector's GOGC: how far, in percent of the live heap,
	// the heap grows before the next collection. A GOGC in the
	// environment wins over it.
	GoGC int `yaml:"gogc"`
}

// DefaultGoGC is Go's own default. Twice it saved about a tenth of
// am-fanout's CPU per delivery under the end-to-end load, for a heap up
// to half as large again; but under the outbox's bounds with a
// black-holed target the process, with the store file's mapped pages,
// then came within a few MiB of a 128 MiB container's limit and once in
// five runs passed it, where at 100 it stays 24 MiB under (BENCHMARKS.md,
// Memory). Raise it where memory is to spare.
const DefaultGoGC = 100

// DefaultRuntime is the runtime section used for every key the file
// omits.
func DefaultRuntime() Runtime { return Runtime{GoGC: DefaultGoGC} }

func (r *Runtime) validate(pos *position) error {
	if r.GoGC < 1 {
		return pos.errorf("runtime.gogc", "must be at least 1, got %d (GOGC=off in the environment turns the collector off)", r.GoGC)
	}
	return nil
}
