package fanout

import (
	"sync/atomic"

	"github.com/am-fanout/am-fanout/core"
)

// TargetSet holds the current targets and swaps them atomically on reload:
// a fan-out that already took the old slice finishes on it.
type TargetSet struct {
	p atomic.Pointer[[]*core.Target]
}

// NewTargetSet returns a set holding ts.
func NewTargetSet(ts []*core.Target) *TargetSet {
	s := &TargetSet{}
	s.Store(ts)
	return s
}

// Targets returns the current targets; the slice must not be modified.
func (s *TargetSet) Targets() []*core.Target {
	if p := s.p.Load(); p != nil {
		return *p
	}
	return nil
}

// Store installs a new set of targets.
func (s *TargetSet) Store(ts []*core.Target) { s.p.Store(&ts) }
