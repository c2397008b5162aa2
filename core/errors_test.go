package core

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestGoneIsAPermanentFailureThatSaysGone(t *testing.T) {
	cause := errors.New("Unknown Webhook")
	tests := []struct {
		name      string
		err       error
		gone      bool
		retryable bool
		status    int
	}{
		{name: "gone", err: Gone(404, cause), gone: true, status: 404},
		{name: "gone, wrapped with context", err: fmt.Errorf("target %q: %w", "d", Gone(401, cause)), gone: true, status: 401},
		{name: "permanent is not gone", err: Permanent(400, cause), status: 400},
		{name: "retryable is not gone", err: Retryable(503, 0, cause), retryable: true, status: 503},
		{name: "nil is not gone", err: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsGone(tt.err); got != tt.gone {
				t.Errorf("IsGone(%v) = %v, want %v", tt.err, got, tt.gone)
			}
			if got := IsRetryable(tt.err); got != tt.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.retryable)
			}
			if got := StatusCode(tt.err); got != tt.status {
				t.Errorf("StatusCode(%v) = %d, want %d", tt.err, got, tt.status)
			}
			if tt.err != nil && !errors.Is(tt.err, cause) {
				t.Errorf("%v no longer wraps its cause", tt.err)
			}
		})
	}
}

// TestClassifyingASuccessAllocatesNothing: every delivered attempt is
// classified, so a nil error is answered before the targets errors.As
// needs are made.
func TestClassifyingASuccessAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		if o := Classify(nil, false, time.Millisecond); o.Kind != OutcomeDelivered {
			t.Fatalf("a nil error is classified %v", o.Kind)
		}
	}); n != 0 {
		t.Errorf("classifying a success allocates %v times, want 0", n)
	}
}
