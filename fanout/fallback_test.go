package fanout

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// selectNone is a selector that picks no alert.
type selectNone struct{}

func (selectNone) Selects(map[string]string) bool { return false }

// setTargets installs copies of the harness's targets, changed by edit,
// as a reload does; a target edit returns false for is removed.
func (h *harness) setTargets(edit func(t *core.Target) bool) {
	var ts []*core.Target
	for _, t := range h.targets.Targets() {
		c := *t
		if edit(&c) {
			ts = append(ts, &c)
		}
	}
	h.targets.Store(ts)
}

// withFallbacks gives targets their fallbacks, by name; the targets named
// as fallbacks select no alert of their own.
func withFallbacks(fallbacks map[string][]string) func(t *core.Target) bool {
	return func(t *core.Target) bool {
		t.Fallback = fallbacks[t.Name]
		for _, names := range fallbacks {
			if slices.Contains(names, t.Name) {
				t.Selector = selectNone{}
			}
		}
		return true
	}
}

// wantMarked checks that got is alert fp, handed over from target from
// for reason.
func wantMarked(t *testing.T, got core.EnrichedAlert, fp, from, reason string) {
	t.Helper()
	if got.Alert.Fingerprint != fp || got.Alert.Labels[LabelFallbackFrom] != from || got.Alert.Annotations[AnnotationFallbackReason] != reason {
		t.Errorf("fallback got alert %s with labels %v and annotations %v; want alert %s with %s=%q and %s=%q",
			got.Alert.Fingerprint, got.Alert.Labels, got.Alert.Annotations, fp, LabelFallbackFrom, from, AnnotationFallbackReason, reason)
	}
	if got.Alert.Labels["alertname"] != "Test"+fp {
		t.Errorf("fallback got labels %v, want the alert's own labels kept", got.Alert.Labels)
	}
}

func (h *harness) deadLetters(target string) []outbox.DeadLetter {
	h.t.Helper()
	ds, _, err := h.box.DeadLetters(outbox.Selection{Target: target}, outbox.Page{})
	if err != nil {
		h.t.Fatalf("DeadLetters: %v", err)
	}
	return ds
}

// TestPermanentFailureGoesToFallback: a 400 at the primary hands the alert
// to its fallback, whose matchers do not select it, exactly once and
// marked; the dead letter stays listed and says where it went.
func TestPermanentFailureGoesToFallback(t *testing.T) {
	primary, fb := newServer(t, http.StatusBadRequest), newServer(t)
	h := newHarness(t, map[string]*server{"primary": primary, "fb": fb}, fastRetries(), 100)
	h.setTargets(withFallbacks(map[string][]string{"primary": {"fb"}}))
	out := h.accept(false, alert("a", core.StatusFiring, 0))
	if n := len(out[0].Deliveries); n != 1 {
		t.Fatalf("Accept made %d deliveries, want 1: the fallback selects nothing of its own", n)
	}
	waitUntil(t, "the fallback to get the alert", func() bool { return len(fb.received()) == 1 && h.box.Pending() == 0 })
	wantMarked(t, fb.received()[0], "a", "primary", "permanent failure")
	dead := h.deadLetters("primary")
	if len(dead) != 1 || !slices.Equal(dead[0].HandedTo, []string{"fb"}) {
		t.Errorf("primary's dead letters %+v, want one handed to fb", dead)
	}
	if v := testutil.ToFloat64(h.box.metrics.fallbacks.WithLabelValues("primary", "fb")); v != 1 {
		t.Errorf("am_fanout_fallbacks_total{target=primary,fallback=fb} = %v, want 1", v)
	}
	// A resend of the alert is already delivered to the fallback, and the
	// primary's dead letter is not handed over again.
	h.accept(false, alert("a", core.StatusFiring, 0))
	waitUntil(t, "the resend to settle", func() bool { return h.box.Pending() == 0 })
	if n := len(fb.received()); n != 1 {
		t.Errorf("the fallback got %d requests after a resend, want 1", n)
	}
}

