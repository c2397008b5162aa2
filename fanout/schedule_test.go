package fanout

import (
	"testing"
	"time"
)

// TestBackoff: full jitter under an exponential ceiling, capped, never
// shorter than Retry-After.
func TestBackoff(t *testing.T) {
	top := func(n int64) int64 { return n - 1 }
	zero := func(int64) int64 { return 0 }
	for _, tc := range []struct {
		name       string
		attempts   int
		retryAfter time.Duration
		rnd        func(int64) int64
		want       time.Duration
	}{
		{"first probe waits at most the base", 1, 0, top, time.Second},
		{"the ceiling doubles per failure", 4, 0, top, 8 * time.Second},
		{"the ceiling stops at the cap", 20, 0, top, time.Minute},
		{"a huge failure count does not overflow", 200, 0, top, time.Minute},
		{"jitter waits at least half the ceiling", 3, 0, zero, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := backoff(tc.attempts, time.Second, time.Minute, tc.rnd); got != tc.want {
				t.Errorf("backoff(%d) = %v, want %v", tc.attempts, got, tc.want)
			}
		})
	}
}
