package outbox

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// appendHistory writes an attempt's line. One replica runs the lanes,
// so a delivery's history has one writer.
func (s *JetStreamStore) appendHistory(ctx context.Context, he *historyEntry, now time.Time) error {
	key := hex.EncodeToString(he.key)
	var stored []byte
	if !he.first {
		e, err := kvGet(ctx, s.history, key)
		switch {
		case err == nil:
			stored = e.Value()
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return err
		}
	}
	_, err := s.put(ctx, s.names.history, key, he.next(stored, now), false, 0, 0)
	return err
}

// Histories lists the recent deliveries q selects, newest first. It
// reads the whole history bucket (bounded by the retention).
func (s *JetStreamStore) Histories(q HistoryQuery) ([]History, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	w, err := s.history.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("nats store: reading history: %w", err)
	}
	defer w.Stop()
	type rec struct {
		key string
		h   History
	}
	var all []rec
	for e := range w.Updates() {
		if e == nil {
			break
		}
		if h, ok := decodeHistory(e.Value()); ok && q.selects(&h) {
			all = append(all, rec{e.Key(), h})
		}
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("nats store: reading history: %w", ctx.Err())
	}
	// Keys are hex of acceptance time and id: they sort as they were
	// accepted.
	slices.SortFunc(all, func(a, b rec) int { return strings.Compare(b.key, a.key) })
	out := []History{}
	for _, r := range all[:min(q.limit(), len(all))] {
		out = append(out, r.h)
	}
	return out, nil
}

// JetStreamState is one target's publisher state in the state bucket, as
// TargetState is in the bbolt store: values by key, each until its
// expiry. It is safe for concurrent use while the store is open.
type JetStreamState struct {
	s      *JetStreamStore
	prefix string
}

// State returns the publisher state of target; every call for the same
// target, on any replica, sees the same entries.
func (s *JetStreamStore) State(target string) *JetStreamState {
	return &JetStreamState{s: s, prefix: hashHex(target, 8) + "."}
}

func (t *JetStreamState) key(k string) string { return t.prefix + encodeKey(k) }

// Get returns the value of key, unless it is missing or expired.
func (t *JetStreamState) Get(ctx context.Context, key string) ([]byte, bool, error) {
	e, err := kvGet(ctx, t.s.state, t.key(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading publisher state: %w", err)
	}
	v := e.Value()
	if len(v) < 8 || !time.Now().Before(decodeTime(v)) {
		return nil, false, nil
	}
	return v[8:], true, nil
}

// Put stores value under key for ttl, on a quorum.
func (t *JetStreamState) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("storing publisher state %q: ttl %v is not positive", key, ttl)
	}
	return t.put(ctx, key, value, time.Now().Add(ttl))
}

func (t *JetStreamState) put(ctx context.Context, key string, value []byte, expires time.Time) error {
	v := append(encodeTime(expires), value...)
	if _, err := t.s.put(ctx, t.s.names.state, t.key(key), v, false, 0, time.Until(expires)); err != nil {
		return fmt.Errorf("storing publisher state: %w", err)
	}
	return nil
}

// Delete removes key; a missing key is no error.
func (t *JetStreamState) Delete(ctx context.Context, key string) error {
	if err := t.s.state.Purge(ctx, t.key(key), t.s.markerTTL()...); err != nil {
		return fmt.Errorf("deleting publisher state: %w", err)
	}
	return nil
}

// ImportState stores the entries of target that have not expired at
// now, and returns how many it stored. Unlike the bbolt store's, an
// import that fails midway keeps the entries stored before the failure;
// importing again stores them again.
func (s *JetStreamStore) ImportState(target string, entries []StateEntry, now time.Time) (int, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	t := s.State(target)
	n := 0
	for _, e := range entries {
		if !now.Before(e.Expires) {
			continue
		}
		if err := t.put(ctx, e.Key, e.Value, e.Expires); err != nil {
			return n, fmt.Errorf("importing publisher state of target %q: %w", target, err)
		}
		n++
	}
	return n, nil
}
