package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// recoveringSink is a target that answers every delivery with the status
// it holds, which the test changes.
func recoveringSink(t *testing.T, status int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var code atomic.Int64
	code.Store(int64(status))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(int(code.Load()))
	}))
	t.Cleanup(srv.Close)
	return srv, &code
}

// waitDrained polls am_fanout_outbox_pending until it is 0 and returns how
// long that took; it fails the test after limit.
func waitDrained(t *testing.T, f *fanoutServer, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var pending float64
	for time.Since(start) < limit {
		v, found := metricValue(f.metrics(t), "am_fanout_outbox_pending", nil)
		if found && v == 0 {
			return time.Since(start)
		}
		pending = v
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%.0f deliveries still pending %s after the target recovered, want none", pending, limit)
	return 0
}

// TestMemoryReleasedAfterStorm: the memory a storm took is given back once
// its backlog is delivered. A target answers 503 through a storm of 15 000
// deliveries, then recovers; within 30 s of nothing pending the idle heap
// must be back with the system, so that the anonymous memory, what a
// container's limit can only get back by killing the process, comes back
// down. It checks the outcome, not how: the runtime's scavenger meets it
// too within 30 s (2.1 MiB kept in one run without the pipeline's
// OnDrained hook); that the hook fires after a backlog is tested in
// fanout (TestOnDrainedAfterABacklog). The rest of the resident memory is the store
// file's pages that bbolt mapped: clean page cache, which the kernel
// reclaims under the container's limit without a kill, logged here.
func TestMemoryReleasedAfterStorm(t *testing.T) {
	skipWithoutProc(t)
	t.Setenv("GOMEMLIMIT", budgetGoMemLimit)
	sink, status := recoveringSink(t, http.StatusServiceUnavailable)
	// A short retry cap lets the backlog drain within seconds of the
	// recovery instead of the default cap's minutes; memory is what is
	// measured here, not the backoff.
	p, url := startMemoryFanout(t, sink.URL, "outbox:\n  retry_cap: 2s\n")
	f := &fanoutServer{proc: p, url: url}
	before, err := readMemStatus(p.cmd.Process.Pid)
	if err != nil {
		t.Fatalf("reading the memory of am-fanout: %v", err)
	}

	watch := watchMemory(p, 0)
	postStorm(t, url)
	storm := reportMemory(t, p, "15 000 deliveries pending to a target answering 503")

	status.Store(http.StatusOK)
	took := waitDrained(t, f, 2*time.Minute)
	drained, err := readMemStatus(p.cmd.Process.Pid)
	if err != nil {
		t.Fatalf("reading the memory of am-fanout: %v", err)
	}
	t.Logf("backlog delivered %s after the recovery: RSS %.1f MiB (anonymous %.1f MiB), peak %.1f MiB",
		took.Round(time.Second), drained.rss, drained.anon, drained.peak)

	peakAnon := float64(watch.maxAnon.Load()) / 1024
	// The heap the backlog used and no longer needs is returned to the
	// system once it drained: idle heap still held must be small.
	var kept float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		fams := f.metrics(t)
		idle, _ := metricValue(fams, "go_memstats_heap_idle_bytes", nil)
		returned, _ := metricValue(fams, "go_memstats_heap_released_bytes", nil)
		kept = (idle - returned) / (1 << 20)
		if kept < maxIdleHeapKept || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	released, err := readMemStatus(p.cmd.Process.Pid)
	if err != nil {
		t.Fatalf("reading the memory of am-fanout: %v", err)
	}
	watch.close()
	t.Logf("RSS %.1f MiB before the storm (anonymous %.1f), %.1f at the storm's end, peak %.1f (anonymous at most %.1f), %.1f once drained (anonymous %.1f); then %.1f (anonymous %.1f, file-backed %.1f), idle heap kept %.1f MiB",
		before.rss, before.anon, storm.rss, released.peak, peakAnon, drained.rss, drained.anon,
		released.rss, released.anon, released.rss-released.anon, kept)
	if kept >= maxIdleHeapKept {
		t.Errorf("%.1f MiB of idle heap kept 30 s after the backlog drained, want under %d MiB: the storm's memory is not given back", kept, maxIdleHeapKept)
	}
}

// maxIdleHeapKept bounds the idle heap, in MiB, still held once a storm's
// backlog drained: the runtime keeps a little for the next allocations.
const maxIdleHeapKept = 4
