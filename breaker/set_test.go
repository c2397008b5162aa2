package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/core"
)

var quick = core.BreakerSettings{Failures: 1, OpenFor: time.Hour, HalfOpenRequests: 1}

func TestSetGet(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		wantSame bool
	}{
		{"same key keeps the breaker and its state", "k1", true},
		{"changed key replaces the breaker", "k2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSet(nil)
			first := s.Get("t1", "k1", quick)
			trip(t, first, 1)

			got := s.Get("t1", tt.key, quick)
			if tt.wantSame {
				assert.Same(t, first, got)
				assert.Equal(t, Open, got.State())
			} else {
				assert.NotSame(t, first, got)
				assert.Equal(t, Closed, got.State(), "a replaced breaker starts closed")
			}
			looked, ok := s.Lookup("t1")
			require.True(t, ok)
			assert.Same(t, got, looked, "Lookup must return the breaker in use")
		})
	}
}

func TestSetReplacementReportsClosedAndSilencesOldBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		s := NewSet(rec.onChange)
		short := core.BreakerSettings{Failures: 1, OpenFor: 20 * time.Millisecond, HalfOpenRequests: 1}
		old := s.Get("t1", "k1", short)
		trip(t, old, 1)
		s.Get("t1", "k2", short)

		// Deliveries still running on the old breaker move it on; it must
		// not report any of that.
		passOpenPeriod(t, old, short.OpenFor)
		require.NoError(t, execute(old, context.Background(), returning(nil)))
		require.Equal(t, Closed, old.State())

		assert.Equal(t, []transition{
			{"t1", Closed, Open},
			{"t1", Open, Closed},
		}, rec.transitions())
	})
}

func TestSetRetainDropsUnconfiguredTargets(t *testing.T) {
	var rec recorder
	s := NewSet(rec.onChange)
	kept := s.Get("keep", "k", quick)
	dropped := s.Get("drop", "k", quick)

	s.Retain(map[string]bool{"keep": true})

	got, ok := s.Lookup("keep")
	require.True(t, ok, "a configured target must keep its breaker")
	assert.Same(t, kept, got)
	_, ok = s.Lookup("drop")
	assert.False(t, ok, "an unconfigured target's breaker must be dropped")
	assert.NotSame(t, dropped, s.Get("drop", "k", quick), "a target that comes back gets a new breaker")

	trip(t, dropped, 1)
	assert.Empty(t, rec.transitions(), "a dropped breaker must not report state changes")
}

func TestSetConcurrentUse(t *testing.T) {
	s := NewSet(func(string, State, State) {})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("t%d", i%4)
			for j := range 100 {
				b := s.Get(name, fmt.Sprintf("k%d", j%3), quick)
				_ = execute(b, context.Background(), returning(core.Retryable(503, 0, errors.New("x"))))
				s.Lookup(name)
				if j%10 == 0 {
					s.Retain(map[string]bool{"t0": true, "t1": true})
				}
			}
		})
	}
	wg.Wait()
}
