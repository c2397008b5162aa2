package health

import (
	"fmt"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// health derives the target's status from its record at now: consecutive
// failures first, then the window's success ratio and latency, and a
// recheck for a target that has been left alone long enough.
func (t *record) health(o Options, now time.Time) core.TargetHealth {
	h := core.TargetHealth{
		Status:              core.HealthHealthy,
		ConsecutiveFailures: t.failures,
		LastSuccess:         t.lastSuccess,
		LastFailure:         t.lastFailure,
		LastError:           t.lastError,
	}
	w := t.window.stats(now, o.Window)
	judged := w.samples() >= o.MinSamples
	last := fmt.Sprintf("last: %s", t.lastError)
	switch {
	case t.failures >= o.UnhealthyAfter:
		h.Status, h.Reason = core.HealthUnhealthy, failuresReason(t.failures, last)
	case t.failures > 0 && judged && w.ratio() < o.UnhealthySuccessRatio:
		h.Status, h.Reason = core.HealthUnhealthy, ratioReason(w, o, o.UnhealthySuccessRatio)+", "+last
	case t.failures >= o.DegradedAfter:
		h.Status, h.Reason = core.HealthDegraded, failuresReason(t.failures, last)
	case judged && w.ratio() < o.DegradedSuccessRatio:
		h.Status, h.Reason = core.HealthDegraded, ratioReason(w, o, o.DegradedSuccessRatio)
	case w.answered >= o.MinSamples && w.latency > o.DegradedLatency:
		h.Status = core.HealthDegraded
		h.Reason = fmt.Sprintf("mean latency %s over %d deliveries in the last %s is above %s",
			w.latency.Round(time.Millisecond), w.answered, o.Window, o.DegradedLatency)
	case t.failures > 0:
		h.Reason = failuresReason(t.failures, last)
	case t.rejected:
		h.Reason = "target answered but rejected the last delivery: " + t.lastError
	default:
		h.Reason = t.okReason()
	}
	if h.Status != core.HealthHealthy && now.Sub(t.lastOutcome()) >= o.RecheckAfter {
		h.Status, h.Reason, h.TrialDue = core.HealthDegraded, ReasonRecheck, true
	}
	return h
}

func (t *record) okReason() string {
	if t.probe != nil && !t.probe.At.Before(t.lastSuccess) {
		return "last probe succeeded"
	}
	return "last delivery succeeded"
}

// lastOutcome is when the target last gave news of itself.
func (t *record) lastOutcome() time.Time {
	last := t.lastSuccess
	if t.lastFailure.After(last) {
		last = t.lastFailure
	}
	if t.probe != nil && t.probe.At.After(last) {
		last = t.probe.At
	}
	return last
}

func failuresReason(n int, last string) string {
	return fmt.Sprintf("%d consecutive %s, %s", n, plural(n, "failure"), last)
}

func ratioReason(w windowStats, o Options, threshold float64) string {
	return fmt.Sprintf("success ratio %.0f%% over %d outcomes in the last %s is below %.0f%%",
		100*w.ratio(), w.samples(), o.Window, 100*threshold)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
