package fanout

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// countingPreparer names the team of each alert it prepares after its
// call count, so that a second preparation shows.
type countingPreparer struct {
	mu    sync.Mutex
	calls map[string]int // by fingerprint
}

func (p *countingPreparer) Prepare(_ context.Context, a *core.EnrichedAlert) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls == nil {
		p.calls = map[string]int{}
	}
	p.calls[a.Alert.Fingerprint]++
	a.Classification.Team = fmt.Sprintf("call-%d", p.calls[a.Alert.Fingerprint])
	return true
}

func (p *countingPreparer) count(fp string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[fp]
}

func teams(as []core.EnrichedAlert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Classification.Team
	}
	return out
}

func TestPrepareRunsOnceAndRetriesCarryItsResult(t *testing.T) {
	tg := newServer(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusOK)
	prep := &countingPreparer{}
	opts := fastRetries()
	opts.Prepare = prep
	h := newHarness(t, map[string]*server{"hook": tg}, opts, 100)

	h.accept(false, alert("p1", core.StatusFiring, 0))
	waitUntil(t, "the delivery to be done", func() bool { return h.box.Pending() == 0 })
	if got := teams(tg.received()); fmt.Sprint(got) != "[call-1 call-1 call-1]" {
		t.Errorf("the attempts carried %v, want the first preparation's team on each", got)
	}
	if n := prep.count("p1"); n != 1 {
		t.Errorf("Prepare ran %d times for one delivery, want once", n)
	}
}

func TestPreparedAlertSurvivesARestart(t *testing.T) {
	tg := newServer(t, http.StatusServiceUnavailable)
	prep := &countingPreparer{}
	opts := fastRetries()
	opts.Prepare = prep
	h := newHarness(t, map[string]*server{"hook": tg}, opts, 100)

	h.accept(false, alert("p2", core.StatusFiring, 0))
	tg.waitArrivals(2) // the second is a retry: the first attempt's record is written
	h.close()
	tg.answer(http.StatusOK)
	h.open()
	waitUntil(t, "the delivery to be done after the restart", func() bool { return h.box.Pending() == 0 })
	got := tg.received()
	if last := got[len(got)-1].Classification.Team; last != "call-1" {
		t.Errorf("after a restart the delivery carried team %q, want the first preparation's call-1", last)
	}
	if n := prep.count("p2"); n != 1 {
		t.Errorf("Prepare ran %d times, want once: a restart must not classify again", n)
	}
}

func TestPrepareHeldAttemptKeepsItsResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		skips := 1
		s := &scripted{answer: func(time.Time) core.Outcome {
			mu.Lock()
			defer mu.Unlock()
			if skips > 0 {
				skips--
				return core.Skip(core.SkipCircuitOpen)
			}
			return delivered
		}}
		prep := &countingPreparer{}
		box := newPreparedBox(t, laneTarget("hook"), s, prep)
		if _, err := box.Accept(context.Background(), []*core.EnrichedAlert{alert("p3", core.StatusFiring, 0)}, false); err != nil {
			t.Fatal(err)
		}
		drain(t, box, time.Minute)
		if n := prep.count("p3"); n != 1 {
			t.Errorf("Prepare ran %d times, want once: a skipped first attempt keeps what was prepared", n)
		}
	})
}

func TestPrepareEachAlertOfAGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scripted{answer: func(time.Time) core.Outcome { return delivered }}
		tg := laneTarget("chat")
		tg.GroupBy = core.GroupByNotification
		prep := &countingPreparer{}
		box := newPreparedBox(t, tg, s, prep)
		alerts := []*core.EnrichedAlert{alert("g1", core.StatusFiring, 0), alert("g2", core.StatusFiring, 0)}
		for _, a := range alerts {
			a.Group = core.Group{GroupKey: `{}:{alertname="G"}`}
		}
		if _, err := box.Accept(context.Background(), alerts, false); err != nil {
			t.Fatal(err)
		}
		drain(t, box, time.Minute)
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.groups) != 1 {
			t.Fatalf("%d group messages, want 1", len(s.groups))
		}
		if got := teams(s.groups[0].Alerts); fmt.Sprint(got) != "[call-1 call-1]" {
			t.Errorf("the group's alerts carried %v, want each prepared once", got)
		}
	})
}

func newPreparedBox(t *testing.T, tg *core.Target, at DeliveryAttempter, prep Preparer) *Pipeline {
	t.Helper()
	return startBox(t, tg, at, Options{PruneEvery: time.Hour, Prepare: prep})
}
