package fanout

import (
	"strconv"
	"sync"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// Deduplicator remembers which deliveries succeeded, so that a notification
// Alertmanager sends again does not reach a target twice.
type Deduplicator interface {
	Delivered(key string) bool
	MarkDelivered(key string)
}

// DeliveryKey identifies one delivery: the target, the alert's fingerprint,
// its status and its start time. A new firing of the same alert has a new
// start time and is delivered again.
func DeliveryKey(target string, a *core.EnrichedAlert) string {
	return target + "\x00" + a.Alert.Fingerprint + "\x00" + string(a.Alert.Status) +
		"\x00" + strconv.FormatInt(a.Alert.StartsAt.UnixNano(), 10)
}

// MemoryDedup is a Deduplicator that forgets deliveries after a window.
type MemoryDedup struct {
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	seen      map[string]time.Time
	lastPrune time.Time
}

// NewMemoryDedup remembers deliveries for window; now is the clock (nil for
// time.Now).
func NewMemoryDedup(window time.Duration, now func() time.Time) *MemoryDedup {
	if now == nil {
		now = time.Now
	}
	return &MemoryDedup{window: window, now: now, seen: map[string]time.Time{}, lastPrune: now()}
}

// Delivered reports whether key was marked within the window.
func (d *MemoryDedup) Delivered(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.seen[key]
	return ok && d.now().Sub(at) < d.window
}

// MarkDelivered records key as delivered now.
func (d *MemoryDedup) MarkDelivered(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.seen[key] = now
	// Pruning at most once per quarter window keeps marking O(1) amortised.
	if now.Sub(d.lastPrune) >= d.window/4 {
		for k, at := range d.seen {
			if now.Sub(at) >= d.window {
				delete(d.seen, k)
			}
		}
		d.lastPrune = now
	}
}

// Len returns how many deliveries are remembered.
func (d *MemoryDedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}
