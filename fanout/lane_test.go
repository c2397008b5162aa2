package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// scripted is an Attempter whose target answers by the time of the
// attempt (the bubble's fake clock), and that records every attempt.
type scripted struct {
	answer func(now time.Time) core.Outcome

	mu        sync.Mutex
	attempts  []time.Time
	delivered map[string]time.Time // fingerprint or group key → time delivered
	groups    []*core.Notification
}

func (s *scripted) Attempt(_ context.Context, _ *core.Target, a *core.EnrichedAlert, n *core.Notification) core.Outcome {
	now := time.Now()
	o := s.answer(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, now)
	if o.Kind == core.OutcomeDelivered {
		if s.delivered == nil {
			s.delivered = map[string]time.Time{}
		}
		if a != nil {
			s.delivered[a.Alert.Fingerprint] = now
		} else {
			s.delivered[n.Group.GroupKey] = now
			s.groups = append(s.groups, n)
		}
	}
	return o
}

// failsFor answers fail to the attempts made within d of start, and
// delivers those after.
func failsFor(start time.Time, d time.Duration, fail core.Outcome) *scripted {
	return &scripted{answer: func(now time.Time) core.Outcome {
		if now.Sub(start) < d {
			return fail
		}
		return delivered
	}}
}

func (s *scripted) count() (attempts, delivered int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.attempts), len(s.delivered)
}

// last is when the last delivery went out.
func (s *scripted) last() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var at time.Time
	for _, d := range s.delivered {
		if d.After(at) {
			at = d
		}
	}
	return at
}

var (
	delivered  = core.Outcome{Kind: core.OutcomeDelivered, StatusCode: 200}
	throttled  = core.Outcome{Kind: core.OutcomeRetry, Throttled: true, StatusCode: 429, RetryAfter: 2 * time.Second, Err: errors.New("HTTP 429")}
	serverDown = core.Outcome{Kind: core.OutcomeRetry, StatusCode: 503, Err: errors.New("HTTP 503")}
)

// newLaneBox is a pipeline over one target and a volatile store, inside
// the test's bubble.
func newLaneBox(t *testing.T, tg *core.Target, at DeliveryAttempter) *Pipeline {
	t.Helper()
	return newLaneBoxLogging(t, tg, at, nil)
}

func newLaneBoxLogging(t *testing.T, tg *core.Target, at DeliveryAttempter, logger *slog.Logger) *Pipeline {
	t.Helper()
	return startBox(t, tg, at, Options{MaxPending: 1 << 20, MaxBytes: 1 << 30, PruneEvery: time.Hour, Logger: logger})
}

// startBox starts a pipeline with opts on a volatile store, delivering
// to tg alone through at, and closes both when the test ends.
func startBox(t *testing.T, tg *core.Target, at DeliveryAttempter, opts Options) *Pipeline {
	t.Helper()
	store, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.StoreOptions{Volatile: true})
	if err != nil {
		t.Fatal(err)
	}
	box, err := New(store, NewTargetSet([]*core.Target{tg}), at, opts)
	if err != nil {
		t.Fatal(err)
	}
	box.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		box.Close(ctx)
		store.Close()
	})
	return box
}

func laneTarget(name string) *core.Target {
	return &core.Target{Name: name, Type: "webhook", SendResolved: true, Timeout: time.Second,
		Breaker: core.BreakerSettings{Failures: 5, OpenFor: 5 * time.Second}}
}

func acceptN(t *testing.T, box *Pipeline, n int, prefix string) {
	t.Helper()
	alerts := make([]*core.EnrichedAlert, n)
	for i := range alerts {
		alerts[i] = alert(fmt.Sprintf("%s%04d", prefix, i), core.StatusFiring, 0)
	}
	if _, err := box.Accept(context.Background(), alerts, false); err != nil {
		t.Fatal(err)
	}
}