// TestFallbackSurvivesRestarts: a restart while the primary's attempt is
// in flight, or while the fallback's is, delivers the alert to the
// fallback exactly once: the dead letter and the fallback's delivery are
// one commit.
func TestFallbackSurvivesRestarts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		holdAt  string // the target whose attempt the restart cuts
		pending int    // deliveries in the store at the restart
		dead    int    // dead letters in the store at the restart
	}{
		{"restart during the primary's attempt", "primary", 1, 0},
		{"restart during the fallback's attempt", "fb", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary, fb := newServer(t, http.StatusBadRequest), newServer(t)
			servers := map[string]*server{"primary": primary, "fb": fb}
			held := servers[tc.holdAt]
			ended := make(chan struct{}, 1)
			serve := held.srv.Config.Handler
			held.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				serve.ServeHTTP(w, r)
				select {
				case ended <- struct{}{}:
				default:
				}
			})
			h := newHarness(t, servers, fastRetries(), 100)
			h.setTargets(withFallbacks(map[string][]string{"primary": {"fb"}}))
			release := held.hold()
			h.accept(false, alert("a", core.StatusFiring, 0))
			held.waitArrivals(1)
			h.close()
			// The cut request is over before the target answers again, so
			// that it cannot count as received.
			<-ended
			release()

			store, err := outbox.Open(h.dir+"/outbox.db", outbox.StoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			pending := 0
			err = store.Load(func(*outbox.Candidate) { pending++ })
			letters, _, deadErr := store.DeadLetters(outbox.Selection{}, outbox.Page{})
			store.Close()
			if err != nil || deadErr != nil {
				t.Fatalf("reading the store at the restart: %v", errors.Join(err, deadErr))
			}
			dead := len(letters)
			if pending != tc.pending || dead != tc.dead {
				t.Errorf("at the restart the store holds %d pending and %d dead, want %d and %d", pending, dead, tc.pending, tc.dead)
			}

			h.open()
			h.setTargets(withFallbacks(map[string][]string{"primary": {"fb"}}))
			waitUntil(t, "the fallback to get the alert", func() bool { return len(fb.received()) >= 1 && h.box.Pending() == 0 })
			wantMarked(t, fb.received()[0], "a", "primary", "permanent failure")
			if dead := h.deadLetters(""); len(dead) != 1 || dead[0].Target != "primary" {
				t.Errorf("dead letters %+v, want the primary's one", dead)
			}
			time.Sleep(20 * time.Millisecond) // time for a wrong second hand-over to show
			if n := len(fb.received()); n != 1 {
				t.Errorf("the fallback got %d alerts, want exactly 1", n)
			}
		})
	}
}

