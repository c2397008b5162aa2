package fanout

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// TestDeliveryOutcomes: what a delivery's answers lead to, seen by the
// target, the pending count and the dead letters.
func TestDeliveryOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		statuses   []int
		wantGot    int
		wantDead   string // dead reason, "" when delivered
		wantRetrys float64
	}{
		{"success at once is done", []int{200}, 1, "", 0},
		{"retryable failures are retried until success", []int{500, 503, 429, 200}, 4, "", 3},
		{"a permanent failure is dead-lettered without retry", []int{400}, 1, "permanent failure", 0},
		{"a permanent failure after retries is dead-lettered", []int{502, 404}, 2, "permanent failure", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newServer(t, tc.statuses...)
			h := newHarness(t, map[string]*server{"t1": tg}, fastRetries(), 100)
			out := h.accept(false, alert("a", core.StatusFiring, 0))
			if got := out[0].Deliveries; len(got) != 1 || got[0].State != outbox.StateAccepted || got[0].ID == 0 {
				t.Fatalf("Accept answered %+v, want one accepted delivery with an id", got)
			}
			waitUntil(t, "the delivery to leave the pending set", func() bool { return h.box.Pending() == 0 })
			if n := len(tg.received()); n != tc.wantGot {
				t.Errorf("target got %d requests, want %d", n, tc.wantGot)
			}
			if v := testutil.ToFloat64(h.box.metrics.retries.WithLabelValues("t1")); v != tc.wantRetrys {
				t.Errorf("am_fanout_delivery_retries_total = %v, want %v", v, tc.wantRetrys)
			}
			dead, _, err := h.box.DeadLetters(outbox.Selection{}, outbox.Page{})
			if err != nil {
				t.Fatalf("DeadLetters: %v", err)
			}
			switch {
			case tc.wantDead == "" && len(dead) != 0:
				t.Errorf("dead letters %+v, want none", dead)
			case tc.wantDead != "" && (len(dead) != 1 || dead[0].Reason != tc.wantDead):
				t.Errorf("dead letters %+v, want one with reason %q", dead, tc.wantDead)
			case tc.wantDead != "" && testutil.ToFloat64(h.box.metrics.deadLetters.WithLabelValues("t1")) != 1:
				t.Errorf("am_fanout_dead_letters_total{target=t1} is not 1")
			}
		})
	}
}

// TestMaxAgeDeadLetters: a delivery that keeps failing past the maximum
// age becomes a dead letter that names the reason and the last error.
func TestMaxAgeDeadLetters(t *testing.T) {
	tg := newServer(t, 503)
	opts := fastRetries()
	opts.MaxAge = time.Nanosecond
	h := newHarness(t, map[string]*server{"t1": tg}, opts, 100)
	h.accept(false, alert("a", core.StatusFiring, 0))
	waitUntil(t, "the delivery to be dead-lettered", func() bool { return h.box.Pending() == 0 })
	dead, _, _ := h.box.DeadLetters(outbox.Selection{Target: "t1"}, outbox.Page{})
	if len(dead) != 1 || dead[0].Reason != "maximum age reached" || dead[0].LastError == "" {
		t.Fatalf("dead letters %+v, want one for maximum age with its last error", dead)
	}
}

// TestOpenBreakerDelaysDelivery: a breaker opened by failures makes the
// attempts skip, and the delivery is made once the target is back.
func TestOpenBreakerDelaysDelivery(t *testing.T) {
	tg := newServer(t, 500, 500, 200)
	h := newHarness(t, map[string]*server{"t1": tg}, fastRetries(), 1)
	h.accept(false, alert("a", core.StatusFiring, 0))
	waitUntil(t, "the delivery to be made", func() bool { return h.box.Pending() == 0 })
	got := tg.received()
	if len(got) != 3 {
		t.Errorf("target got %d requests, want 3 (two failures, then the success)", len(got))
	}
	if dead, _, _ := h.box.DeadLetters(outbox.Selection{}, outbox.Page{}); len(dead) != 0 {
		t.Errorf("an open breaker dead-lettered %+v, want only a delay", dead)
	}
	if v := testutil.ToFloat64(h.box.metrics.retries.WithLabelValues("t1")); v < 2 {
		t.Errorf("retries = %v, want at least 2 (breaker-open skips count as attempts)", v)
	}
}