// drain waits in fake time until nothing is pending, or gives up after
// limit.
func drain(t *testing.T, box *Pipeline, limit time.Duration) {
	t.Helper()
	for end := time.Now().Add(limit); box.Pending() > 0; {
		if time.Now().After(end) {
			t.Fatalf("%d deliveries still pending after %s", box.Pending(), limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLanePausesOn429: a target that answers 429 with Retry-After: 2s for
// 6s gets all 20 alerts within Retry-After of the end of its throttling,
// and is asked one delivery at a time while it throttles.
func TestLanePausesOn429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		s := failsFor(start, 6*time.Second, throttled)
		box := newLaneBox(t, laneTarget("t"), s)
		acceptN(t, box, 20, "a")
		drain(t, box, time.Minute)
		attempts, got := s.count()
		took := s.last().Sub(start)
		t.Logf("429 for 6s with Retry-After 2s: %d of 20 delivered %s after the first notification, %d attempts", got, took, attempts)
		if got != 20 || took > 8*time.Second {
			t.Errorf("%d delivered, the last after %s; want 20 within 8s (6s of 429 + Retry-After)", got, took)
		}
		// The first attempts go out at once; then one probe per pause.
		if attempts > 16+3+20 {
			t.Errorf("%d attempts, want the first burst, one per pause and one per alert", attempts)
		}
		// Throttling trips nothing: the lane is open again.
		if st := box.Lanes()["t"]; st.State != LaneIdle || st.Failures != 0 {
			t.Errorf("lane after the drain: %+v, want idle with no failures", st)
		}
	})
}

// TestLaneDrainsOnRecovery: 1500 deliveries pending for a target that is
// down for 20s cost it one probe at a time while it is down, and all
// arrive within the backoff cap (5s) of its recovery.
func TestLaneDrainsOnRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		s := failsFor(start, 20*time.Second, serverDown)
		box := newLaneBox(t, laneTarget("t"), s)
		acceptN(t, box, 1500, "b")
		drain(t, box, 2*time.Minute)
		attempts, got := s.count()
		late := s.last().Sub(start.Add(20 * time.Second))
		t.Logf("down for 20s with 1500 pending: %d delivered, the last %s after the recovery, %d attempts", got, late, attempts)
		if got != 1500 || late > 5*time.Second {
			t.Errorf("%d delivered, the last %s after the recovery; want 1500 within 5s", got, late)
		}
		// 16 first attempts, then at most one probe per backoff step
		// (≥ 0.5s) over 20s, then one per delivery.
		if failed := attempts - 1500; failed > 16+40 {
			t.Errorf("%d failed attempts while the target was down, want one probe at a time", failed)
		}
	})
}

// TestLanePaces: a target limited to 1/s with a burst of 3 gets three at
// once and then one a second, never faster.
func TestLanePaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		s := &scripted{answer: func(time.Time) core.Outcome { return delivered }}
		tg := laneTarget("t")
		tg.RateLimit = core.RateLimit{PerSecond: 1, Burst: 3}
		box := newLaneBox(t, tg, s)
		acceptN(t, box, 10, "c")
		drain(t, box, time.Minute)
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.attempts) != 10 {
			t.Fatalf("%d attempts, want 10", len(s.attempts))
		}
		for i, at := range s.attempts {
			earliest := start
			if i >= 3 {
				earliest = start.Add(time.Duration(i-2) * time.Second)
			}
			if at.Before(earliest) {
				t.Errorf("attempt %d at +%s, want no earlier than +%s", i, at.Sub(start), earliest.Sub(start))
			}
		}
		if took := s.attempts[9].Sub(start); took > 8*time.Second {
			t.Errorf("the 10th attempt at +%s, want about +7s: the pace must not slow it further", took)
		}
	})
}

// TestLaneCoalescesGroups: while a grouped target's lane is paced, the
// notifications of one group that pile up become one message with the
// group's newest state.
func TestLaneCoalescesGroups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scripted{answer: func(time.Time) core.Outcome { return delivered }}
		tg := laneTarget("chat")
		tg.GroupBy = core.GroupByNotification
		tg.RateLimit = core.RateLimit{PerSecond: 1, Burst: 1}
		box := newLaneBox(t, tg, s)
		group := core.Group{GroupKey: `{}:{alertname="Storm"}`}
		for i := range 50 {
			// Each notification holds the group's alerts so far.
			alerts := make([]*core.EnrichedAlert, i+1)
			for j := range alerts {
				alerts[j] = alert(fmt.Sprintf("s%02d", j), core.StatusFiring, 0)
				alerts[j].Group = group
			}
			if _, err := box.Accept(context.Background(), alerts, false); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		drain(t, box, time.Minute)
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Logf("50 notifications of one group in 2.5s at 1 message/s: %d messages", len(s.groups))
		if n := len(s.groups); n > 5 {
			t.Errorf("%d messages for one group, want a handful", n)
		}
		if last := s.groups[len(s.groups)-1]; len(last.Alerts) != 50 {
			t.Errorf("the last message holds %d alerts, want the group's newest state (50)", len(last.Alerts))
		}
		if v := testutil.ToFloat64(box.metrics.coalesced.WithLabelValues("chat")); int(v) != 50-len(s.groups) {
			t.Errorf("am_fanout_deliveries_coalesced_total = %v, want %d", v, 50-len(s.groups))
		}
	})
}

