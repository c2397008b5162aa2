package fanout

import (
	"testing"
	"time"
)

// TestBackoff: a wait drawn from the upper half of an exponential
// ceiling, capped at RetryCap.
func TestBackoff(t *testing.T) {
	top := func(n int64) int64 { return n - 1 }
	zero := func(int64) int64 { return 0 }
	for _, tc := range []struct {
		name     string
		attempts int
		rnd      func(int64) int64
		want     time.Duration
	}{
		{"first probe waits at most the base", 1, top, time.Second},
		{"the ceiling doubles per failure", 4, top, 8 * time.Second},
		{"the ceiling stops at the cap", 20, top, time.Minute},
		{"a huge failure count does not overflow", 200, top, time.Minute},
		{"jitter waits at least half the ceiling", 3, zero, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := backoff(tc.attempts, time.Second, time.Minute, tc.rnd); got != tc.want {
				t.Errorf("backoff(%d) = %v, want %v", tc.attempts, got, tc.want)
			}
		})
	}
}