// TestAcceptStates: what Accept answers for a second notification of the
// same alert, by what happened to the first.
func TestAcceptStates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		first  *core.EnrichedAlert
		second *core.EnrichedAlert
		hold   bool // the target holds the first attempt
		want   string
	}{
		{"a resend after delivery is already delivered", alert("a", core.StatusFiring, 0), alert("a", core.StatusFiring, 0), false, outbox.StateAlreadyDelivered},
		{"a resend while pending is already pending", alert("a", core.StatusFiring, 0), alert("a", core.StatusFiring, 0), true, outbox.StateAlreadyPending},
		{"an older state after a newer one is stale", alert("a", core.StatusResolved, 0), alert("a", core.StatusFiring, 0), false, outbox.StateStale},
		{"an older firing after a newer firing is stale", alert("a", core.StatusFiring, 5), alert("a", core.StatusFiring, 0), true, outbox.StateStale},
		{"a newer state is accepted", alert("a", core.StatusFiring, 0), alert("a", core.StatusResolved, 0), false, outbox.StateAccepted},
		{"another alert is accepted", alert("a", core.StatusFiring, 0), alert("b", core.StatusFiring, 0), true, outbox.StateAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newServer(t)
			h := newHarness(t, map[string]*server{"t1": tg}, fastRetries(), 100)
			if tc.hold {
				release := tg.hold()
				defer release()
				h.accept(false, tc.first)
				tg.waitArrivals(1)
			} else {
				h.accept(true, tc.first)
			}
			out := h.accept(false, tc.second)
			if got := out[0].Deliveries[0].State; got != tc.want {
				t.Errorf("second notification's delivery is %q, want %q", got, tc.want)
			}
		})
	}
}

// resolves are the resolves of alert "a" firing since minute 0 that
// Alertmanager sends: with the firing's start, and with the start moved
// before it (a resolve posted with only an end in the past).
var resolves = []struct {
	name  string
	alert *core.EnrichedAlert
	want  string
}{
	{"keeping the start", alert("a", core.StatusResolved, 0), "a/resolved@0"},
	{"with an earlier start", alert("a", core.StatusResolved, -5), "a/resolved@-5"},
}

// TestNewerStateWaitsForAttemptInFlight: a resolved that arrives while its
// firing is being delivered is delivered after it, never before.
func TestNewerStateWaitsForAttemptInFlight(t *testing.T) {
	for _, tc := range resolves {
		t.Run(tc.name, func(t *testing.T) {
			tg := newServer(t)
			h := newHarness(t, map[string]*server{"t1": tg}, fastRetries(), 100)
			release := tg.hold()
			h.accept(false, alert("a", core.StatusFiring, 0))
			tg.waitArrivals(1)
			if got := h.accept(false, tc.alert)[0].Deliveries[0].State; got != outbox.StateAccepted {
				t.Errorf("the resolve is %q, want %q", got, outbox.StateAccepted)
			}
			release()
			waitUntil(t, "both states to be delivered", func() bool { return h.box.Pending() == 0 })
			if got, want := states(tg.received()), []string{"a/firing@0", tc.want}; !slices.Equal(got, want) {
				t.Errorf("target got %v, want %v", got, want)
			}
		})
	}
}

// TestNewerStateSupersedesPendingRetry: a firing waiting for a retry is
// replaced by its resolved; the firing is not delivered after it.
func TestNewerStateSupersedesPendingRetry(t *testing.T) {
	for _, tc := range resolves {
		t.Run(tc.name, func(t *testing.T) {
			tg := newServer(t, 503)
			opts := fastRetries()
			opts.RetryBase, opts.RetryCap = time.Hour, time.Hour
			tg.retryAfter = "3600"
			h := newHarness(t, map[string]*server{"t1": tg}, opts, 100)
			h.accept(true, alert("a", core.StatusFiring, 0))
			tg.answer(http.StatusOK)
			out := h.accept(true, tc.alert)
			// The lane probes the failing target in an hour: the resolve
			// waits there, answered as held back.
			if r := out[0].Result; r == nil || r.SkippedCount != 1 || r.Results[0].SkipReason != core.SkipUnhealthy {
				t.Fatalf("the resolved's first attempt: %+v, want skipped as unhealthy", r)
			}
			h.box.Wake("t1")
			waitUntil(t, "the resolve to be delivered", func() bool { return h.box.Pending() == 0 })
			if got, want := states(tg.received()), []string{"a/firing@0", tc.want}; !slices.Equal(got, want) {
				t.Errorf("target got %v, want %v", got, want)
			}
			if n := h.box.Pending(); n != 0 {
				t.Errorf("%d deliveries pending, want 0: the superseded firing must be gone", n)
			}
			h.close()
			h.open()
			if n := h.box.Pending(); n != 0 {
				t.Errorf("after a restart %d deliveries pending, want 0", n)
			}
		})
	}
}

