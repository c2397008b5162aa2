package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/am-fanout/am-fanout/core"
)

// The outcomes of one step of a test send.
const (
	TestDelivered = "delivered"
	TestRetryable = "retryable_failure"
	TestPermanent = "permanent_failure"
	// TestSkipped is a step the target would never receive: a resolve to
	// a target with send_resolved off.
	TestSkipped = "skipped"
)

// TestSender sends a test notification, then its resolve, to one running
// target through its publisher, bypassing outbox and breaker.
type TestSender interface {
	SendTest(ctx context.Context, target string) (*TestReport, error)
}

// TestReport is the outcome of a test send to one target. It never holds
// a secret.
type TestReport struct {
	Target string `json:"target"`
	Type   string `json:"type"`
	// ID marks this test send's alerts (their test_id label), so that
	// they are unique and no dedup window swallows them.
	ID string `json:"test_id"`
	// Delivered says that no step failed.
	Delivered bool `json:"delivered"`
	// Note says what differs from a real delivery, such as matchers that
	// would not select the test alert.
	Note  string     `json:"note,omitempty"`
	Steps []TestStep `json:"steps"`
}

// TestStep is one delivery of a test send: one alert, firing or resolved.
type TestStep struct {
	Alert       string           `json:"alert"`
	Fingerprint string           `json:"fingerprint"`
	Status      core.AlertStatus `json:"status"`
	// Outcome is TestDelivered, TestRetryable, TestPermanent or
	// TestSkipped.
	Outcome string `json:"outcome"`
	// StatusCode is the HTTP status of a failure, 0 when there was none
	// or it succeeded.
	StatusCode int    `json:"status_code,omitempty"`
	RetryAfter string `json:"retry_after,omitempty"`
	// Error is the failure, with the vendor's answer when it gave one, or
	// why the step was skipped.
	Error    string `json:"error,omitempty"`
	Duration string `json:"duration"`
}

// UnknownTargetError is a test send to a target that is not configured.
type UnknownTargetError struct {
	Name  string
	Known []string
}

func (e *UnknownTargetError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("no target named %q: no targets are configured", e.Name)
	}
	return fmt.Sprintf("no target named %q; the targets are: %s", e.Name, strings.Join(e.Known, ", "))
}

// TestSendHandler serves POST /api/v1/targets/{name}/test: it sends a
// test notification and its resolve to the target now and answers the
// report, with 200 when every step was delivered, 502 when one failed and
// 404 for an unknown target. Every request is logged with who asked.
func TestSendHandler(s TestSender, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		logger.Info("test send requested", "remote", r.RemoteAddr, "target", name)
		rep, err := s.SendTest(r.Context(), name)
		if unknown, ok := errors.AsType[*UnknownTargetError](err); ok {
			writeJSON(rw, http.StatusNotFound, errorBody("%v", unknown))
			return
		}
		if err != nil {
			writeJSON(rw, http.StatusInternalServerError, errorBody("test send to %q: %v", name, err))
			return
		}
		code := http.StatusOK
		if !rep.Delivered {
			code = http.StatusBadGateway
		}
		writeJSON(rw, code, rep)
	})
}
