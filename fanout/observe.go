package fanout

import (
	"context"

	"github.com/am-fanout/am-fanout/core"
)

// DeliveryObserver is told each delivery's result as soon as that delivery
// ends, before the fan-out it belongs to is over. It runs on the fan-out's
// worker and must return quickly.
type DeliveryObserver func(t *core.Target, r core.TargetPublishResult)

type observerKey struct{}

// WithDeliveryObserver returns a context whose fan-outs tell obs every
// delivery's result as it ends, breaker rejections included; skips for
// health or dedup, decided before any attempt, are only in the fan-out's
// result. The outbox uses it to record a fast
// target's success without waiting for a slow one.
func WithDeliveryObserver(ctx context.Context, obs DeliveryObserver) context.Context {
	return context.WithValue(ctx, observerKey{}, obs)
}

func observerFrom(ctx context.Context) DeliveryObserver {
	obs, _ := ctx.Value(observerKey{}).(DeliveryObserver)
	return obs
}