// TestRestartResumesPending: deliveries pending at shutdown are made
// after the next start, at once: a restarted lane starts fresh, whatever
// backoff the lane before the restart was in; the dedup log survives it.
func TestRestartResumesPending(t *testing.T) {
	tg := newServer(t, 503)
	opts := fastRetries()
	opts.RetryBase, opts.RetryCap = time.Hour, time.Hour
	h := newHarness(t, map[string]*server{"t1": tg}, opts, 100)
	h.accept(true, alert("a", core.StatusFiring, 0), alert("b", core.StatusFiring, 0))
	if n := h.box.Pending(); n != 2 {
		t.Fatalf("%d pending after failed first attempts, want 2", n)
	}
	h.close()
	tg.answer(http.StatusOK)
	h.open()
	waitUntil(t, "resumed deliveries", func() bool { return h.box.Pending() == 0 })
	if got := len(tg.received()); got != 4 {
		t.Errorf("target got %d requests, want 4 (2 failed, 2 resumed)", got)
	}
	out := h.accept(false, alert("a", core.StatusFiring, 0))
	if s := out[0].Deliveries[0].State; s != outbox.StateAlreadyDelivered {
		t.Errorf("a resend after the restart is %q, want %q", s, outbox.StateAlreadyDelivered)
	}
}

// TestStoreWriteFailureRefuses: when the store cannot write, Accept fails
// and says so, the way a full disk does.
func TestStoreWriteFailureRefuses(t *testing.T) {
	h := newHarness(t, map[string]*server{"t1": newServer(t)}, fastRetries(), 100)
	if err := h.store.Close(); err != nil {
		t.Fatalf("closing: %v", err)
	}
	_, err := h.box.Accept(t.Context(), []*core.EnrichedAlert{alert("a", core.StatusFiring, 0)}, false)
	if !errors.Is(err, outbox.ErrClosed) {
		t.Errorf("Accept with a store that cannot write: %v, want an error wrapping outbox.ErrClosed", err)
	}
	h.box.Close(t.Context())
	h.box = nil
}

// TestWaitAnswersFirstAttempt: with wait, Accept returns each alert's
// first-attempt results as the fan-out reports them.
func TestWaitAnswersFirstAttempt(t *testing.T) {
	ok, bad := newServer(t), newServer(t, 503)
	h := newHarness(t, map[string]*server{"ok": ok, "bad": bad}, fastRetries(), 100)
	out := h.accept(true, alert("a", core.StatusFiring, 0))
	r := out[0].Result
	if r == nil || r.TotalTargets != 2 || r.SuccessCount != 1 || r.FailureCount != 1 || !r.Delivered() {
		t.Fatalf("result %+v, want one success and one failure", r)
	}
	out = h.accept(true, alert("a", core.StatusFiring, 0))
	want := map[string]string{"ok": core.SkipAlreadyDelivered, "bad": SkipQueued}
	for _, res := range out[0].Result.Results {
		if !res.Skipped || res.SkipReason != want[res.TargetName] || res.TargetType != "webhook" {
			t.Errorf("resend to %s: skipped %v, reason %q, type %q; want skipped as %q, type webhook",
				res.TargetName, res.Skipped, res.SkipReason, res.TargetType, want[res.TargetName])
		}
	}
	if out[0].Result.NeedsRetry() {
		t.Errorf("a resend with one target delivered must not ask for a retry")
	}
}

