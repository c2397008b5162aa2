package core

import (
	"encoding/json"
	"time"
)

// The reasons a target can be skipped instead of tried.
const (
	SkipCircuitOpen      = "circuit_open"
	SkipCircuitHalfOpen  = "circuit_half_open"
	SkipUnhealthy        = "unhealthy"
	SkipDegraded         = "degraded"
	SkipAlreadyDelivered = "already_delivered"
	// SkipTargetGone is a target that reported itself gone
	// (ErrTargetGone); it stays skipped until its configuration changes.
	SkipTargetGone = "target_gone"
)

// SkipReasons lists every reason a target can be skipped for.
func SkipReasons() []string {
	return []string{SkipCircuitOpen, SkipCircuitHalfOpen, SkipUnhealthy, SkipDegraded, SkipAlreadyDelivered, SkipTargetGone}
}

// TargetPublishResult is the outcome of delivering one alert to one target.
type TargetPublishResult struct {
	TargetName string
	TargetType string
	Success    bool
	// Error is the failure, nil on success or skip. It never holds a secret.
	Error    error
	Duration time.Duration
	// StatusCode is the HTTP status the target answered, 0 if none.
	StatusCode int
	Skipped    bool
	SkipReason string
	// Retryable says whether a failure, or a skip for a passing reason,
	// may succeed later.
	Retryable bool
}

// MarshalJSON renders the result for API answers and logs: the error as
// its message and the duration as text such as "12.5ms".
func (r TargetPublishResult) MarshalJSON() ([]byte, error) {
	type out struct {
		Target     string `json:"target"`
		Type       string `json:"type"`
		Result     string `json:"result"`
		Error      string `json:"error,omitempty"`
		StatusCode int    `json:"status_code,omitempty"`
		SkipReason string `json:"skip_reason,omitempty"`
		Retryable  bool   `json:"retryable,omitempty"`
		Duration   string `json:"duration"`
	}
	o := out{
		Target: r.TargetName, Type: r.TargetType, Result: r.Outcome(),
		StatusCode: r.StatusCode, SkipReason: r.SkipReason,
		Retryable: r.Retryable && !r.Success, Duration: r.Duration.String(),
	}
	if r.Error != nil {
		o.Error = r.Error.Error()
	}
	return json.Marshal(o)
}

// Outcome names the result: "success", "failure" or "skipped".
func (r *TargetPublishResult) Outcome() string {
	switch {
	case r.Skipped:
		return "skipped"
	case r.Success:
		return "success"
	default:
		return "failure"
	}
}

// ParallelPublishResult is the outcome of delivering one alert to every
// selected target.
type ParallelPublishResult struct {
	TotalTargets     int                   `json:"total_targets"`
	SuccessCount     int                   `json:"success_count"`
	FailureCount     int                   `json:"failure_count"`
	SkippedCount     int                   `json:"skipped_count"`
	Results          []TargetPublishResult `json:"results"`
	Duration         time.Duration         `json:"-"`
	IsPartialSuccess bool                  `json:"is_partial_success"`
}

// NewParallelPublishResult aggregates per-target results.
func NewParallelPublishResult(results []TargetPublishResult, d time.Duration) *ParallelPublishResult {
	r := &ParallelPublishResult{TotalTargets: len(results), Results: results, Duration: d}
	for i := range results {
		switch {
		case results[i].Skipped:
			r.SkippedCount++
		case results[i].Success:
			r.SuccessCount++
		default:
			r.FailureCount++
		}
	}
	r.IsPartialSuccess = r.SuccessCount > 0 && r.FailureCount > 0
	return r
}

// Success reports whether at least one target succeeded.
func (r *ParallelPublishResult) Success() bool { return r.SuccessCount > 0 }

// AllSucceeded reports whether every target succeeded.
func (r *ParallelPublishResult) AllSucceeded() bool {
	return r.TotalTargets > 0 && r.SuccessCount == r.TotalTargets
}

// AllFailed reports whether every target failed (none skipped or succeeded).
func (r *ParallelPublishResult) AllFailed() bool {
	return r.TotalTargets > 0 && r.FailureCount == r.TotalTargets
}

// SuccessRate is the share of targets that succeeded, 0 with no targets.
func (r *ParallelPublishResult) SuccessRate() float64 {
	if r.TotalTargets == 0 {
		return 0
	}
	return float64(r.SuccessCount) / float64(r.TotalTargets)
}

// Delivered reports whether the alert reached at least one target now or
// earlier (an already_delivered skip counts), or had no target to reach.
func (r *ParallelPublishResult) Delivered() bool {
	if r.TotalTargets == 0 || r.SuccessCount > 0 {
		return true
	}
	for i := range r.Results {
		if r.Results[i].SkipReason == SkipAlreadyDelivered {
			return true
		}
	}
	return false
}

// NeedsRetry reports whether the alert reached no target and at least one
// target failed or was skipped for a reason that may pass, so the sender
// should try again.
func (r *ParallelPublishResult) NeedsRetry() bool {
	if r.Delivered() {
		return false
	}
	for i := range r.Results {
		if r.Results[i].Retryable {
			return true
		}
	}
	return false
}

// Result names the aggregate outcome for metrics and logs: "success",
// "partial_success" or "failure".
func (r *ParallelPublishResult) Result() string {
	switch {
	case r.IsPartialSuccess:
		return "partial_success"
	case r.Delivered() && r.FailureCount == 0:
		return "success"
	default:
		return "failure"
	}
}

// MarshalJSON adds the duration as text to the JSON form.
func (r ParallelPublishResult) MarshalJSON() ([]byte, error) {
	type plain ParallelPublishResult
	return json.Marshal(struct {
		plain
		Duration string `json:"duration"`
	}{plain(r), r.Duration.String()})
}
