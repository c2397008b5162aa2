package fanout

import (
	"context"
	"errors"
	"time"
)

// AwaitRoom waits until the pipeline would take a notification, as
// Refuses says, and returns nil then; when ctx ends first, or the waits
// end (EndWaits, Close), it returns what Refuses says at that moment. A
// webhook at the bounds waits here (outbox.wait_for_room) before it reads
// its body and again when Accept refused the body it read, so that a
// storm at the bounds is taken as room frees, in step with the lanes,
// instead of being answered 503 and sent again after Alertmanager's
// backoff. Only ErrFull is waited out: a closing pipeline answers at once.
func (p *Pipeline) AwaitRoom(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		now := time.Now()
		err := p.refuses(now)
		if !errors.Is(err, ErrFull) {
			return err
		}
		if p.roomFreed == nil {
			p.roomFreed = make(chan struct{})
		}
		freed := p.roomFreed
		// Refused only for the room the last refused notification
		// needed: that holds until need.until at the latest.
		var expired <-chan time.Time
		if p.fits(1, 1) {
			t := time.NewTimer(p.need.until.Sub(now))
			defer t.Stop()
			expired = t.C
		}
		p.mu.Unlock()
		select {
		case <-freed:
		case <-expired:
		case <-ctx.Done():
			p.mu.Lock()
			return p.refuses(time.Now())
		case <-p.waits.Done():
			p.mu.Lock()
			return p.refuses(time.Now())
		}
		p.mu.Lock()
	}
}

// freed wakes the webhooks waiting for room (AwaitRoom) once the pipeline
// would take a notification again; called wherever pending deliveries or
// reservations go, with p.mu held. Each wakes at most once per time the
// room came back, not once per delivery that ended.
func (p *Pipeline) freed() {
	if p.roomFreed != nil && p.takes(time.Now()) {
		close(p.roomFreed)
		p.roomFreed = nil
	}
}
