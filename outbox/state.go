package outbox

import (
	"context"
	"fmt"
	"time"
)

// TargetState is the state one target's publisher keeps across restarts
// and reloads (Slack's thread roots, Rootly's alert ids): values by key,
// each until its expiry, in the store's state bucket. Expired entries
// read as missing and are swept by the retention pass. It is safe for
// concurrent use and stays valid until the store is closed.
type TargetState struct {
	s      *Store
	prefix []byte
}

// State returns the publisher state of target. Every call for the same
// target sees the same entries, so the publisher that replaces another on
// a reload finds what the first one stored.
func (s *Store) State(target string) *TargetState {
	return &TargetState{s: s, prefix: append([]byte(target), 0)}
}

func (t *TargetState) key(k string) []byte {
	return append(t.prefix[:len(t.prefix):len(t.prefix)], k...)
}

// Get returns the value of key, unless it is missing or expired. The
// context is unused: reading the file does not block.
func (t *TargetState) Get(_ context.Context, key string) ([]byte, bool, error) {
	var out []byte
	err := t.s.peek(func(tx *txn) error {
		out = nil
		v := tx.Bucket(bucketState).Get(t.key(key))
		if v != nil && time.Now().Before(decodeTime(v)) {
			out = append([]byte{}, v[8:]...)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("reading publisher state: %w", err)
	}
	return out, out != nil, nil
}

// Put stores value under key for ttl, durably. The context is unused: the
// write waits for one group commit only.
func (t *TargetState) Put(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("storing publisher state %q: ttl %v is not positive", key, ttl)
	}
	v := append(encodeTime(time.Now().Add(ttl)), value...)
	err := t.s.update(func(tx *txn) error {
		return tx.Bucket(bucketState).Put(t.key(key), v)
	})
	if err != nil {
		return fmt.Errorf("storing publisher state: %w", err)
	}
	return nil
}

// Delete removes key, durably; a missing key is no error.
func (t *TargetState) Delete(_ context.Context, key string) error {
	err := t.s.update(func(tx *txn) error {
		return tx.Bucket(bucketState).Delete(t.key(key))
	})
	if err != nil {
		return fmt.Errorf("deleting publisher state: %w", err)
	}
	return nil
}

// StateEntry is one entry of publisher state to import.
type StateEntry struct {
	Key     string
	Value   []byte
	Expires time.Time
}

// ImportState stores the entries of target that have not expired at now
// in one transaction, so that an import is whole or not at all, and
// returns how many it stored. It replaces entries with the same keys.
func (s *Store) ImportState(target string, entries []StateEntry, now time.Time) (int, error) {
	t := s.State(target)
	n := 0
	err := s.update(func(tx *txn) error {
		n = 0 // update may run fn again
		b := tx.Bucket(bucketState)
		for _, e := range entries {
			if !now.Before(e.Expires) {
				continue
			}
			if err := b.Put(t.key(e.Key), append(encodeTime(e.Expires), e.Value...)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("importing publisher state of target %q: %w", target, err)
	}
	return n, nil
}

// statePruning deletes the publisher state that has expired at now, as
// Get would find it. It is bounded by the expiries only: publishers
// choose them.
func statePruning(now time.Time) pruning {
	return pruning{bucket: bucketState, cutoff: now.Add(time.Nanosecond), timeOf: decodeTime}
}