// TestWaitedStateBehindAnAttemptGoesUrgent: with publish_to_all, a
// waited-for delivery to a failing lane goes out past the lane's probe
// even when it was accepted while an older state of its alert was being
// attempted (parked behind that attempt, not yet in the lane): once that
// attempt settles it is tried at once, and the waiting webhook gets its
// outcome instead of waiting out WaitTimeout for a probe an hour away.
func TestWaitedStateBehindAnAttemptGoesUrgent(t *testing.T) {
	opts := fastRetries()
	opts.RetryBase, opts.RetryCap = time.Hour, time.Hour
	opts.WaitTimeout = 3 * time.Second
	opts.HealthStrategy = core.StrategyPublishToAll
	tg := newServer(t, 503)
	h := newHarness(t, map[string]*server{"t1": tg}, opts, 100)
	h.accept(false, alert("x", core.StatusFiring, 0))
	waitUntil(t, "the lane to probe after a failure", func() bool {
		h.box.mu.Lock()
		defer h.box.mu.Unlock()
		l := h.box.lanes["t1"]
		return l != nil && l.cautious() && h.box.running == 0
	})

	gate := make(chan struct{})
	tg.mu.Lock()
	tg.gate = gate
	tg.mu.Unlock()
	firing := make(chan []AlertOutcome, 1)
	go func() {
		out, _ := h.box.Accept(t.Context(), []*core.EnrichedAlert{alert("a", core.StatusFiring, 0)}, true)
		firing <- out
	}()
	waitUntil(t, "the firing's attempt to reach the target", func() bool {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		return tg.arrivals == 2
	})
	resolved := make(chan []AlertOutcome, 1)
	go func() {
		out, _ := h.box.Accept(t.Context(), []*core.EnrichedAlert{alert("a", core.StatusResolved, 0)}, true)
		resolved <- out
	}()
	waitUntil(t, "the resolve to be accepted behind the firing's attempt", func() bool {
		h.box.mu.Lock()
		defer h.box.mu.Unlock()
		return len(h.box.entries) == 3
	})
	close(gate)

	for name, ch := range map[string]chan []AlertOutcome{"firing": firing, "resolve": resolved} {
		out := <-ch
		if len(out) != 1 || out[0].Result == nil || out[0].Result.FailureCount != 1 {
			t.Errorf("the waited-for %s: %+v, want its attempt's failure (503), not a skip", name, out)
			continue
		}
		for _, r := range out[0].Result.Results {
			if r.Skipped || r.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("the waited-for %s: skipped %v (%q), status %d; want attempted, 503", name, r.Skipped, r.SkipReason, r.StatusCode)
			}
		}
	}
}

// TestEndWaitsAnswersWaitingWebhooks: once the server starts shutting
// down (EndWaits), a webhook waiting for a first attempt that hangs is
// answered at once with the delivery as queued, and a later one does not
// wait at all; the attempt itself goes on.
func TestEndWaitsAnswersWaitingWebhooks(t *testing.T) {
	opts := fastRetries()
	opts.WaitTimeout = time.Hour
	tg := newServer(t, 200)
	release := tg.hold()
	h := newHarness(t, map[string]*server{"t1": tg}, opts, 100)
	waiting := make(chan []AlertOutcome, 1)
	go func() {
		out, _ := h.box.Accept(t.Context(), []*core.EnrichedAlert{alert("a", core.StatusFiring, 0)}, true)
		waiting <- out
	}()
	tg.waitArrivals(1)
	h.box.EndWaits()
	queued := func(what string, out []AlertOutcome) {
		t.Helper()
		if len(out) != 1 || out[0].Result == nil || len(out[0].Result.Results) != 1 {
			t.Fatalf("%s: %+v, want one alert with one result", what, out)
		}
		if r := out[0].Result.Results[0]; !r.Skipped || r.SkipReason != SkipQueued {
			t.Errorf("%s: skipped %v (%q), want queued", what, r.Skipped, r.SkipReason)
		}
	}
	select {
	case out := <-waiting:
		queued("the webhook waiting when the waits ended", out)
	case <-time.After(time.Minute):
		t.Fatal("the waiting webhook was not answered within a minute of the waits' end")
	}
	out, err := h.box.Accept(t.Context(), []*core.EnrichedAlert{alert("b", core.StatusFiring, 0)}, true)
	if err != nil {
		t.Fatal(err)
	}
	queued("a webhook after the waits ended", out)
	release()
	tg.waitArrivals(2)
}

// TestRetryAfterDelaysRetry: a target's Retry-After holds the next attempt
// back even when the backoff would retry at once.
func TestRetryAfterDelaysRetry(t *testing.T) {
	tg := newServer(t, 503)
	tg.retryAfter = "3600"
	h := newHarness(t, map[string]*server{"t1": tg}, fastRetries(), 100)
	before := time.Now()
	h.accept(true, alert("a", core.StatusFiring, 0))
	var next time.Time
	err := h.store.Load(func(c *outbox.Candidate) { next = c.Delivery.NextAttempt })
	if err != nil {
		t.Fatal(err)
	}
	if min := before.Add(time.Hour); next.Before(min) {
		t.Errorf("next attempt at %v, want no earlier than %v (Retry-After: 3600)", next, min)
	}
	if n := len(tg.received()); n != 1 {
		t.Errorf("target got %d requests, want 1: the retry must wait", n)
	}
}

