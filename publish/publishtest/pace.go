package publishtest

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Clock is a test's clock for the vendor fakes' rate limits: it stands
// still until Advance moves it, so a test crosses a limit's window
// without sleeping. The fakes take its Now through their SetClock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Buckets are a fake's token buckets, one per key (a channel, a webhook):
// PerSecond tokens a second, at most Burst at once. A zero PerSecond lets
// every request through. Their owner guards them with its mutex.
type Buckets struct {
	PerSecond float64
	Burst     int
	buckets   map[string]*rate.Limiter
}

// Take spends a token of key's bucket at now, or reports how long until
// one is there.
func (b *Buckets) Take(key string, now time.Time) (bool, time.Duration) {
	if b.PerSecond <= 0 {
		return true, 0
	}
	if b.buckets == nil {
		b.buckets = map[string]*rate.Limiter{}
	}
	l, ok := b.buckets[key]
	if !ok {
		l = rate.NewLimiter(rate.Limit(b.PerSecond), b.Burst)
		b.buckets[key] = l
	}
	r := l.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Hour
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// Reset forgets every bucket and sets the pace, for a test that changes
// it.
func (b *Buckets) Reset(perSecond float64, burst int) {
	*b = Buckets{PerSecond: perSecond, Burst: burst}
}

// SetRetryAfter sets the Retry-After header to wait in whole seconds,
// rounded up, as vendors send it.
func SetRetryAfter(h http.Header, wait time.Duration) {
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
}
