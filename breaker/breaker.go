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

// Breaker is the circuit breaker of one target. Retryable failures (5xx,
// 429, timeouts, connection errors) count against it; permanent failures
// count as successes, since the target answered and the fault is in the
// configuration or the alert; deliveries cut short by the caller's
// cancellation do not count at all.
type Breaker struct {
	name string
	cb   *gobreaker.CircuitBreaker[struct{}]
	// retired silences onChange once a Set has replaced or dropped the
	// breaker, so deliveries still running on it cannot report a state
	// that is no longer the target's.
	retired atomic.Bool
}

// New returns a closed breaker for the target name. onChange, if not nil,
// is called on every state change with the target's name; it runs while
// the breaker holds its lock, so it must not call back into the breaker.
func New(name string, s core.BreakerSettings, onChange func(name string, from, to State)) *Breaker {
	st := gobreaker.Settings{
		Name:        name,
		MaxRequests: s.HalfOpenRequests,
		Timeout:     s.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= s.Failures
		},
		IsSuccessful: func(err error) bool {
			return err == nil || !core.IsRetryable(err)
		},
		// Cancellation says nothing about the target, and throttling
		// says it is up: neither counts for or against it.
		IsExcluded: func(err error) bool {
			var c *cancelled
			return errors.As(err, &c) || core.IsThrottled(err)
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

// cancelled marks an error caused by the caller's cancellation, which the
// breaker excludes: it says nothing about the target. IsExcluded sees only
// the error, so Execute attaches the verdict it makes with the ctx.
type cancelled struct{ err error }

func (c *cancelled) Error() string { return c.err.Error() }
func (c *cancelled) Unwrap() error { return c.err }

// Execute runs deliver unless the breaker rejects it, in which case it
// returns an error wrapping core.ErrCircuitOpen or core.ErrCircuitHalfOpen
// without calling deliver. Otherwise it returns deliver's error unchanged.
func (b *Breaker) Execute(ctx context.Context, deliver func(context.Context) error) error {
	ran := false
	_, err := b.cb.Execute(func() (struct{}, error) {
		ran = true
		err := deliver(ctx)
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return struct{}{}, &cancelled{err}
		}
		return struct{}{}, err
	})
	if ran {
		var c *cancelled
		if errors.As(err, &c) {
			return c.err
		}
		return err
	}
	if errors.Is(err, gobreaker.ErrTooManyRequests) {
		return fmt.Errorf("target %s: %w", b.name, core.ErrCircuitHalfOpen)
	}
	return fmt.Errorf("target %s: %w", b.name, core.ErrCircuitOpen)
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
