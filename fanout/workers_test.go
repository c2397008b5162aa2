package fanout

import (
	"testing"
	"testing/synctest"
)

// Attempts run on the workers idle at the moment; a new worker starts
// only when none is, and all of them return once stop closes.
func TestWorkersAreReused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		w := newWorkers(stop)
		release := make(chan struct{})
		ran := make(chan int, 6)
		for i := range 3 {
			w.run(func() {
				<-release
				ran <- i
			})
		}
		synctest.Wait()
		if got := w.started.Load(); got != 3 {
			t.Fatalf("three attempts at once started %d workers, want 3", got)
		}
		close(release)
		synctest.Wait()
		for i := 3; i < 6; i++ {
			w.run(func() { ran <- i })
			synctest.Wait()
		}
		if got := w.started.Load(); got != 3 {
			t.Errorf("three more attempts, one at a time, with three workers idle: %d workers in all, want 3", got)
		}
		close(stop)
		w.wait()
		close(ran)
		seen := map[int]bool{}
		for i := range ran {
			seen[i] = true
		}
		if len(seen) != 6 {
			t.Errorf("attempts that ran: %v, want all six", seen)
		}
	})
}
