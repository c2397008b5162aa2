package fanout

import (
	"context"
	"errors"
	"slices"
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
//
// The waits are woken one at a time, oldest first, each time a
// delivery's end leaves room: a webhook woken takes the room before the
// next end wakes another, so that the room a storm frees goes to the
// webhooks in the order they came, not to a herd that decodes its bodies
// only for all but one to be refused again. A webhook woken that does
// not take the room (its body was not a notification) leaves it to the
// next delivery's end to wake the next one; while none ends, the others
// wait until their time is up.
func (p *Pipeline) AwaitRoom(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		now := time.Now()
		err := p.refuses(now)
		if !errors.Is(err, ErrFull) {
			return err
		}
		woken := make(chan struct{})
		p.roomWaits = append(p.roomWaits, woken)
		// Refused only for the room the last refused notification
		// needed: that holds until need.until at the latest.
		var (
			need    *time.Timer
			expired <-chan time.Time
		)
		if p.fits(1, 1) {
			need = time.NewTimer(p.need.until.Sub(now))
			expired = need.C
		}
		p.mu.Unlock()
		var end bool
		select {
		case <-woken:
		case <-expired:
		case <-ctx.Done():
			end = true
		case <-p.waits.Done():
			end = true
		}
		if need != nil {
			need.Stop()
		}
		p.mu.Lock()
		if i := slices.Index(p.roomWaits, woken); i >= 0 {
			p.roomWaits = slices.Delete(p.roomWaits, i, i+1)
		}
		if end {
			return p.refuses(time.Now())
		}
	}
}

// freed wakes the oldest webhook waiting for room (AwaitRoom) when the
// pipeline would take a notification again; called wherever pending
// deliveries or reservations go, with p.mu held.
func (p *Pipeline) freed() {
	if len(p.roomWaits) > 0 && p.takes(time.Now()) {
		close(p.roomWaits[0])
		p.roomWaits = slices.Delete(p.roomWaits, 0, 1)
	}
}
