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
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// requests records every request the targets of a cluster got, and from
// which replica, when it arrives: an attempt cancelled in flight counts
// as sent, as it may have reached the target.
type requests struct {
	mu     sync.Mutex
	got    map[string][]string // "target/fingerprint" → the replicas that sent it
	refuse map[string]bool     // targets that refuse every delivery for good
	// throttle holds the Retry-After of targets that answer 429.
	throttle map[string]time.Duration
}

func (a *requests) throttled(target string) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.throttle[target]
}

func (a *requests) setThrottle(target string, wait time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.throttle == nil {
		a.throttle = map[string]time.Duration{}
	}
	a.throttle[target] = wait
}

func (a *requests) arrive(replica, key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got[key] = append(a.got[key], replica)
}

func (a *requests) refusing(target string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refuse[target]
}

func (a *requests) setRefuse(target string, on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refuse[target] = on
}

// sent counts the requests a replica made; "" counts all.
func (a *requests) sent(replica string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, rs := range a.got {
		for _, r := range rs {
			if replica == "" || r == replica {
				n++
			}
		}
	}
	return n
}

func (a *requests) senders(key string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.got[key]...)
}

// replicaAttempter is one replica's attempts: each takes its target's
// delay (an attempt cancelled meanwhile comes out cancelled) and
// succeeds, unless the target refuses.
type replicaAttempter struct {
	name  string
	all   *requests
	delay map[string]time.Duration
}

func (r *replicaAttempter) Attempt(ctx context.Context, t *core.Target, a *core.EnrichedAlert, _ *core.Notification) core.Outcome {
	r.all.arrive(r.name, t.Name+"/"+a.Alert.Fingerprint)
	if r.all.refusing(t.Name) {
		return core.Outcome{Kind: core.OutcomePermanent, StatusCode: 400, Err: errors.New("HTTP 400")}
	}
	if wait := r.all.throttled(t.Name); wait > 0 {
		return core.Outcome{Kind: core.OutcomeRetry, Throttled: true, StatusCode: 429, RetryAfter: wait, Err: errors.New("HTTP 429")}
	}
	if d := r.delay[t.Name]; d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return core.Outcome{Kind: core.OutcomeCancelled, Err: ctx.Err()}
		}
	}
	return delivered
}

// logbook is a log that tests read while replicas write it.
type logbook struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logbook) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logbook) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// cluster is replicas with pipelines on one shared store, one lease
// among them, and targets that tell which replica sent what.
type cluster struct {
	t        *testing.T
	shared   *sharedLog
	leases   *leases
	requests *requests
	targets  []*core.Target
	members  map[string]*member
	log      *logbook
}

type member struct {
	box   *Pipeline
	store *sharedReplica
	lease *lease
	reg   *prometheus.Registry
}

