package publish

import (
	"context"
	"fmt"
	"time"
)

// State is what the publisher of one target keeps across restarts and
// reloads (Slack's thread roots, Rootly's alert ids): values by key, each
// for a time. The store owns it; the publishers that replace each other
// on reloads share it.
type State interface {
	// Get returns the value of key; an expired entry is missing.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Put stores value under key, durably, for ttl.
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; a missing key is no error.
	Delete(ctx context.Context, key string) error
}

// StateOf is the state of target, for a publisher that needs one.
func (o Options) StateOf(target string) (State, error) {
	if o.State == nil {
		return nil, fmt.Errorf("target %q: keeps state across restarts, but no state store was given", target)
	}
	return o.State(target), nil
}
