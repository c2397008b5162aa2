package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// loadAll loads the store's pending deliveries, trying again while the
// cluster elects new leaders.
func loadAll(t *testing.T, s *JetStreamStore) []*Candidate {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got []*Candidate
		err := s.Load(func(c *Candidate) { got = append(got, c) })
		if err == nil {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("Load: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// offer is accept for a goroutine: the error is returned, not fatal.
func offer(s *JetStreamStore, target string, a *core.EnrichedAlert) (*Candidate, error) {
	c := NewEncoder([]*core.EnrichedAlert{a}, time.Now(), "").Alert(target, 0)
	return c, s.Accept([]*Candidate{c}, time.Now())
}

// together runs fns at once and waits for them.
func together(fns ...func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, fn := range fns {
		wg.Go(func() {
			<-start
			fn()
		})
	}
	close(start)
	wg.Wait()
}

// TestJetStreamClusterAcceptsConcurrently: on a three-node cluster with
// R3 streams, two replicas (connected to different nodes) accepting at
// once the same delivery store it once, and a firing and its resolve
// of one alert end with the resolve the one pending.
func TestJetStreamClusterAcceptsConcurrently(t *testing.T) {
	c := runCluster(t)
	a := openJetStream(t, c.URLs(0), 3, StoreOptions{})
	b := openJetStream(t, c.URLs(1), 3, StoreOptions{})
	const alerts = 8
	for i := range alerts {
		fp := fmt.Sprintf("same%d", i)
		var first, second *Candidate
		var errA, errB error
		together(
			func() { first, errA = offer(a, "t1", alert(fp, core.StatusFiring, 0)) },
			func() { second, errB = offer(b, "t1", alert(fp, core.StatusFiring, 0)) },
		)
		if errA != nil || errB != nil {
			t.Fatalf("%s accepted by two replicas at once: %v, %v", fp, errA, errB)
		}
		states := []string{first.State, second.State}
		if !(states[0] == StateAccepted && states[1] == StateAlreadyPending || states[0] == StateAlreadyPending && states[1] == StateAccepted) {
			t.Errorf("%s accepted by two replicas at once: %v, want one accepted and one already pending", fp, states)
		}
		if first.Delivery.ID != second.Delivery.ID {
			t.Errorf("%s: the replicas name deliveries %d and %d, want the same one", fp, first.Delivery.ID, second.Delivery.ID)
		}
	}
	for i := range alerts {
		fp := fmt.Sprintf("order%d", i)
		var errA, errB error
		together(
			func() { _, errA = offer(a, "t1", alert(fp, core.StatusFiring, 0)) },
			func() { _, errB = offer(b, "t1", alert(fp, core.StatusResolved, 0)) },
		)
		if errA != nil || errB != nil {
			t.Fatalf("%s: a firing and its resolve accepted at once: %v, %v", fp, errA, errB)
		}
	}
	pending := map[string][]core.AlertStatus{}
	for _, c := range loadAll(t, openJetStream(t, c.URLs(2), 3, StoreOptions{})) {
		a := &c.Delivery.Alert.Alert
		pending[a.Fingerprint] = append(pending[a.Fingerprint], a.Status)
	}
	for i := range alerts {
		if got := pending[fmt.Sprintf("same%d", i)]; len(got) != 1 {
			t.Errorf("same%d is pending %d times (%v), want once", i, len(got), got)
		}
		if got := pending[fmt.Sprintf("order%d", i)]; len(got) != 1 || got[0] != core.StatusResolved {
			t.Errorf("order%d pending as %v, want the resolve alone", i, got)
		}
	}
}

// TestJetStreamClusterSurvivesLosingANode: a node shut down with its
// storage deleted loses nothing accepted, and the two left accept more.
func TestJetStreamClusterSurvivesLosingANode(t *testing.T) {
	c := runCluster(t)
	s := openJetStream(t, c.URLs(1), 3, StoreOptions{})
	var alerts []*core.EnrichedAlert
	for i := range 20 {
		alerts = append(alerts, alert(fmt.Sprintf("a%d", i), core.StatusFiring, 0))
	}
	accepted := accept(t, s, "t1", alerts...)
	c.StopNode(0)
	if err := os.RemoveAll(c.Dirs[0]); err != nil {
		t.Fatal(err)
	}
	got := loadAll(t, s)
	if len(got) != len(accepted) {
		t.Fatalf("after losing a node, %d deliveries pending, want the %d accepted", len(got), len(accepted))
	}
	for i, g := range got {
		if g.Delivery.ID != accepted[i].Delivery.ID {
			t.Errorf("delivery %d is %d after losing a node, want %d", i, g.Delivery.ID, accepted[i].Delivery.ID)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		enc := NewEncoder([]*core.EnrichedAlert{alert("after", core.StatusFiring, 0)}, time.Now(), "")
		cand := enc.Alert("t1", 0)
		err := s.Accept([]*Candidate{cand}, time.Now())
		if err == nil && cand.State == StateAccepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("two nodes of three do not accept: %v, %q", err, cand.State)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestJetStreamLeaseTakenOverAfterHolderStops: of two contenders one
// holds the lease while it renews; once it stops, the other holds it
// within the TTL (and one renewal period of trying).
func TestJetStreamLeaseTakenOverAfterHolderStops(t *testing.T) {
	srv := runJetStream(t)
	a := openJetStream(t, []string{srv.ClientURL()}, 1, StoreOptions{})
	b := openJetStream(t, []string{srv.ClientURL()}, 1, StoreOptions{})
	ttl := a.opts.LeaseTTL
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lostA, err := a.Lease("lanes", "a").Hold(ctx)
	if err != nil {
		t.Fatalf("the first contender: %v", err)
	}
	held := make(chan (<-chan struct{}), 1)
	go func() {
		lost, err := b.Lease("lanes", "b").Hold(ctx)
		if err == nil {
			held <- lost
		}
		close(held)
	}()
	select {
	case <-held:
		t.Fatal("the second contender holds the lease while the first renews it")
	case <-lostA:
		t.Fatal("the first contender lost the lease while renewing it")
	case <-time.After(2 * ttl):
	}
	a.Close() // its renewals fail from now on
	stopped := time.Now()
	<-lostA
	select {
	case lostB, ok := <-held:
		if !ok {
			t.Fatal("the second contender gave up")
		}
		if took := time.Since(stopped); took > ttl+ttl/3+time.Second {
			t.Errorf("the second contender took the lease %v after the first stopped, want within %v", took, ttl+ttl/3)
		}
		cancel()
		<-lostB
	case <-time.After(3 * ttl):
		t.Fatalf("the second contender does not hold the lease %v after the first stopped", 3*ttl)
	}
}

// TestJetStreamWatchSeesOtherReplicas: Watch hands over, in order, the
// deliveries another replica accepts after Load. (A delivery superseded
// before Watch reads it is skipped, so each alert here has one state per
// target.)
func TestJetStreamWatchSeesOtherReplicas(t *testing.T) {
	srv := runJetStream(t)
	runner := openJetStream(t, []string{srv.ClientURL()}, 1, StoreOptions{})
	other := openJetStream(t, []string{srv.ClientURL()}, 1, StoreOptions{})
	before := accept(t, other, "t1", alert("before", core.StatusFiring, 0))
	loaded := loadAll(t, runner)
	if len(loaded) != 1 || loaded[0].Delivery.ID != before[0].Delivery.ID {
		t.Fatalf("Load gave %d deliveries, want the one accepted before", len(loaded))
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan *Candidate, 10)
	watched := make(chan error, 1)
	go func() { watched <- runner.Watch(ctx, func(c *Candidate) { got <- c }) }()
	after := accept(t, other, "t1", alert("x", core.StatusFiring, 0), alert("y", core.StatusFiring, 0))
	after = append(after, accept(t, other, "t2", alert("x", core.StatusResolved, 0))...)
	var seen []*Candidate
	for len(seen) < 3 {
		select {
		case c := <-got:
			seen = append(seen, c)
		case <-time.After(10 * time.Second):
			t.Fatalf("Watch handed over %d deliveries in 10s, want 3", len(seen))
		}
	}
	for i, c := range seen {
		if c.Delivery.ID != after[i].Delivery.ID || c.State != StateAccepted || c.Seq != after[i].Seq {
			t.Errorf("watched %d: id %d, %q, seq %d; want id %d accepted, seq %d", i, c.Delivery.ID, c.State, c.Seq, after[i].Delivery.ID, after[i].Seq)
		}
	}
	cancel()
	if err := <-watched; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch ended with %v, want its context's end", err)
	}
}

// TestJetStreamOpenErrors: without a quorum for the replicas asked,
// OpenJetStream fails naming the servers and never their credentials.
func TestJetStreamOpenErrors(t *testing.T) {
	srv := runJetStream(t)
	url := strings.Replace(srv.ClientURL(), "nats://", "nats://user:hunter2@", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenJetStream(ctx, JetStreamOptions{Servers: []string{url}, Replicas: 3, ConnectTimeout: 3 * time.Second}, nil)
	if err == nil {
		s.Close()
		t.Fatal("OpenJetStream with 3 replicas on one server succeeded, want an error")
	}
	if !strings.Contains(err.Error(), srv.ClientURL()) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q: want it to name %s without the password", err, srv.ClientURL())
	}
}

// TestJetStreamPublisherState: a target's state is found by that target
// only, until deleted or expired; an import stores what has not expired.
func TestJetStreamPublisherState(t *testing.T) {
	srv := runJetStream(t)
	s := openJetStream(t, []string{srv.ClientURL()}, 1, StoreOptions{})
	ctx := context.Background()
	if err := s.State("slack").Put(ctx, "thread/1 x", []byte("1.1"), time.Hour); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := s.State("slack").Put(ctx, "short", []byte("2.2"), time.Second); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := s.State("slack").Put(ctx, "k", nil, 0); err == nil {
		t.Error("Put with a ttl of 0: want an error, an entry must expire")
	}
	n, err := s.ImportState("rootly", []StateEntry{
		{Key: "kept", Value: []byte("id-1"), Expires: time.Now().Add(time.Hour)},
		{Key: "expired", Value: []byte("id-2"), Expires: time.Now().Add(-time.Second)},
	}, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("ImportState = %d, %v; want 1 entry imported", n, err)
	}
	time.Sleep(1100 * time.Millisecond)
	other := openJetStream(t, []string{srv.ClientURL()}, 1, StoreOptions{})
	for _, tc := range []struct {
		target, key, want string
	}{
		{"slack", "thread/1 x", "1.1"},
		{"rootly", "thread/1 x", ""},
		{"slack", "short", ""},
		{"rootly", "kept", "id-1"},
		{"rootly", "expired", ""},
	} {
		got, ok, err := other.State(tc.target).Get(ctx, tc.key)
		if err != nil || string(got) != tc.want || ok != (tc.want != "") {
			t.Errorf("Get(%s, %s) from another replica = %q, %v, %v; want %q", tc.target, tc.key, got, ok, err, tc.want)
		}
	}
	if err := other.State("slack").Delete(ctx, "thread/1 x"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok, _ := s.State("slack").Get(ctx, "thread/1 x"); ok {
		t.Error("a deleted entry is still found")
	}
}

// TestJetStreamKeepsLanes: a lane's state saved through one connection is
// read back through another, as the next lane holder reads it.
func TestJetStreamKeepsLanes(t *testing.T) {
	srv := runJetStream(t)
	a := openJetStream(t, []string{srv.ClientURL()}, 1, StoreOptions{})
	b := openJetStream(t, []string{srv.ClientURL()}, 1, StoreOptions{})
	if got, err := b.LoadLanes(); err != nil || len(got) != 0 {
		t.Fatalf("LoadLanes on an empty store = %v, %v; want none", got, err)
	}
	until := time.Now().Add(time.Minute).UTC().Truncate(time.Millisecond)
	want := LaneMemory{Target: "chat", PausedUntil: until, Throttled: true, Failures: 2, BreakerOpen: true}
	if err := a.SaveLane(want); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveLane(LaneMemory{Target: "pager"}); err != nil {
		t.Fatal(err)
	}
	got, err := b.LoadLanes()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got["chat"].PausedUntil.Equal(until) || got["chat"].Failures != 2 || !got["chat"].BreakerOpen || !got["chat"].Throttled {
		t.Errorf("LoadLanes = %+v, want chat paused until %s with its failures and open breaker, and pager", got, until)
	}
}
