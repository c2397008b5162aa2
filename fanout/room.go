package fanout

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// The outbox's bounds (max_pending, max_bytes): what a notification needs
// of them, why one is refused, and the webhooks that wait for room.

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
		if !RoomMayCome(err) {
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

// reserve counts n deliveries of size bytes against the bounds while
// they are persisted, or says why they do not fit.
func (p *Pipeline) reserve(n int, size int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.room(n, size); err != nil {
		p.noteRefused(err, n, size)
		return err
	}
	p.reserved += n
	p.bytes += size
	return nil
}

// Refuses says why the pipeline takes no notification now (ErrFull at
// its bounds, ErrClosing), nil when it may take one: the webhook asks
// before it reads a notification, so that a storm's resends are refused
// without the work of decoding them. Near the bounds that holds for the
// room the last notification refused there needed, too (shortage).
func (p *Pipeline) Refuses() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refuses(time.Now())
}

// refuses is Refuses at now; p.mu must be held.
func (p *Pipeline) refuses(now time.Time) error {
	if p.takes(now) {
		return nil
	}
	if err := p.room(1, 1); err != nil {
		return err
	}
	n := p.need
	needed := fmt.Sprintf("%d deliveries", n.n)
	if n.size > 0 {
		needed += fmt.Sprintf(" of %d bytes", n.size)
	}
	return fmt.Errorf("%w, and the last notification refused needed room for %s", p.room(n.n, max(n.size, 1)), needed)
}

// takes reports whether the pipeline would take a notification at now,
// as refuses says, without making the error; p.mu must be held.
func (p *Pipeline) takes(now time.Time) bool {
	n := p.need
	return p.fits(1, 1) && (n.n == 0 || !now.Before(n.until) || p.fits(n.n, max(n.size, 1)))
}

// shortage is the room a notification refused at the bounds after it was
// read asked for: until as much is free, and for at most needFor, the
// notifications after it are refused before they are read. Under a storm
// at the bounds most notifications were decoded and counted only to be
// refused (with ten alerts each, about two webhooks in five of the
// end-to-end benchmark's); now about one per acceptance is, or one per
// needFor. A notification accepted clears it; one that could never fit
// (more than the bounds) leaves none.
type shortage struct {
	n     int
	size  int64 // 0 when refused before it was encoded
	until time.Time
}

// needFor bounds how long a shortage holds, so that smaller notifications,
// which might fit, are read again soon when the room stays short (a
// dead target's backlog at the bounds).
const needFor = time.Second

// noteRefused keeps what a notification refused by room(n, size) with err
// needed; p.mu must be held.
func (p *Pipeline) noteRefused(err error, n int, size int64) {
	if RoomMayCome(err) {
		p.need = shortage{n: n, size: size, until: time.Now().Add(needFor)}
	}
}

// room says why n more deliveries of size bytes do not fit, nil when
// they do; p.mu must be held.
func (p *Pipeline) room(n int, size int64) error {
	switch {
	case p.fits(n, size):
		return nil
	case p.closed:
		return ErrClosing
	case n > p.opts.MaxPending:
		return fmt.Errorf("%w: %d deliveries, more than outbox.max_pending (%d) holds at once", ErrOverBounds, n, p.opts.MaxPending)
	case size > p.opts.MaxBytes:
		return fmt.Errorf("%w: %d bytes of deliveries, more than outbox.max_bytes (%d) holds at once", ErrOverBounds, size, p.opts.MaxBytes)
	case len(p.entries)+p.reserved+n > p.opts.MaxPending:
		return fmt.Errorf("%w: %d deliveries pending, the bound is %d", ErrFull, len(p.entries)+p.reserved, p.opts.MaxPending)
	case p.bytes+size > p.opts.MaxBytes:
		return fmt.Errorf("%w: %d bytes pending, the bound is %d", ErrFull, p.bytes, p.opts.MaxBytes)
	}
	return nil
}

// fits reports whether n more deliveries of size bytes fit, as room
// says, without making its error; p.mu must be held.
func (p *Pipeline) fits(n int, size int64) bool {
	return !p.closed && len(p.entries)+p.reserved+n <= p.opts.MaxPending && p.bytes+size <= p.opts.MaxBytes
}
