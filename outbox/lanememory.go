package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LaneMemory is a target lane's flow-control state: its pause, its
// failures and next probe, its open breaker. A store that replicas share
// keeps it, so that the replica taking the lanes over resumes a throttled
// or failing target where the last one was, instead of finding out again.
type LaneMemory struct {
	Target      string    `json:"target"`
	PausedUntil time.Time `json:"paused_until,omitzero"`
	Throttled   bool      `json:"throttled,omitempty"`
	Failures    int       `json:"failures,omitempty"`
	RetryAt     time.Time `json:"retry_at,omitzero"`
	BreakerOpen bool      `json:"breaker_open,omitempty"`
	LastFailure time.Time `json:"last_failure,omitzero"`
}

// SaveLane keeps a lane's state in the <prefix>-lanes bucket (kept for
// outbox.retention after its last change).
func (s *JetStreamStore) SaveLane(m LaneMemory) error {
	ctx, cancel := s.ctx()
	defer cancel()
	data, err := json.Marshal(&m)
	if err != nil {
		return err
	}
	if _, err := s.lanes.Put(ctx, hashHex(m.Target, 16), data); err != nil {
		return fmt.Errorf("nats store: keeping the lane of %q: %w", m.Target, err)
	}
	return nil
}

// LoadLanes returns the lanes' states kept, by target.
func (s *JetStreamStore) LoadLanes() (map[string]LaneMemory, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	out := map[string]LaneMemory{}
	keys, err := s.lanes.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("nats store: listing the lanes: %w", err)
	}
	for k := range keys.Keys() {
		e, err := s.lanes.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("nats store: reading a lane: %w", err)
		}
		var m LaneMemory
		if json.Unmarshal(e.Value(), &m) == nil && m.Target != "" {
			out[m.Target] = m
		}
	}
	return out, nil
}
