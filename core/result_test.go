package core

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParallelPublishResultHelpers(t *testing.T) {
	ok := TargetPublishResult{TargetName: "a", Success: true}
	fail := TargetPublishResult{TargetName: "b", Error: errors.New("boom")}
	retry := TargetPublishResult{TargetName: "c", Error: errors.New("503"), Retryable: true}
	open := TargetPublishResult{TargetName: "d", Skipped: true, SkipReason: SkipCircuitOpen, Retryable: true}
	dup := TargetPublishResult{TargetName: "e", Skipped: true, SkipReason: SkipAlreadyDelivered}
	tests := []struct {
		name                                      string
		results                                   []TargetPublishResult
		success, allSucceeded, allFailed, partial bool
		rate                                      float64
		delivered, needsRetry                     bool
		result                                    string
	}{
		{"no targets", nil, false, false, false, false, 0, true, false, "success"},
		{"all succeed", []TargetPublishResult{ok, ok}, true, true, false, false, 1, true, false, "success"},
		{"partial", []TargetPublishResult{ok, fail}, true, false, false, true, 0.5, true, false, "partial_success"},
		{"all fail permanent", []TargetPublishResult{fail, fail}, false, false, true, false, 0, false, false, "failure"},
		{"all fail retryable", []TargetPublishResult{fail, retry}, false, false, true, false, 0, false, true, "failure"},
		{"breaker open only", []TargetPublishResult{open}, false, false, false, false, 0, false, true, "failure"},
		{"already delivered", []TargetPublishResult{dup, retry}, false, false, false, false, 0, true, false, "failure"},
		{"already delivered only", []TargetPublishResult{dup}, false, false, false, false, 0, true, false, "success"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewParallelPublishResult(tt.results, time.Millisecond)
			got := []any{r.Success(), r.AllSucceeded(), r.AllFailed(), r.IsPartialSuccess, r.SuccessRate(), r.Delivered(), r.NeedsRetry(), r.Result()}
			want := []any{tt.success, tt.allSucceeded, tt.allFailed, tt.partial, tt.rate, tt.delivered, tt.needsRetry, tt.result}
			names := []string{"Success", "AllSucceeded", "AllFailed", "IsPartialSuccess", "SuccessRate", "Delivered", "NeedsRetry", "Result"}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s() = %v, want %v", names[i], got[i], want[i])
				}
			}
		})
	}
}

func TestTargetPublishResultJSON(t *testing.T) {
	r := TargetPublishResult{TargetName: "pd", TargetType: "pagerduty", Error: Retryable(503, 0, errors.New("down")),
		StatusCode: 503, Retryable: true, Duration: 1500 * time.Microsecond}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"target":"pd"`, `"result":"failure"`, `"error":"HTTP 503: down"`, `"status_code":503`, `"retryable":true`, `"duration":"1.5ms"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
}

func TestErrorType(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{Retryable(429, time.Second, errors.New("slow down")), ErrorTypeRateLimit},
		{Retryable(502, 0, errors.New("bad gateway")), ErrorTypeServer},
		{Permanent(404, errors.New("not found")), ErrorTypeClient},
		{ErrContextTimeout, ErrorTypeTimeout},
		{ErrContextCancelled, ErrorTypeCancelled},
		{errors.New("template failed"), ErrorTypeOther},
	}
	for _, tt := range tests {
		if got := ErrorType(tt.err); got != tt.want {
			t.Errorf("ErrorType(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
