package fanout

import (
	"sync"
	"sync/atomic"
)

// workers runs attempts on goroutines that outlive them: an attempt goes
// to a worker idle at the moment, or to a new one. A worker then waits
// for the next attempt until stop closes, so there are at most as many
// as attempts ever ran at once (Options.MaxInFlight). A new goroutine
// per attempt started with a small stack and grew it again through the
// HTTP client's calls, every time: about 5 % of am-fanout's CPU per
// delivery (BENCHMARKS.md).
type workers struct {
	jobs chan func()
	stop <-chan struct{}
	wg   sync.WaitGroup
	// started counts the workers ever started.
	started atomic.Int64
}

func newWorkers(stop <-chan struct{}) *workers {
	return &workers{jobs: make(chan func()), stop: stop}
}

// run runs job on an idle worker or a new one. It never blocks; a job
// given once stop closed runs on a new worker, which then returns. It must
// not be called once wait was.
func (w *workers) run(job func()) {
	select {
	case w.jobs <- job:
	default:
		w.started.Add(1)
		w.wg.Go(func() { w.work(job) })
	}
}

func (w *workers) work(job func()) {
	for {
		job()
		select {
		case job = <-w.jobs:
		case <-w.stop:
			return
		}
	}
}

// wait returns once every worker has returned: after stop closed and
// their attempts ended.
func (w *workers) wait() { w.wg.Wait() }