// newCluster starts replicas of the given names, inside the test's
// bubble, over the targets slow (each attempt takes a second), fast and
// picky (which refuses while told to); each lane runs two attempts at
// once. No replica holds the lease yet.
func newCluster(t *testing.T, names ...string) *cluster {
	t.Helper()
	store, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		t: t, shared: newSharedLog(store), leases: &leases{}, members: map[string]*member{}, log: &logbook{},
		requests: &requests{got: map[string][]string{}, refuse: map[string]bool{}},
		targets:  []*core.Target{laneTarget("slow"), laneTarget("fast"), laneTarget("picky")},
	}
	src := NewTargetSet(c.targets)
	for _, name := range names {
		m := &member{store: c.shared.replica(), lease: c.leases.replica(), reg: prometheus.NewRegistry()}
		at := &replicaAttempter{name: name, all: c.requests, delay: map[string]time.Duration{"slow": time.Second}}
		logger := slog.New(slog.NewTextHandler(c.log, &slog.HandlerOptions{Level: slog.LevelInfo})).With("replica", name)
		m.box, err = New(m.store, src, at, Options{
			MaxPending: 1 << 20, MaxBytes: 1 << 30, PruneEvery: time.Hour, LaneInFlight: 2, Lease: m.lease, Logger: logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.box.Register(m.reg); err != nil {
			t.Fatal(err)
		}
		m.box.Start()
		c.members[name] = m
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, m := range c.members {
			m.box.Close(ctx)
		}
		if err := store.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return c
}

// give hands the lease to replica name and waits until every replica
// has done what that makes it do.
func (c *cluster) give(name string) {
	to := c.members[name].lease
	if c.leases.holder != to && c.leases.revoke() {
		// A lease passes once its holder let it go or its term ran out:
		// the old holder winds down first (its last outcomes, whose
		// commit may wait out the store's linger, and its lanes' state
		// written).
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
	}
	c.leases.give(to)
	synctest.Wait()
}

// accept has replica name accept one firing alert per fingerprint.
func (c *cluster) accept(name string, wait bool, fps ...string) []AlertOutcome {
	c.t.Helper()
	alerts := make([]*core.EnrichedAlert, len(fps))
	for i, fp := range fps {
		alerts[i] = alert(fp, core.StatusFiring, 0)
	}
	out, err := c.members[name].box.Accept(context.Background(), alerts, wait)
	if err != nil {
		c.t.Fatalf("replica %s: Accept: %v", name, err)
	}
	return out
}

// drain waits in fake time until the shared store holds nothing pending.
func (c *cluster) drain() {
	c.t.Helper()
	for end := time.Now().Add(time.Minute); c.shared.pending(c.t) > 0; {
		if time.Now().After(end) {
			c.t.Fatalf("%d deliveries still pending after a minute", c.shared.pending(c.t))
		}
		time.Sleep(100 * time.Millisecond)
	}
	synctest.Wait()
}

// leader is am_fanout_lanes_leader of replica name.
func (c *cluster) leader(name string) float64 {
	c.t.Helper()
	mfs, err := c.members[name].reg.Gather()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "am_fanout_lanes_leader" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	c.t.Fatalf("replica %s has no am_fanout_lanes_leader", name)
	return 0
}

// wantLeader checks that replica name runs the lanes and the others
// follow, with nothing pending and no lane on a follower.
func (c *cluster) wantLeader(name string) {
	c.t.Helper()
	for n, m := range c.members {
		want := 0.0
		if n == name {
			want = 1
		}
		if got := c.leader(n); got != want {
			c.t.Errorf("replica %s: am_fanout_lanes_leader = %v, want %v", n, got, want)
		}
		if n == name {
			continue
		}
		if p, lanes := m.box.Pending(), m.box.Lanes(); p != 0 || len(lanes) != 0 {
			c.t.Errorf("follower %s: %d pending, lanes %v; want none", n, p, lanes)
		}
	}
}

// fingerprints are n fingerprints with prefix.
func fingerprints(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

// TestOnlyTheLeaderAttempts: of two replicas on one store, only the one
// holding the lease attempts deliveries; those the follower accepts are
// delivered by the leader, each exactly once.
func TestOnlyTheLeaderAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "a", "b")
		c.give("a")
		followed := fingerprints("b", 5)
		for _, o := range c.accept("b", false, followed...) {
			if len(o.Deliveries) != 3 || o.Deliveries[0].State != outbox.StateAccepted || o.Deliveries[0].ID == 0 {
				t.Errorf("the follower's answer for %s lists %+v, want its 3 deliveries accepted", o.Alert.Alert.Fingerprint, o.Deliveries)
			}
		}
		led := fingerprints("a", 5)
		c.accept("a", false, led...)
		c.drain()
		for _, fp := range append(followed, led...) {
			for _, tg := range []string{"slow", "fast", "picky"} {
				key := tg + "/" + fp
				if got := c.requests.senders(key); len(got) != 1 || got[0] != "a" {
					t.Errorf("%s was sent by %v, want once by the leader a", key, got)
				}
			}
		}
		if n := c.requests.sent("b"); n != 0 {
			t.Errorf("the follower b made %d attempts, want none", n)
		}
		c.wantLeader("a")
	})
}

