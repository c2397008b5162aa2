package core

import (
	"context"
	"time"
)

// Publisher delivers one alert to one target. It does not retry: retries
// belong to the caller, which knows about breakers and deadlines.
type Publisher interface {
	Publish(ctx context.Context, a *EnrichedAlert) error
}

// Selector decides whether a target receives an alert with the given labels.
type Selector interface {
	Selects(labels map[string]string) bool
}

// Target is one configured destination: its identity and the rules that
// decide which alerts it receives.
type Target struct {
	// Name is unique among targets (a DNS-1123 label).
	Name string
	// Type is the publisher type: webhook, file, slack, pagerduty, ...
	Type string
	// Source is where the target was defined, as "file:line".
	Source string
	// Selector picks the alerts this target receives; nil selects all.
	Selector Selector
	// SendResolved says whether resolved alerts are delivered too.
	SendResolved bool
	// Timeout bounds one delivery attempt.
	Timeout time.Duration
}

// Selects reports whether the target should receive the alert.
func (t *Target) Selects(a *EnrichedAlert) bool {
	if a.Alert.Status == StatusResolved && !t.SendResolved {
		return false
	}
	return t.Selector == nil || t.Selector.Selects(a.Alert.Labels)
}

// HealthStatus is a target's health as the health monitor sees it.
type HealthStatus string

// The health statuses of a target.
const (
	HealthUnknown   HealthStatus = "unknown"
	HealthHealthy   HealthStatus = "healthy"
	HealthDegraded  HealthStatus = "degraded"
	HealthUnhealthy HealthStatus = "unhealthy"
)

// TargetHealth is the health of one target and why.
type TargetHealth struct {
	Status              HealthStatus `json:"status"`
	Reason              string       `json:"reason,omitempty"`
	ConsecutiveFailures int          `json:"consecutive_failures"`
	LastSuccess         time.Time    `json:"last_success,omitzero"`
	LastFailure         time.Time    `json:"last_failure,omitzero"`
	LastError           string       `json:"last_error,omitempty"`
	// TrialDue says the target failed a while ago and should get the next
	// delivery as a trial, whatever the health strategy, so that it can
	// never stay skipped for good.
	TrialDue bool `json:"trial_due,omitempty"`
}
