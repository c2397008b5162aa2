package outbox

import (
	"log/slog"
	"sync"
	"time"
)

// historyLinger is how long an attempt's history line may wait in memory
// before a commit writes it, together with the lines after it (the
// timer's, then at most outcomeLinger for a commit to share). Written in
// the commit of its outcome, every commit rewrote the history bucket's
// last leaf and its branch, about 2.7 of the 13 pages it wrote under a
// steady stream of one-alert notifications; a commit of a tenth of a
// second's lines writes each page once (BENCHMARKS.md). The outcome
// itself is never held back: only the line the status page and GET
// /api/v1/deliveries show, of which a crash loses about this much.
const historyLinger = 100 * time.Millisecond

// maxHistoryLines bounds the lines waiting in memory: the outcome that
// fills the buffer writes the lines at once.
const maxHistoryLines = 4096

// historyBuffer holds the history lines of recorded outcomes until a
// commit writes them, in the order of their outcomes' commits, so that a
// delivery's later attempt is applied after its earlier ones.
type historyBuffer struct {
	// writing serialises the writes of taken lines, so that two batches
	// cannot commit out of order: a channel of one, not a mutex, so that
	// a Close waiting for the timer's batch blocks as a synctest bubble
	// sees durably (a goroutine waiting for a mutex keeps the bubble's
	// clock from reaching the commit the batch waits for).
	writing chan struct{}
	mu      sync.Mutex
	lines   []*historyEntry
	timer   *time.Timer
	closed  bool
	// timers counts the timers that were set and have not fired or been
	// stopped, for Close to wait for.
	timers sync.WaitGroup
}

// bufferHistory adds the lines of outcomes just committed and reports
// whether the buffer is full. The first line waiting sets the timer that
// writes the lines historyLinger later.
func (s *Store) bufferHistory(lines []*historyEntry) (full bool) {
	b := &s.hist
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, lines...)
	if b.closed {
		// Close took the buffer already: these outcomes committed while
		// it did, so their lines are written at once.
		return true
	}
	if b.timer == nil {
		b.timers.Add(1)
		b.timer = time.AfterFunc(historyLinger, func() {
			defer b.timers.Done()
			b.mu.Lock()
			b.timer = nil
			closed := b.closed
			b.mu.Unlock()
			if !closed {
				s.writeHistory(false)
			}
		})
	}
	return len(b.lines) >= maxHistoryLines
}

// writeHistory writes the lines waiting: in a commit of their own when
// eager (a read of the history waits for it), else in the next commit
// that other writes start, or outcomeLinger later. Lines that cannot be
// written are logged and dropped: they describe outcomes already
// committed.
func (s *Store) writeHistory(eager bool) {
	b := &s.hist
	b.writing <- struct{}{}
	defer func() { <-b.writing }()
	b.mu.Lock()
	lines := b.lines
	b.lines = nil
	b.mu.Unlock()
	if len(lines) == 0 {
		return
	}
	write := s.updateLazily
	if eager {
		write = s.update
	}
	err := write(func(tx *txn) error {
		for _, he := range lines {
			if err := s.appendHistory(tx, he); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.opts.Logger.Warn("attempts' history lines not written", slog.Int("lines", len(lines)), slog.Any("err", err))
	}
}

// closeHistory writes the lines waiting and stops the timer, before the
// committer stops.
func (s *Store) closeHistory() {
	b := &s.hist
	b.mu.Lock()
	b.closed = true
	if b.timer != nil && b.timer.Stop() {
		b.timers.Done()
	}
	b.timer = nil
	b.mu.Unlock()
	s.writeHistory(true)
	b.timers.Wait()
}