// TestTakeoverDeliversTheRest: the leader loses the lease while a slow
// target's backlog is half delivered, two attempts in flight; the other
// replica delivers the rest, and what either accepts after. Nothing is
// lost, at most the attempts that were in flight are sent twice, and
// their cancellation is not counted as a failure. Given back, the lease
// makes the first replica deliver again.
func TestTakeoverDeliversTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "a", "b")
		c.give("a")
		first := fingerprints("x", 10)
		c.accept("a", false, first...)
		time.Sleep(2500 * time.Millisecond) // slow: 4 delivered, 2 in flight
		synctest.Wait()
		inFlight := c.members["a"].box.Lanes()["slow"].InFlight
		if inFlight != 2 {
			t.Fatalf("the slow lane has %d attempts in flight before the takeover, want 2", inFlight)
		}

		c.give("b")
		sentByA := c.requests.sent("a")
		c.wantLeader("b")
		second := fingerprints("y", 3)
		c.accept("a", false, second...)
		c.drain()
		if n := c.requests.sent("a"); n != sentByA {
			t.Errorf("replica a made %d attempts after it lost the lease, want none", n-sentByA)
		}
		keys := 0
		for _, fp := range append(first, second...) {
			for _, tg := range []string{"slow", "fast", "picky"} {
				keys++
				if got := c.requests.senders(tg + "/" + fp); len(got) == 0 {
					t.Errorf("%s/%s was never sent: lost in the takeover", tg, fp)
				}
			}
		}
		dup := c.requests.sent("") - keys
		t.Logf("taken over with %d attempts in flight: %d deliveries sent twice", inFlight, dup)
		if dup > inFlight {
			t.Errorf("%d deliveries sent twice, want at most the %d in flight at the takeover", dup, inFlight)
		}
		if n := testutil.ToFloat64(c.members["b"].box.metrics.retries.WithLabelValues("slow")); n != 0 {
			t.Errorf("replica b retried %v slow deliveries, want none: a cancelled attempt is no failure", n)
		}

		c.give("a")
		c.wantLeader("a")
		third := fingerprints("z", 2)
		c.accept("b", false, third...)
		c.drain()
		for _, fp := range third {
			if got := c.requests.senders("fast/" + fp); len(got) != 1 || got[0] != "a" {
				t.Errorf("fast/%s was sent by %v after the lease came back, want once by a", fp, got)
			}
		}
		log := c.log.String()
		for _, want := range []string{
			`level=INFO msg="this replica runs the lanes" replica=a pending=0`,
			`level=INFO msg="another replica runs the lanes" replica=a attempts_cancelled=2`,
			`level=INFO msg="this replica runs the lanes" replica=b pending=`,
			`level=INFO msg="another replica runs the lanes" replica=b attempts_cancelled=0`,
		} {
			if !strings.Contains(log, want) {
				t.Errorf("the log lacks %q:\n%s", want, log)
			}
		}
	})
}

// TestFollowerAnswersWaitingWebhookAtOnce: a waiting webhook on a
// follower gets its answer at once, every delivery skipped as follower,
// whether or not another replica holds the lease; the leader delivers
// them.
func TestFollowerAnswersWaitingWebhookAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		leader string
	}{
		{"another replica leads", "a"},
		{"no replica leads yet", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCluster(t, "a", "b")
				if tc.leader != "" {
					c.give(tc.leader)
				}
				start := time.Now()
				out := c.accept("b", true, "w1", "w2")
				if took := time.Since(start); took != 0 {
					t.Errorf("the follower answered after %s, want at once", took)
				}
				for _, o := range out {
					r := o.Result
					if r == nil || r.TotalTargets != 3 || r.SkippedCount != 3 {
						t.Fatalf("result for %s: %+v, want 3 targets skipped", o.Alert.Alert.Fingerprint, r)
					}
					for _, tr := range r.Results {
						if tr.SkipReason != SkipFollower || !tr.Retryable {
							t.Errorf("%s to %s: skipped %v for %q (retryable %v), want skipped for %q, retryable",
								o.Alert.Alert.Fingerprint, tr.TargetName, tr.Skipped, tr.SkipReason, tr.Retryable, SkipFollower)
						}
					}
				}
				c.give("a")
				c.drain()
				if got := c.requests.senders("fast/w1"); len(got) != 1 || got[0] != "a" {
					t.Errorf("fast/w1 was sent by %v, want once by the leader a", got)
				}
			})
		})
	}
}

// TestFollowerDeadLetters: a follower lists and purges the dead letters
// of the shared store, and one it replays is delivered by the leader.
func TestFollowerDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "a", "b")
		c.give("a")
		c.requests.setRefuse("picky", true)
		c.accept("b", false, "d1", "d2")
		c.drain()
		b := c.members["b"].box
		dead, _, err := b.DeadLetters(outbox.Selection{Target: "picky"}, outbox.Page{})
		if err != nil || len(dead) != 2 {
			t.Fatalf("the follower lists %d dead letters of picky (%v), want 2", len(dead), err)
		}
		c.requests.setRefuse("picky", false)
		got, err := b.Replay(outbox.Selection{ID: dead[0].ID})
		if err != nil || len(got) != 1 || got[0].State != outbox.StateReplayed {
			t.Fatalf("the follower's Replay = %+v, %v; want it replayed", got, err)
		}
		c.drain()
		if got := c.requests.senders("picky/" + dead[0].Fingerprint); len(got) != 2 || got[1] != "a" {
			t.Errorf("the replayed dead letter was sent by %v, want by a, refused then delivered", got)
		}
		if n, err := b.Purge(outbox.Selection{Target: "picky"}); err != nil || n != 1 {
			t.Errorf("the follower purged %d dead letters (%v), want the one left", n, err)
		}
		c.wantLeader("a")
	})
}

