package fanout

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/am-fanout/am-fanout/breaker"
	"github.com/am-fanout/am-fanout/core"
)

// groupPublisher records the notifications it is given.
type groupPublisher struct {
	fakePublisher
	groups []*core.Notification
}

func (p *groupPublisher) PublishGroup(_ context.Context, n *core.Notification) error {
	p.groups = append(p.groups, n)
	return p.err
}

// TestAttemptClassifiesOnce: the outcome of one attempt says what the
// target's answer means, and health, metrics and the breaker read the
// same outcome.
func TestAttemptClassifiesOnce(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		kind       core.OutcomeKind
		throttled  bool
		retryAfter time.Duration
		recorded   bool // health sees it
		metric     string
	}{
		{"delivered", nil, core.OutcomeDelivered, false, 0, true, "success"},
		{"server error retries", core.Retryable(503, 0, errors.New("unavailable")), core.OutcomeRetry, false, 0, true, "failure"},
		{"429 is throttling, with its wait", core.Retryable(429, 2*time.Second, errors.New("slow down")), core.OutcomeRetry, true, 2 * time.Second, true, "failure"},
		{"400 is permanent", core.Permanent(400, errors.New("bad payload")), core.OutcomePermanent, false, 0, true, "failure"},
		{"a slow target times out and retries", context.DeadlineExceeded, core.OutcomeRetry, false, 0, true, "failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			at := newTestAttempter(rec, nil)
			tg := target("t1", &fakePublisher{err: tt.err})
			o := at.Attempt(context.Background(), tg, testAlert(), nil)
			if o.Kind != tt.kind || o.Throttled != tt.throttled || o.RetryAfter != tt.retryAfter {
				t.Errorf("outcome = %v throttled %v retry after %v, want %v %v %v", o.Kind, o.Throttled, o.RetryAfter, tt.kind, tt.throttled, tt.retryAfter)
			}
			if got, ok := rec.get("t1"); ok != tt.recorded || (ok && got.Kind != o.Kind) {
				t.Errorf("health recorded %+v (%v), want the attempt's outcome", got, ok)
			}
			var n float64
			if tt.metric == "success" {
				n = testutil.ToFloat64(at.Metrics.targetSuccess.WithLabelValues("t1", "webhook"))
			} else {
				n = testutil.ToFloat64(at.Metrics.targetFailure.WithLabelValues("t1", "webhook", core.ErrorType(tt.err)))
			}
			if n != 1 {
				t.Errorf("%s counter = %v, want 1", tt.metric, n)
			}
		})
	}
}

func TestAttemptThroughBreaker(t *testing.T) {
	t.Run("an open breaker is a skip and no request", func(t *testing.T) {
		p := &fakePublisher{}
		tg := target("t1", p)
		tg.Circuit = rejectingBreaker{core.SkipCircuitOpen}
		rec := &recorder{}
		o := newTestAttempter(rec, nil).Attempt(context.Background(), tg, testAlert(), nil)
		if o.Kind != core.OutcomeSkipped || o.SkipReason != core.SkipCircuitOpen || p.calls.Load() != 0 {
			t.Errorf("outcome %+v after %d requests, want a circuit_open skip and none", o, p.calls.Load())
		}
		if _, ok := rec.get("t1"); ok {
			t.Error("a skip reached health: it says nothing about the target")
		}
	})
	t.Run("throttling never trips the breaker", func(t *testing.T) {
		tg := target("t1", &fakePublisher{err: core.Retryable(429, time.Second, errors.New("slow down"))})
		b := breaker.New("t1", core.BreakerSettings{Failures: 1, OpenFor: time.Hour}, nil)
		tg.Circuit = b
		at := newTestAttempter(nil, nil)
		for range 5 {
			at.Attempt(context.Background(), tg, testAlert(), nil)
		}
		if b.State() != breaker.Closed {
			t.Errorf("breaker %v after five 429s, want closed", b.State())
		}
	})
}

func TestAttemptSendsNotificationsToGroupPublishers(t *testing.T) {
	n := &core.Notification{Alerts: []core.EnrichedAlert{*testAlert()}}
	gp := &groupPublisher{}
	if o := newTestAttempter(nil, nil).Attempt(context.Background(), target("chat", gp), nil, n); o.Kind != core.OutcomeDelivered || len(gp.groups) != 1 || gp.calls.Load() != 0 {
		t.Errorf("outcome %+v, %d groups and %d alerts sent; want the notification as one group", o, len(gp.groups), gp.calls.Load())
	}
	o := newTestAttempter(nil, nil).Attempt(context.Background(), target("plain", &fakePublisher{}), nil, n)
	if o.Kind != core.OutcomePermanent {
		t.Errorf("a publisher without a group form: %+v, want a permanent failure", o)
	}
}