// TestOnDrainedAfterABacklog: once a backlog of at least DrainedAfter
// deliveries is all done, OnDrained is called once; a small one does not
// call it.
func TestOnDrainedAfterABacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		s := &scripted{answer: func(now time.Time) core.Outcome {
			if now.Sub(start) < 5*time.Second {
				return serverDown
			}
			return delivered
		}}
		var calls atomic.Int32
		box := startBox(t, laneTarget("t"), s, Options{
			MaxPending: 1 << 20, MaxBytes: 1 << 30, PruneEvery: time.Hour, DrainedAfter: 100,
			OnDrained: func() { calls.Add(1) },
		})
		acceptN(t, box, 10, "small")
		drain(t, box, time.Minute)
		synctest.Wait()
		if n := calls.Load(); n != 0 {
			t.Errorf("OnDrained called %d times after a backlog of 10, want 0", n)
		}
		start = time.Now()
		acceptN(t, box, 150, "big")
		drain(t, box, time.Minute)
		synctest.Wait()
		if n := calls.Load(); n != 1 {
			t.Errorf("OnDrained called %d times after a backlog of 150, want 1", n)
		}
	})
}

// TestLaneLogsItsChangesNotEachDelivery: a throttling, then recovering
// target logs once that its lane holds the backlog and once that it
// recovered, whatever the number of deliveries.
func TestLaneLogsItsChangesNotEachDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		s := failsFor(start, 6*time.Second, throttled)
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&syncWriter{w: &buf}, &slog.HandlerOptions{Level: slog.LevelInfo}))
		box := newLaneBoxLogging(t, laneTarget("t"), s, logger)
		acceptN(t, box, 50, "l")
		drain(t, box, time.Minute)
		out := buf.String()
		if n := strings.Count(out, "target lane holds its backlog"); n != 1 {
			t.Errorf("%d lines say the lane holds its backlog, want 1:\n%s", n, out)
		}
		if n := strings.Count(out, "target lane recovered"); n != 1 {
			t.Errorf("%d lines say the lane recovered, want 1:\n%s", n, out)
		}
	})
}

// syncWriter serialises writes of concurrent loggers.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestLanePacesToArrivals: a target counts a request against its bucket
// when the request arrives, late in the attempt for the burst's first
// requests (they dial new connections) and early for the next (over a
// reused one). Paced at the target's own rate, the lane stays within the
// target's bucket as the target counts it.
func TestLanePacesToArrivals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		vendor := rate.NewLimiter(1, 3) // 1 a second, a burst of 3
		var mu sync.Mutex
		var sent, refused int
		s := &scripted{answer: func(time.Time) core.Outcome {
			mu.Lock()
			sent++
			latency := time.Millisecond
			if sent <= 3 {
				latency = 50 * time.Millisecond
			}
			mu.Unlock()
			time.Sleep(latency)
			mu.Lock()
			defer mu.Unlock()
			if !vendor.Allow() {
				refused++
				return throttled
			}
			return delivered
		}}
		tg := laneTarget("t")
		tg.RateLimit = core.RateLimit{PerSecond: 1, Burst: 3}
		box := newLaneBox(t, tg, s)
		acceptN(t, box, 8, "p")
		drain(t, box, time.Minute)
		mu.Lock()
		defer mu.Unlock()
		if refused != 0 {
			t.Errorf("the target refused %d of %d requests as over its 1/s with a burst of 3, want none", refused, sent)
		}
		if last := s.last().Sub(s.attempts[0]); last > 7*time.Second {
			t.Errorf("the 8th delivery at +%s, want about +5s: the pace must not slow it further", last)
		}
	})
}

