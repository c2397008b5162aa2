package health

import "time"

// windowBuckets is how many buckets a window is cut into: reading a window
// sums this many buckets whatever the traffic, and outcomes leave it at
// most Window/windowBuckets late.
const windowBuckets = 10

// window counts a target's outcomes over the last Options.Window in
// fixed-size time buckets, so that reading it is O(1).
type window struct {
	buckets [windowBuckets]bucket
}

// bucket holds the outcomes of one time slot of width Window/windowBuckets.
type bucket struct {
	slot      int64
	succeeded int
	failed    int
	answered  int           // deliveries the target answered, timed below
	latency   time.Duration // summed over answered
}

// windowStats is what a window says at one moment.
type windowStats struct {
	succeeded, failed, answered int
	latency                     time.Duration // mean over answered
}

func (s windowStats) samples() int { return s.succeeded + s.failed }

func (s windowStats) ratio() float64 {
	if s.samples() == 0 {
		return 1
	}
	return float64(s.succeeded) / float64(s.samples())
}

func slotOf(now time.Time, width time.Duration) int64 {
	return now.UnixNano() / int64(width/windowBuckets)
}

// add counts one outcome; latency is counted when the target answered.
func (w *window) add(now time.Time, width time.Duration, ok, answered bool, latency time.Duration) {
	slot := slotOf(now, width)
	b := &w.buckets[slot%windowBuckets]
	if b.slot != slot {
		*b = bucket{slot: slot}
	}
	if ok {
		b.succeeded++
	} else {
		b.failed++
	}
	if answered && latency > 0 {
		b.answered++
		b.latency += latency
	}
}

func (w *window) stats(now time.Time, width time.Duration) windowStats {
	cur := slotOf(now, width)
	var s windowStats
	var latency time.Duration
	for _, b := range w.buckets {
		if b.slot <= cur-windowBuckets || b.slot > cur {
			continue
		}
		s.succeeded += b.succeeded
		s.failed += b.failed
		s.answered += b.answered
		latency += b.latency
	}
	if s.answered > 0 {
		s.latency = latency / time.Duration(s.answered)
	}
	return s
}