// TestLeaseNeedsSharedStore: a Lease over a store that only this replica
// sees is refused, saying why.
func TestLeaseNeedsSharedStore(t *testing.T) {
	store, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	_, err = New(store, NewTargetSet(nil), &replicaAttempter{}, Options{Lease: (&leases{}).replica()})
	if err == nil || !strings.Contains(err.Error(), "store the replicas share") {
		t.Errorf("New with a Lease on a bbolt store: %v, want an error saying it needs a shared store", err)
	}
}

// TestCloseGivesTheLeaseUpAfterItsAttempts: a leader that shuts down lets
// its attempts in flight finish, and only then frees the lease, which
// another replica takes to deliver the rest.
func TestCloseGivesTheLeaseUpAfterItsAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "a", "b")
		c.give("a")
		c.accept("a", false, fingerprints("c", 4)...)
		time.Sleep(500 * time.Millisecond) // slow: two attempts in flight
		closed := make(chan struct{})
		go func() {
			c.members["a"].box.Close(context.Background())
			close(closed)
		}()
		synctest.Wait()
		if !c.leases.holds(c.members["a"].lease) {
			t.Errorf("the closing leader gave the lease up with its attempts in flight")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		select {
		case <-closed:
		default:
			t.Fatal("Close has not returned after its attempts ended")
		}
		if !c.leases.holds(nil) {
			t.Errorf("the lease is still held after the leader closed")
		}
		c.give("b")
		c.drain()
		for _, fp := range fingerprints("c", 4) {
			if got := c.requests.senders("slow/" + fp); len(got) != 1 {
				t.Errorf("slow/%s was sent by %v, want once", fp, got)
			}
		}
	})
}

// TestLeaderReloadsWhenItsWatchBreaks: when watching the shared store
// fails, the leader loads the pending deliveries again and watches on;
// what a follower accepted meanwhile is delivered.
func TestLeaderReloadsWhenItsWatchBreaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "a", "b")
		c.members["a"].store.breaks.Store(1)
		c.give("a")
		c.accept("b", false, "r1")
		synctest.Wait()
		if n := c.requests.sent(""); n != 0 {
			t.Fatalf("%d attempts while the watch was broken, want none yet", n)
		}
		c.accept("b", false, "r2")
		c.drain()
		for _, fp := range []string{"r1", "r2"} {
			if got := c.requests.senders("fast/" + fp); len(got) != 1 || got[0] != "a" {
				t.Errorf("fast/%s was sent by %v, want once by the leader a", fp, got)
			}
		}
		if log := c.log.String(); !strings.Contains(log, "the watch broke") {
			t.Errorf("the log does not say the watch broke:\n%s", log)
		}
	})
}

// TestTakeoverKeepsTheLanesState: a target the leader found throttling
// (429 with Retry-After: 60s) stays paused when the other replica takes
// the lanes over: the new holder resumes the pause from the shared store
// instead of sending into it again, and sends once it ends.
func TestTakeoverKeepsTheLanesState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "a", "b")
		c.give("a")
		c.requests.setThrottle("picky", time.Minute)
		fps := fingerprints("p", 1)
		c.accept("a", false, fps...)
		time.Sleep(time.Second)
		synctest.Wait()
		paused := c.members["a"].box.Lanes()["picky"]
		if paused.State != LanePaused {
			t.Fatalf("the leader's lane of the throttling target is %+v, want paused", paused)
		}
		c.requests.setThrottle("picky", 0)
		c.give("b")
		got := c.members["b"].box.Lanes()["picky"]
		if got.State != LanePaused || !got.Until.Equal(paused.Until) {
			t.Errorf("the new holder's lane is %+v, want paused until %s as the old holder's", got, paused.Until)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if n := len(c.requests.senders("picky/" + fps[0])); n != 1 {
			t.Errorf("picky got %d requests within its pause, want only the first (refused) one", n)
		}
		time.Sleep(time.Minute)
		c.drain()
		if got := c.requests.senders("picky/" + fps[0]); len(got) != 2 || got[1] != "b" {
			t.Errorf("picky was sent the alert by %v, want a (throttled) then b after the pause", got)
		}
	})
}
