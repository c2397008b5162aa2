package main

import (
	"context"
	"time"

	"github.com/am-fanout/am-fanout/receiver"
)

// SendTest implements receiver.TestSender with the running target's
// publisher and the enrichment rules in force. Outbox, breaker, health
// and metrics never see it.
func (s *server) SendTest(ctx context.Context, name string) (*receiver.TestReport, error) {
	t, err := targetNamed(s.targets.Targets(), name)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	id := newTestID(now)
	alerts := testAlerts(defaultTestMessage(), id, s.enricher.Load(), now)
	rep := newTestReport(t, id, alerts)
	secrets := withURLParts(secretsOf(t.Spec))
	// A test that fired is resolved even when the caller hangs up; each
	// step stays bounded by the target's timeout.
	ctx = context.WithoutCancel(ctx)
	for _, a := range alerts {
		addStep(rep, deliverTest(ctx, t, t.Publisher, a, secrets))
	}
	s.logger.Info("test send done", "target", name, "test_id", id, "delivered", rep.Delivered)
	return rep, nil
}
