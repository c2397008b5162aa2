package core

import (
	"context"
	"errors"
	"time"
)

// OutcomeKind is what a delivery attempt came to.
type OutcomeKind uint8

// The kinds of outcome.
const (
	// OutcomeDelivered: the target took the delivery.
	OutcomeDelivered OutcomeKind = iota
	// OutcomeRetry: it failed and may succeed later, after RetryAfter if
	// the target asked for a wait.
	OutcomeRetry
	// OutcomePermanent: it failed and will fail again unchanged.
	OutcomePermanent
	// OutcomeSkipped: it was not tried, for SkipReason.
	OutcomeSkipped
	// OutcomeCancelled: the caller cut it short; it says nothing about
	// the target.
	OutcomeCancelled
)

// String names the kind, as in logs and the API.
func (k OutcomeKind) String() string {
	switch k {
	case OutcomeDelivered:
		return "delivered"
	case OutcomeRetry:
		return "retry"
	case OutcomePermanent:
		return "permanent"
	case OutcomeSkipped:
		return "skipped"
	default:
		return "cancelled"
	}
}

// Outcome is one delivery attempt's result, classified once where the
// publisher's error is seen; the breaker, health, the outbox, metrics and
// the webhook answer read it and never look at the error again.
type Outcome struct {
	Kind OutcomeKind
	// Err is the failure, nil when delivered or skipped. It never holds a
	// secret.
	Err error
	// StatusCode is the HTTP status the target answered, 0 if none.
	StatusCode int
	// RetryAfter is the wait the target asked for (Retry-After), 0 if
	// none.
	RetryAfter time.Duration
	// Throttled says the target refused for its rate limit (429): it is
	// up, so neither its breaker nor its health count the refusal.
	Throttled bool
	// Gone says the target reported itself gone for good (ErrTargetGone).
	Gone bool
	// SkipReason says why a skipped delivery was not tried.
	SkipReason string
	Duration   time.Duration
}

// Classify decides the outcome of a publisher's error. cancelled says the
// caller's context ended the attempt (shutdown), as opposed to its own
// timeout.
func Classify(err error, cancelled bool, took time.Duration) Outcome {
	o := Outcome{Duration: took, Err: err, StatusCode: StatusCode(err), RetryAfter: RetryAfter(err)}
	switch {
	case err == nil:
		o.Kind = OutcomeDelivered
	case cancelled && (errors.Is(err, context.Canceled) || errors.Is(err, ErrContextCancelled)):
		o.Kind = OutcomeCancelled
	case errors.Is(err, ErrCircuitOpen):
		o = Outcome{Kind: OutcomeSkipped, SkipReason: SkipCircuitOpen}
	case errors.Is(err, ErrCircuitHalfOpen):
		o = Outcome{Kind: OutcomeSkipped, SkipReason: SkipCircuitHalfOpen}
	case IsThrottled(err):
		o.Kind, o.Throttled = OutcomeRetry, true
	case IsRetryable(err), errors.Is(err, ErrContextTimeout):
		o.Kind = OutcomeRetry
	default:
		o.Kind, o.Gone = OutcomePermanent, IsGone(err)
	}
	return o
}

// Skip is the outcome of a delivery not tried for reason.
func Skip(reason string) Outcome { return Outcome{Kind: OutcomeSkipped, SkipReason: reason} }

// Failing reports whether the outcome says the target is down, slow or
// overloaded: a retryable failure that is not throttling.
func (o *Outcome) Failing() bool { return o.Kind == OutcomeRetry && !o.Throttled }

// Answered reports whether the target was reached and answered, even if
// it refused: a delivery, a throttle or a permanent failure with a status.
func (o *Outcome) Answered() bool {
	return o.Kind == OutcomeDelivered || o.Throttled || (o.Kind == OutcomePermanent && o.StatusCode != 0)
}

// Result is the outcome as the result of target t in a
// ParallelPublishResult.
func (o *Outcome) Result(t *Target) TargetPublishResult {
	r := TargetPublishResult{
		TargetName: t.Name, TargetType: t.Type, Duration: o.Duration,
		Error: o.Err, StatusCode: o.StatusCode,
	}
	switch o.Kind {
	case OutcomeDelivered:
		r.Success = true
	case OutcomeSkipped:
		r.Skipped, r.SkipReason = true, o.SkipReason
		r.Retryable = o.SkipReason != SkipAlreadyDelivered && o.SkipReason != SkipTargetGone
	case OutcomeRetry, OutcomeCancelled:
		r.Retryable = true
	}
	return r
}
