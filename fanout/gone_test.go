package fanout

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/am-fanout/am-fanout/core"
)

// destinationPublisher is a fakePublisher whose destination is a secret.
type destinationPublisher struct {
	*fakePublisher
	digest string
}

func (p destinationPublisher) Destination() string { return p.digest }

// TestGoneTargetIsSkippedUntilItsConfigurationChanges: a target that
// answered "gone" gets no further request, from this attempter or the
// next one with the same configuration, whatever the health strategy; a
// changed configuration, or a new secret destination, is tried again.
func TestGoneTargetIsSkippedUntilItsConfigurationChanges(t *testing.T) {
	errGone := core.Gone(404, errors.New("discord error 10015: Unknown Webhook"))
	tests := []struct {
		name  string
		next  func(old *core.Target) *core.Target // the target after a reload
		tried bool                                // the reloaded target gets a request
	}{
		{name: "same configuration stays gone", next: func(old *core.Target) *core.Target {
			return &core.Target{Name: old.Name, Type: old.Type, Key: old.Key, Timeout: old.Timeout, SendResolved: true,
				Publisher: destinationPublisher{&fakePublisher{}, "old-webhook"}}
		}},
		{name: "a changed key is tried again", tried: true, next: func(old *core.Target) *core.Target {
			return &core.Target{Name: old.Name, Type: old.Type, Key: "key-2", Timeout: old.Timeout, SendResolved: true, Publisher: &fakePublisher{}}
		}},
		{name: "a new secret destination is tried again", tried: true, next: func(old *core.Target) *core.Target {
			return &core.Target{Name: old.Name, Type: old.Type, Key: old.Key, Timeout: old.Timeout, SendResolved: true,
				Publisher: destinationPublisher{&fakePublisher{}, "new-webhook"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gone := &GoneTargets{}
			dead := destinationPublisher{&fakePublisher{err: errGone}, "old-webhook"}
			tg := target("dead", dead)
			tg.Key = "key-1"
			at := newTestAttempter(nil, gone)

			if o := at.Attempt(context.Background(), tg, testAlert(), nil); o.Kind != core.OutcomePermanent || !o.Gone {
				t.Fatalf("first attempt: %+v, want a permanent failure that says gone", o)
			}
			if o := at.Attempt(context.Background(), tg, testAlert(), nil); o.Kind != core.OutcomeSkipped || o.SkipReason != core.SkipTargetGone {
				t.Errorf("second attempt: %+v, want skipped target_gone", o)
			}
			if n := dead.calls.Load(); n != 1 {
				t.Errorf("the gone target got %d requests, want 1", n)
			}
			skipped := at.Metrics.targetSkipped.WithLabelValues("dead", "webhook", core.SkipTargetGone)
			if got := testutil.ToFloat64(skipped); got != 1 {
				t.Errorf("am_fanout_target_skipped_total{skip_reason=target_gone} = %v, want 1", got)
			}

			next := tt.next(tg)
			o := newTestAttempter(nil, gone).Attempt(context.Background(), next, testAlert(), nil)
			if tried := o.Kind != core.OutcomeSkipped; tried != tt.tried {
				t.Errorf("after the reload: %+v, want tried %v", o, tt.tried)
			}
			if _, isGone := gone.Lookup(next); isGone == tt.tried {
				t.Errorf("Lookup after the reload: gone %v, want %v", isGone, !tt.tried)
			}
		})
	}
}

func TestGoneTargetsForget(t *testing.T) {
	g := &GoneTargets{}
	tg := target("dead", &fakePublisher{})
	if !g.mark(tg, core.Gone(401, errors.New("invalid token")), testAlert().Alert.StartsAt) {
		t.Fatal("mark of a new gone target reported it as known")
	}
	if g.mark(tg, core.Gone(401, errors.New("invalid token")), testAlert().Alert.StartsAt) {
		t.Error("a second mark reported the target as newly gone")
	}
	if got, ok := g.Lookup(tg); !ok || got.Error != "HTTP 401: target is gone: invalid token" || !got.Since.Equal(testAlert().Alert.StartsAt) {
		t.Errorf("Lookup = %+v, %v", got, ok)
	}
	g.Forget("dead")
	if _, ok := g.Lookup(tg); ok {
		t.Error("a forgotten target is still gone")
	}
}
