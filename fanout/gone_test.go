package fanout

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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
// answered "gone" gets no further request, from this dispatcher or the
// next one with the same configuration, whatever the health strategy; a
// changed configuration, or a new secret destination, is tried again.
func TestGoneTargetIsSkippedUntilItsConfigurationChanges(t *testing.T) {
	errGone := core.Gone(404, errors.New("discord error 10015: Unknown Webhook"))
	tests := []struct {
		name     string
		strategy core.HealthStrategy
		next     func(old *core.Target) *core.Target // the target after a reload
		tried    bool                                // the reloaded target gets a request
	}{
		{name: "same configuration stays gone", next: func(old *core.Target) *core.Target {
			return &core.Target{Name: old.Name, Type: old.Type, Key: old.Key, Timeout: old.Timeout, SendResolved: true,
				Publisher: destinationPublisher{&fakePublisher{}, "old-webhook"}}
		}},
		{name: "same configuration stays gone with publish_to_all", strategy: core.StrategyPublishToAll, next: func(old *core.Target) *core.Target {
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
			other := &fakePublisher{}
			ts := []*core.Target{target("dead", dead), target("other", other)}
			ts[0].Key = "key-1"
			opts := DefaultParallelPublishOptions()
			if tt.strategy != "" {
				opts.HealthStrategy = tt.strategy
			}
			reg := prometheus.NewRegistry()
			d := newTestDispatcher(ts, Dependencies{Gone: gone, Metrics: NewMetrics(reg)}, opts)

			res, _ := d.PublishToHealthy(context.Background(), testAlert())
			if r := res.Results[0]; r.Success || r.Skipped || r.Retryable || !core.IsGone(r.Error) {
				t.Fatalf("first attempt: %+v, want a permanent failure that says gone", r)
			}
			res, _ = d.PublishToHealthy(context.Background(), testAlert())
			if r := res.Results[0]; !r.Skipped || r.SkipReason != core.SkipTargetGone || r.Retryable {
				t.Errorf("second attempt: %+v, want skipped target_gone, not retryable", r)
			}
			if n := dead.calls.Load(); n != 1 {
				t.Errorf("the gone target got %d requests, want 1", n)
			}
			if n := other.calls.Load(); n != 2 || !res.Results[1].Success {
				t.Errorf("the other target got %d requests (last %+v), want 2 and delivered", n, res.Results[1])
			}
			skipped := d.metrics.targetSkipped.WithLabelValues("dead", "webhook", core.SkipTargetGone)
			if got := testutil.ToFloat64(skipped); got != 1 {
				t.Errorf("am_fanout_target_skipped_total{skip_reason=target_gone} = %v, want 1", got)
			}

			next := tt.next(ts[0])
			d2 := newTestDispatcher([]*core.Target{next}, Dependencies{Gone: gone}, opts)
			res, _ = d2.PublishToMultiple(context.Background(), testAlert(), []*core.Target{next})
			if tried := !res.Results[0].Skipped; tried != tt.tried {
				t.Errorf("after the reload: %+v, want tried %v", res.Results[0], tt.tried)
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