// TestLaneCoalescingKeepsPlace: five groups of a grouped target change
// every second, in the same order, while the target takes one message a
// second. A group's newest message takes the place of the one it
// coalesces, so the groups take turns instead of the first to change
// taking every message while the others wait for the storm to end.
func TestLaneCoalescingKeepsPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scripted{answer: func(time.Time) core.Outcome { return delivered }}
		tg := laneTarget("chat")
		tg.GroupBy = core.GroupByNotification
		tg.RateLimit = core.RateLimit{PerSecond: 1, Burst: 1}
		box := newLaneBox(t, tg, s)
		const groups, ticks = 5, 10
		for tick := range ticks {
			for g := range groups {
				// Each notification holds the group's alerts so far.
				alerts := make([]*core.EnrichedAlert, tick+1)
				for j := range alerts {
					alerts[j] = alert(fmt.Sprintf("g%d-%02d", g, j), core.StatusFiring, 0)
					alerts[j].Group = core.Group{GroupKey: fmt.Sprintf(`{}:{alertname="Storm%d"}`, g)}
				}
				if _, err := box.Accept(context.Background(), alerts, false); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(time.Second)
		}
		s.mu.Lock()
		perGroup := map[string]int{}
		for _, n := range s.groups {
			perGroup[n.Group.GroupKey]++
		}
		s.mu.Unlock()
		t.Logf("%d groups changing every second for %ds at 1 message/s: messages per group while they changed %v", groups, ticks, perGroup)
		if len(perGroup) != groups {
			t.Errorf("%d of %d groups got a message while the groups kept changing, want every group in turn", len(perGroup), groups)
		}
		for key, n := range perGroup {
			if n > ticks/groups+1 {
				t.Errorf("group %s got %d of the %d messages, want its turn (about %d)", key, n, ticks, ticks/groups)
			}
		}
		drain(t, box, time.Minute)
	})
}

// pruneCounting counts the store's prunes.
type pruneCounting struct {
	Store
	prunes atomic.Int32
}

func (s *pruneCounting) Prune(now time.Time) error {
	s.prunes.Add(1)
	return s.Store.Prune(now)
}

// pruningBox is a started pipeline with PruneAfter 20 and PruneEvery an
// hour, on a volatile store that counts its prunes; both close at the
// test's end.
func pruningBox(t *testing.T) (*Pipeline, *pruneCounting) {
	t.Helper()
	file, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.StoreOptions{Volatile: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	store := &pruneCounting{Store: file}
	box, err := New(store, NewTargetSet([]*core.Target{laneTarget("t")}), failsFor(time.Now(), 0, core.Outcome{}), Options{MaxPending: 1 << 20, MaxBytes: 1 << 30, PruneEvery: time.Hour, PruneAfter: 20})
	if err != nil {
		t.Fatal(err)
	}
	box.Start()
	t.Cleanup(func() { box.Close(context.Background()) })
	return box, store
}

// wantPrunes waits d, for the pipeline and then for every goroutine of
// the bubble, and checks that the store pruned want times in all.
func wantPrunes(t *testing.T, store *pruneCounting, d time.Duration, want int32, after string) {
	t.Helper()
	time.Sleep(d)
	synctest.Wait()
	if n := store.prunes.Load(); n != want {
		t.Fatalf("%d prunes %s, want %d", n, after, want)
	}
}

// A storm prunes before PruneEvery: at every PruneAfter deliveries
// accepted since the last prune.
func TestPruneAfterAccepted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		box, store := pruningBox(t)
		acceptN(t, box, 19, "a")
		wantPrunes(t, store, time.Minute, 0, "after 19 deliveries (none before 20)")
		acceptN(t, box, 1, "b")
		// A prune's writes wait a moment for a commit to share.
		wantPrunes(t, store, time.Second, 1, "after 20 deliveries")
		acceptN(t, box, 25, "c")
		wantPrunes(t, store, time.Second, 2, "after 20 more deliveries")
		wantPrunes(t, store, time.Hour, 3, "an hour later (PruneEvery prunes too)")
	})
}

// A prune signal whose count an earlier prune already reset (sent as the
// ticker's prune began) does not prune again.
func TestPruneSignalRechecksTheCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		box, store := pruningBox(t)
		acceptN(t, box, 5, "a")
		box.pruneSoon <- struct{}{}
		wantPrunes(t, store, time.Second, 0, "for a signal with 5 of 20 deliveries counted")
		acceptN(t, box, 15, "b")
		wantPrunes(t, store, time.Second, 1, "once 20 deliveries were counted")
	})
}
