package fanout

import (
	"sync"
	"time"
)

// failureLogInterval is how often a repeating failure of the same targets
// is logged; the lines held back in between are counted in the next one.
const failureLogInterval = 10 * time.Second

// maxRepeatKeys bounds the keys a RepeatLimiter remembers; past it, keys
// whose interval has passed are forgotten.
const maxRepeatKeys = 1024

// RepeatLimiter lets a repeating log line through once per interval per
// key, so that a dead target does not write a line per alert (nor a storm
// at the outbox's bounds a line per refused webhook), and counts the
// lines it held back.
type RepeatLimiter struct {
	interval time.Duration

	mu   sync.Mutex
	last map[string]*repeat
}

type repeat struct {
	at   time.Time
	held int
}

// NewRepeatLimiter lets each key's line through once per interval.
func NewRepeatLimiter(interval time.Duration) *RepeatLimiter {
	return &RepeatLimiter{interval: interval, last: make(map[string]*repeat)}
}

// Allow reports whether the line of key is logged now and, if so, how
// many lines of key were held back since the last one logged.
func (l *RepeatLimiter) Allow(key string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.last[key]
	if ok && now.Sub(r.at) < l.interval {
		r.held++
		return false, 0
	}
	if !ok {
		if len(l.last) >= maxRepeatKeys {
			l.forgetOld(now)
		}
		r = &repeat{}
		l.last[key] = r
	}
	held := r.held
	r.at, r.held = now, 0
	return true, held
}

// forgetOld drops the keys whose interval has passed; l.mu must be held.
func (l *RepeatLimiter) forgetOld(now time.Time) {
	for k, r := range l.last {
		if now.Sub(r.at) >= l.interval {
			delete(l.last, k)
		}
	}
}
