package fanout

import "sync/atomic"

// TargetSet holds the current targets and swaps them atomically on reload:
// a fan-out that already took the old slice finishes on it.
type TargetSet struct {
	p atomic.Pointer[[]*Target]
}

// NewTargetSet returns a set holding ts.
func NewTargetSet(ts []*Target) *TargetSet {
	s := &TargetSet{}
	s.Store(ts)
	return s
}

// Targets returns the current targets; the slice must not be modified.
func (s *TargetSet) Targets() []*Target {
	if p := s.p.Load(); p != nil {
		return *p
	}
	return nil
}

// Store installs a new set of targets.
func (s *TargetSet) Store(ts []*Target) { s.p.Store(&ts) }