// TestFallbackReasons: maximum age and a target removed by a reload hand
// the delivery over too, each with its reason.
func TestFallbackReasons(t *testing.T) {
	t.Run("maximum age", func(t *testing.T) {
		primary, fb := newServer(t, http.StatusServiceUnavailable), newServer(t)
		opts := fastRetries()
		opts.MaxAge = time.Nanosecond
		h := newHarness(t, map[string]*server{"primary": primary, "fb": fb}, opts, 100)
		h.setTargets(withFallbacks(map[string][]string{"primary": {"fb"}}))
		h.accept(false, alert("a", core.StatusFiring, 0))
		waitUntil(t, "the fallback to get the alert", func() bool { return len(fb.received()) == 1 && h.box.Pending() == 0 })
		wantMarked(t, fb.received()[0], "a", "primary", "maximum age reached")
	})
	t.Run("target removed by a reload", func(t *testing.T) {
		primary, fb := newServer(t, http.StatusServiceUnavailable), newServer(t)
		opts := fastRetries()
		opts.RetryBase, opts.RetryCap = time.Hour, time.Hour
		h := newHarness(t, map[string]*server{"primary": primary, "fb": fb}, opts, 100)
		h.setTargets(withFallbacks(map[string][]string{"primary": {"fb"}}))
		h.accept(true, alert("a", core.StatusFiring, 0), alert("b", core.StatusFiring, 0))
		if n := h.box.Pending(); n != 2 {
			t.Fatalf("%d pending after failed first attempts, want 2", n)
		}
		h.setTargets(func(t *core.Target) bool { return t.Name != "primary" })
		h.box.DropTarget("primary")
		waitUntil(t, "the fallback to get both alerts", func() bool { return len(fb.received()) == 2 && h.box.Pending() == 0 })
		got := fb.received()
		slices.SortFunc(got, func(x, y core.EnrichedAlert) int { return compareStrings(x.Alert.Fingerprint, y.Alert.Fingerprint) })
		wantMarked(t, got[0], "a", "primary", "target is gone")
		wantMarked(t, got[1], "b", "primary", "target is gone")
		if dead := h.deadLetters("primary"); len(dead) != 2 || !slices.Equal(dead[0].HandedTo, []string{"fb"}) {
			t.Errorf("dead letters %+v, want two handed to fb", dead)
		}
	})
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestFallbackOfAFallback: a fallback's own dead letter goes to its own
// fallback, marked with the fallback it failed at; the chain's dead
// letters say where each came from and went.
func TestFallbackOfAFallback(t *testing.T) {
	a, b, c := newServer(t, http.StatusBadRequest), newServer(t, http.StatusUnprocessableEntity), newServer(t)
	h := newHarness(t, map[string]*server{"a": a, "b": b, "c": c}, fastRetries(), 100)
	h.setTargets(withFallbacks(map[string][]string{"a": {"b"}, "b": {"c"}}))
	h.accept(false, alert("x", core.StatusFiring, 0))
	waitUntil(t, "c to get the alert", func() bool { return len(c.received()) == 1 && h.box.Pending() == 0 })
	wantMarked(t, c.received()[0], "x", "b", "permanent failure")
	if n := len(b.received()); n != 1 {
		t.Errorf("b got %d requests, want 1", n)
	}
	dead := h.deadLetters("b")
	if len(dead) != 1 || dead[0].FallbackFrom != "a" || !slices.Equal(dead[0].HandedTo, []string{"c"}) {
		t.Errorf("b's dead letters %+v, want one from a handed to c", dead)
	}
	if dead := h.deadLetters("c"); len(dead) != 0 {
		t.Errorf("c has dead letters %+v, want none", dead)
	}
}

// TestFallbackGetsTheResolve: a firing and then its resolve, both dead at
// the primary, reach the fallback in order, so that it closes what it
// opened; a fallback that does not send resolved alerts gets the firing
// only.
func TestFallbackGetsTheResolve(t *testing.T) {
	for _, sendResolved := range []bool{true, false} {
		primary, fb := newServer(t, http.StatusBadRequest), newServer(t)
		h := newHarness(t, map[string]*server{"primary": primary, "fb": fb}, fastRetries(), 100)
		h.setTargets(func(t *core.Target) bool {
			if t.Name == "fb" {
				t.SendResolved = sendResolved
			}
			return withFallbacks(map[string][]string{"primary": {"fb"}})(t)
		})
		h.accept(false, alert("a", core.StatusFiring, 0))
		waitUntil(t, "the firing to reach the fallback", func() bool { return len(fb.received()) == 1 && h.box.Pending() == 0 })
		h.accept(false, alert("a", core.StatusResolved, 0))
		waitUntil(t, "the resolve to be dead-lettered", func() bool { return len(h.deadLetters("primary")) == 2 && h.box.Pending() == 0 })
		want := []string{"a/firing@0"}
		if sendResolved {
			want = append(want, "a/resolved@0")
		}
		if got := states(fb.received()); !slices.Equal(got, want) {
			t.Errorf("send_resolved %v: the fallback got %v, want %v", sendResolved, got, want)
		}
		h.close()
	}
}

// TestHandoverShapes: a notification goes whole to a fallback that groups
// by notification and alert by alert to one that does not, each marked;
// a fallback that does not send resolved alerts gets the firing ones only.
func TestHandoverShapes(t *testing.T) {
	grouped := &core.Target{Name: "chat", GroupBy: core.GroupByNotification, SendResolved: false}
	single := &core.Target{Name: "hook", SendResolved: true}
	o := &Pipeline{src: NewTargetSet([]*core.Target{grouped, single}), logger: slog.New(slog.DiscardHandler)}
	n := &core.Notification{
		Group:      core.Group{GroupKey: "{}:{alertname=\"X\"}", Status: core.StatusFiring, CommonLabels: map[string]string{"alertname": "X"}},
		Alerts:     []core.EnrichedAlert{*alert("f", core.StatusFiring, 0), *alert("r", core.StatusResolved, 0)},
		ReceivedAt: epoch,
	}
	d := &outbox.Delivery{ID: 7, Target: "team", Group: n, DeadReason: "permanent failure"}
	cands := o.handover(d, []string{"chat", "hook", "missing"}, epoch.Add(time.Hour))
	if !slices.Equal(d.FallbackTo, []string{"chat", "hook"}) {
		t.Errorf("the dead letter is noted as handed to %v, want [chat hook]", d.FallbackTo)
	}
	if len(cands) != 3 {
		t.Fatalf("%d fallback deliveries, want 3: one notification to chat, two alerts to hook", len(cands))
	}
	g := cands[0].Delivery
	if g.Target != "chat" || g.Group == nil || len(g.Group.Alerts) != 1 || g.Group.Alerts[0].Alert.Fingerprint != "f" {
		t.Fatalf("chat's delivery %+v, want the notification with its firing alert only", g)
	}
	if g.Group.Group.CommonLabels[LabelFallbackFrom] != "team" || g.Group.Group.CommonAnnotations[AnnotationFallbackReason] != "permanent failure" ||
		g.Group.Alerts[0].Alert.Labels[LabelFallbackFrom] != "team" || !g.Group.ReceivedAt.Equal(epoch) {
		t.Errorf("chat's notification %+v is not marked or lost its arrival", g.Group)
	}
	if own := (&outbox.Delivery{Target: "chat", Group: n}); g.Slot() == own.Slot() {
		t.Errorf("a handed-over notification shares the slot of chat's own notifications of the group")
	}
	for i, fp := range []string{"f", "r"} {
		c := cands[1+i].Delivery
		if c.Target != "hook" || c.Group != nil || c.Alert.Alert.Fingerprint != fp || c.Alert.Alert.Labels[LabelFallbackFrom] != "team" {
			t.Errorf("hook's delivery %d is %+v, want alert %s marked", i, c, fp)
		}
	}
	if _, ok := n.Alerts[0].Alert.Labels[LabelFallbackFrom]; ok || n.Group.CommonLabels[LabelFallbackFrom] != "" {
		t.Errorf("handing over changed the dead letter's own alerts")
	}
}