// TestAdmitKeepsCommitOrder: when concurrent notifications of one alert
// reach memory in another order than they were committed, the state
// committed last stays and the other, deleted by the later commit, is not
// admitted; whatever their timestamps say.
func TestAdmitKeepsCommitOrder(t *testing.T) {
	amtoolResolve := alert("a", core.StatusResolved, -5)
	for _, tc := range []struct {
		name        string
		first, then *core.EnrichedAlert
		seqs        [2]uint64 // commit order of first and then
		wantNext    string
	}{
		{"older after newer is not admitted", alert("a", core.StatusResolved, 0), alert("a", core.StatusFiring, 0), [2]uint64{2, 1}, "resolved"},
		{"newer after older supersedes it", alert("a", core.StatusFiring, 0), alert("a", core.StatusResolved, 0), [2]uint64{1, 2}, "resolved"},
		{"a resolve that started earlier, committed later, supersedes", alert("a", core.StatusFiring, 0), amtoolResolve, [2]uint64{1, 2}, "resolved"},
		{"a firing admitted after a resolve committed later is not admitted", amtoolResolve, alert("a", core.StatusFiring, 0), [2]uint64{2, 1}, "resolved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pipeline{entries: map[uint64]*entry{}, slots: map[string]*slot{}, lanes: map[string]*lane{}}
			first := outbox.NewCandidate(&outbox.Delivery{ID: 1, Target: "t", Alert: *tc.first})
			then := outbox.NewCandidate(&outbox.Delivery{ID: 2, Target: "t", Alert: *tc.then})
			first.Seq, then.Seq = tc.seqs[0], tc.seqs[1]
			p.admit(first)
			p.admit(then)
			s := p.slots[first.Delivery.Slot()]
			want, kept := uint64(2), then // the delivery whose state is wantNext
			if string(tc.first.Alert.Status) == tc.wantNext {
				want, kept = 1, first
			}
			if s == nil || s.next == nil || s.next.id != want {
				t.Fatalf("slot holds %+v, want the %s (delivery %d) waiting", s, tc.wantNext, want)
			}
			if q := p.lanes["t"].queue.Len(); len(p.entries) != 1 || p.bytes != int64(kept.Size()) || q != 1 {
				t.Errorf("%d entries, %d bytes, %d queued; want exactly the newer one (%d bytes)", len(p.entries), p.bytes, q, kept.Size())
			}
		})
	}
}

// TestCloseDrainsOrLeavesPending: Close lets an attempt in flight finish
// within the grace period, and one still running when it ends stays
// pending for the next start.
func TestCloseDrainsOrLeavesPending(t *testing.T) {
	for _, tc := range []struct {
		name        string
		release     bool // the target answers during the grace period
		wantPending int  // after a restart
	}{
		{"an attempt that ends within the grace period is done", true, 0},
		{"an attempt cut by the end of the grace period stays pending", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newServer(t)
			opts := fastRetries()
			opts.RetryBase, opts.RetryCap = time.Hour, time.Hour
			h := newHarness(t, map[string]*server{"t1": tg}, opts, 100)
			release := tg.hold()
			h.accept(false, alert("a", core.StatusFiring, 0))
			tg.waitArrivals(1)
			ctx, cancel := context.WithCancel(context.Background())
			closed := make(chan struct{})
			go func() {
				h.box.Close(ctx)
				close(closed)
			}()
			waitUntil(t, "Close to begin", func() bool {
				h.box.mu.Lock()
				defer h.box.mu.Unlock()
				return h.box.closed
			})
			if tc.release {
				release()
			} else {
				cancel()
			}
			<-closed
			cancel()
			if !tc.release {
				release()
			}
			if err := h.store.Close(); err != nil {
				t.Fatal(err)
			}
			h.box, h.store = nil, nil
			h.open()
			if n := h.box.Pending(); n != tc.wantPending {
				t.Errorf("%d pending after restart, want %d", n, tc.wantPending)
			}
		})
	}
}
