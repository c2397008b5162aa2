package outbox

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// JetStreamLease is a lease on a key of the store's lease bucket, whose
// TTL is the lease's: Create makes one replica its holder (only one
// creator wins), which renews it with an update on its revision every
// third of the TTL. It is lost when a renewal fails or the TTL passes
// without one; then the key expires and another replica creates it.
type JetStreamLease struct {
	kv     jetstream.KeyValue
	key    string
	holder []byte
	ttl    time.Duration
}

// Lease is the lease name (a bucket key: letters, digits, - and _) held
// as holder, which names the replica to the others.
func (s *JetStreamStore) Lease(name, holder string) *JetStreamLease {
	return &JetStreamLease{kv: s.lease, key: name, holder: []byte(holder), ttl: s.opts.LeaseTTL}
}

// Hold blocks until this replica holds the lease, or ctx ends (then it
// returns ctx's error). lost is closed when the replica no longer holds
// it, once its renewals have stopped: a renewal failed or came too late,
// or ctx ended (then the lease is released, for another replica to take
// at once). Waiting for lost waits for the goroutine that renews.
func (l *JetStreamLease) Hold(ctx context.Context) (<-chan struct{}, error) {
	every := l.ttl / 3
	for {
		try, cancel := context.WithTimeout(ctx, every)
		rev, err := l.kv.Create(try, l.key, l.holder)
		cancel()
		if err == nil {
			lost := make(chan struct{})
			go l.renew(ctx, rev, time.Now(), lost)
			return lost, nil
		}
		// Held by another, or no quorum: try again.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(every):
		}
	}
}

func (l *JetStreamLease) renew(ctx context.Context, rev uint64, renewed time.Time, lost chan struct{}) {
	defer close(lost)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			release, cancel := context.WithTimeout(context.Background(), l.ttl/3)
			_ = l.kv.Delete(release, l.key, jetstream.LastRevision(rev))
			cancel()
			return
		case <-t.C:
		}
		// Renewing past the TTL would extend a lease another replica
		// may hold by now.
		left := l.ttl - time.Since(renewed)
		if left <= 0 {
			return
		}
		at := time.Now()
		try, cancel := context.WithTimeout(ctx, left)
		next, err := l.kv.Update(try, l.key, l.holder, rev)
		cancel()
		if err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				continue
			}
			return
		}
		rev, renewed = next, at
	}
}
