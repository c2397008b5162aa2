package breaker

import (
	"sync"

	"github.com/am-fanout/am-fanout/core"
)

// Set holds the breakers of all targets and keeps them across config
// reloads, so a reload does not close the breaker of a target that is
// still down. It is safe for concurrent use.
type Set struct {
	onChange func(name string, from, to State)

	mu       sync.Mutex
	breakers map[string]entry
}

type entry struct {
	key     string
	breaker *Breaker
}

// NewSet returns an empty set whose breakers report state changes to
// onChange (may be nil); see New for what onChange must not do.
func NewSet(onChange func(name string, from, to State)) *Set {
	return &Set{onChange: onChange, breakers: make(map[string]entry)}
}

// Get returns the breaker of the target name. key identifies the target's
// configuration (config.Target.Key()): while it is unchanged the existing
// breaker is kept and st is ignored; when it changes, or the target is
// new, a closed breaker built from st replaces it. A replaced breaker
// reports no further state changes, and if it was not closed its
// replacement is reported as a change to closed, so a state metric follows
// the breaker in use.
func (s *Set) Get(name, key string, st core.BreakerSettings) *Breaker {
	s.mu.Lock()
	old, ok := s.breakers[name]
	if ok && old.key == key {
		s.mu.Unlock()
		return old.breaker
	}
	if ok {
		old.breaker.retired.Store(true)
	}
	b := New(name, st, s.onChange)
	s.breakers[name] = entry{key: key, breaker: b}
	s.mu.Unlock()

	// Outside the lock, since onChange is the caller's code. The old
	// breaker is retired first: any change it reported has finished by the
	// time State returns, so this report comes last.
	if ok && s.onChange != nil {
		if from := old.breaker.State(); from != Closed {
			s.onChange(name, from, Closed)
		}
	}
	return b
}

// Retain drops the breakers of targets not in names; they report no
// further state changes. The caller removes whatever it keeps per target
// name, such as metric series.
func (s *Set) Retain(names map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, e := range s.breakers {
		if !names[name] {
			e.breaker.retired.Store(true)
			delete(s.breakers, name)
		}
	}
}

// Lookup returns the breaker of the target name, if the set has one.
func (s *Set) Lookup(name string) (*Breaker, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.breakers[name]
	return e.breaker, ok
}
