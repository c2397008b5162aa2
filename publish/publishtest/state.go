package publishtest

import (
	"context"
	"sync"
	"time"
)

// State is a publisher's state in a map, as publish.State: publishers
// given the same one stand for one target across a restart. It records
// each key's ttl; Err, when set, fails every call.
type State struct {
	Err error

	mu      sync.Mutex
	entries map[string][]byte
	ttls    map[string]time.Duration
}

// NewState is an empty State.
func NewState() *State {
	return &State{entries: map[string][]byte{}, ttls: map[string]time.Duration{}}
}

// Get returns the value of key.
func (s *State) Get(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.entries[key]
	return v, ok, s.Err
}

// Put stores value under key and records ttl.
func (s *State) Put(_ context.Context, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err == nil {
		s.entries[key], s.ttls[key] = value, ttl
	}
	return s.Err
}

// Delete removes key.
func (s *State) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err == nil {
		delete(s.entries, key)
	}
	return s.Err
}

// TTLOf is the ttl key was last stored with, 0 if it is not stored.
func (s *State) TTLOf(key string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[key]; !ok {
		return 0
	}
	return s.ttls[key]
}
