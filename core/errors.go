package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Sentinel errors of the fan-out.
var (
	ErrInvalidInput     = errors.New("invalid input: alert nil or no targets")
	ErrAllTargetsFailed = errors.New("all targets failed")
	ErrContextTimeout   = errors.New("fan-out deadline exceeded")
	ErrContextCancelled = errors.New("fan-out cancelled")
	ErrNoHealthyTargets = errors.New("no healthy targets available")
	ErrNoEnabledTargets = errors.New("no enabled targets available")
	// ErrTargetGone says the target no longer exists or no longer lets
	// am-fanout in (a deleted webhook, a revoked token): every delivery
	// would fail alike until the target's configuration changes.
	ErrTargetGone = errors.New("target is gone")
)

// DeliveryError is a failed delivery, classified for retries and breakers.
type DeliveryError struct {
	// StatusCode is the HTTP status the target answered, 0 if none.
	StatusCode int
	// Retryable says whether the same delivery may succeed later.
	Retryable bool
	// RetryAfter is how long the target asked us to wait, 0 if it did not.
	RetryAfter time.Duration
	// Err is the underlying cause; it never holds a secret.
	Err error
}

func (e *DeliveryError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("HTTP %d: %v", e.StatusCode, e.Err)
	}
	return e.Err.Error()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Retryable wraps err as a delivery failure that may succeed later.
func Retryable(status int, retryAfter time.Duration, err error) error {
	return &DeliveryError{StatusCode: status, Retryable: true, RetryAfter: retryAfter, Err: err}
}

// Permanent wraps err as a delivery failure that will fail again unchanged.
func Permanent(status int, err error) error {
	return &DeliveryError{StatusCode: status, Err: err}
}

// Gone wraps err as a permanent failure that says the target is gone.
func Gone(status int, err error) error {
	return Permanent(status, fmt.Errorf("%w: %w", ErrTargetGone, err))
}

// IsGone reports whether err says the target is gone.
func IsGone(err error) bool { return errors.Is(err, ErrTargetGone) }

// IsRetryable reports whether a failed delivery may succeed if tried again.
// Errors that are not DeliveryErrors count as retryable when they are
// timeouts or network errors, permanent otherwise.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.Retryable
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// IsThrottled reports whether the target refused the delivery for its
// rate limit (429): it is up and asks to be tried later, so the failure
// says nothing against its health or its breaker.
func IsThrottled(err error) bool { return StatusCode(err) == 429 }

// StatusCode returns the HTTP status carried by err, 0 if none.
func StatusCode(err error) int {
	if err == nil {
		// Before the target errors.As needs, which escapes: every
		// delivered attempt asks.
		return 0
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.StatusCode
	}
	return 0
}

// RetryAfter returns the wait the target asked for, 0 if none.
func RetryAfter(err error) time.Duration {
	if err == nil {
		return 0
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.RetryAfter
	}
	return 0
}

// The error types that label failure metrics.
const (
	ErrorTypeTimeout    = "timeout"
	ErrorTypeCancelled  = "cancelled"
	ErrorTypeConnection = "connection"
	ErrorTypeRateLimit  = "rate_limited"
	ErrorTypeServer     = "server_error"
	ErrorTypeClient     = "client_error"
	ErrorTypeOther      = "other"
)

// ErrorTypes lists every value ErrorType returns.
func ErrorTypes() []string {
	return []string{ErrorTypeTimeout, ErrorTypeCancelled, ErrorTypeConnection, ErrorTypeRateLimit,
		ErrorTypeServer, ErrorTypeClient, ErrorTypeOther}
}

// ErrorType classifies err into one of the ErrorType constants, a bounded
// set fit for a metric label.
func ErrorType(err error) string {
	switch code := StatusCode(err); {
	case code == 429:
		return ErrorTypeRateLimit
	case code >= 500:
		return ErrorTypeServer
	case code >= 400:
		return ErrorTypeClient
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrContextTimeout):
		return ErrorTypeTimeout
	case errors.Is(err, context.Canceled), errors.Is(err, ErrContextCancelled):
		return ErrorTypeCancelled
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return ErrorTypeTimeout
		}
		return ErrorTypeConnection
	}
	return ErrorTypeOther
}

// Errors a circuit breaker returns instead of running a delivery.
var (
	ErrCircuitOpen     = errors.New("circuit breaker is open")
	ErrCircuitHalfOpen = errors.New("circuit breaker is half-open and at its trial limit")
)
