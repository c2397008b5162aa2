// Package breaker puts one circuit breaker in front of every target, so a
// dead target is skipped at once instead of costing every alert a timeout.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/sony/gobreaker/v2"

	"github.com/am-fanout/am-fanout/core"
)

// State is the state of a breaker. Its numeric value is the value of the
// metric am_fanout_breaker_state: 0 closed, 1 half-open, 2 open.
type State int

// The states of a breaker.
const (
	// Closed lets every delivery through and counts failures.
	Closed State = 0
	// HalfOpen lets a limited number of trial deliveries through.
	HalfOpen State = 1
	// Open rejects every delivery until its open period has passed.
	Open State = 2
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	default:
		return fmt.Sprintf("state(%d)", int(s))
	}
}

func fromGobreaker(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return HalfOpen
	case gobreaker.StateOpen:
		return Open
	default:
		return Closed
	}
}

// Counts are a breaker's counters since its last state change.
type Counts struct {
	Requests             uint32
	TotalSuccesses       uint32
	TotalFailures        uint32
	TotalExclusions      uint32
	ConsecutiveSuccesses uint32
	ConsecutiveFailures  uint32
}

// Breaker is the circuit breaker of one target. It reads each attempt's
// outcome: failures that say the target is down (core.Outcome.Failing)
// count against it; deliveries and permanent failures count as successes,
// since the target answered and the fault is in the configuration or the
// alert; throttling (the target is up and asks for a wait), cancellation
// and skips do not count at all.
type Breaker struct {
	name string
	cb   *gobreaker.CircuitBreaker[struct{}]
	// retired silences onChange once a Set has replaced or dropped the
	// breaker, so deliveries still running on it cannot report a state
	// that is no longer the target's.
	retired atomic.Bool
}

// judged carries an attempt's outcome through gobreaker, which sees
// errors only; nil stands for a success.
type judged struct{ o core.Outcome }

func (j *judged) Error() string { return j.o.Kind.String() }

// New returns a closed breaker for the target name. onChange, if not nil,
// is called on every state change with the target's name; it runs while
// the breaker holds its lock, so it must not call back into the breaker.
func New(name string, s core.BreakerSettings, onChange func(name string, from, to State)) *Breaker {
	// gobreaker hands over the error Run's function returned, unwrapped;
	// a type assertion, unlike errors.As, allocates nothing for it.
	outcome := func(err error) *core.Outcome {
		if j, ok := err.(*judged); ok {
			return &j.o
		}
		return nil
	}
	st := gobreaker.Settings{
		Name:        name,
		MaxRequests: s.HalfOpenRequests,
		Timeout:     s.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= s.Failures
		},
		IsSuccessful: func(err error) bool {
			o := outcome(err)
			return o == nil || !o.Failing()
		},
		IsExcluded: func(err error) bool {
			o := outcome(err)
			return o != nil && (o.Throttled || o.Kind == core.OutcomeCancelled || o.Kind == core.OutcomeSkipped)
		},
	}
	b := &Breaker{name: name}
	if onChange != nil {
		st.OnStateChange = func(name string, from, to gobreaker.State) {
			if !b.retired.Load() {
				onChange(name, fromGobreaker(from), fromGobreaker(to))
			}
		}
	}
	b.cb = gobreaker.NewCircuitBreaker[struct{}](st)
	return b
}

// Run makes the attempt unless the breaker rejects it, in which case the
// outcome is a skip for circuit_open or circuit_half_open and attempt is
// not called. Otherwise it returns attempt's outcome unchanged.
func (b *Breaker) Run(ctx context.Context, attempt func(context.Context) core.Outcome) core.Outcome {
	var got core.Outcome
	ran := false
	_, err := b.cb.Execute(func() (struct{}, error) {
		ran = true
		got = attempt(ctx)
		if got.Kind == core.OutcomeDelivered {
			return struct{}{}, nil
		}
		return struct{}{}, &judged{got}
	})
	switch {
	case ran:
		return got
	case errors.Is(err, gobreaker.ErrTooManyRequests):
		return core.Skip(core.SkipCircuitHalfOpen)
	default:
		return core.Skip(core.SkipCircuitOpen)
	}
}

// Name returns the name of the target the breaker guards.
func (b *Breaker) Name() string { return b.name }

// State returns the breaker's current state; an open breaker whose open
// period has passed reports half-open.
func (b *Breaker) State() State { return fromGobreaker(b.cb.State()) }

// Counts returns the breaker's counters since its last state change.
func (b *Breaker) Counts() Counts {
	c := b.cb.Counts()
	return Counts{
		Requests:             c.Requests,
		TotalSuccesses:       c.TotalSuccesses,
		TotalFailures:        c.TotalFailures,
		TotalExclusions:      c.TotalExclusions,
		ConsecutiveSuccesses: c.ConsecutiveSuccesses,
		ConsecutiveFailures:  c.ConsecutiveFailures,
	}
}
