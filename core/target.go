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

// Target is one configured destination, from the config file to the
// delivery attempt: its identity, the rules that decide which alerts it
// receives, its type's own block, and, once installed, its publisher and
// circuit breaker.
type Target struct {
	// Name is unique among targets (a DNS-1123 label).
	Name string
	// Type is the publisher type: webhook, file, slack, pagerduty, ...
	Type string
	// Source is where the target was defined, as "file:line".
	Source string
	// Match holds the target's matchers as written; Selector applies them.
	Match []string
	// Selector picks the alerts this target receives; nil selects all.
	Selector Selector
	// SendResolved says whether resolved alerts are delivered too.
	SendResolved bool
	// Timeout bounds one delivery attempt.
	Timeout time.Duration
	// GroupBy says whether a delivery carries one alert or one whole
	// notification; GroupByNotification needs a GroupPublisher.
	GroupBy GroupBy
	// RateLimit paces the target's requests, first attempts and retries
	// alike.
	RateLimit RateLimit
	// Breaker configures the target's circuit breaker.
	Breaker BreakerSettings
	// Probe is the target's active health check; nil for none.
	Probe *Probe
	// Fallback names the targets that get a delivery of this target's
	// once it becomes a dead letter, whatever their matchers say.
	Fallback []string
	// Spec is the type's own configuration block (a publish.Config).
	Spec Spec
	// Key identifies the target's configuration: it changes when anything
	// but a secret's value changes, so a reload keeps the breaker and
	// health of unchanged targets. It never holds a secret.
	Key string

	// Publisher delivers to the target; set when the target is installed.
	Publisher Publisher
	// Circuit is the target's breaker; nil for none.
	Circuit CircuitBreaker
}

// Spec is a target type's own configuration block. Validate checks it and
// reads its *_file secrets, resolving relative paths against dir.
type Spec interface {
	Validate(dir string) error
}

// CircuitBreaker makes an attempt unless the target's breaker rejects it,
// in which case the outcome is a skip (circuit_open, circuit_half_open).
type CircuitBreaker interface {
	Run(ctx context.Context, attempt func(context.Context) Outcome) Outcome
}

// BreakerSettings configure a target's circuit breaker.
type BreakerSettings struct {
	// Failures is how many consecutive retryable failures open the breaker;
	// 0 opens it on the first one.
	Failures uint32
	// OpenFor is how long the breaker stays open before it lets trial
	// deliveries through; 0 means 60s.
	OpenFor time.Duration
	// HalfOpenRequests is how many trial deliveries the half-open breaker
	// lets through, all of which must succeed to close it; 0 means 1.
	HalfOpenRequests uint32
}

// Probe is a target's active health check: an HTTP GET or a TCP connect.
type Probe struct {
	// HTTPGet is the URL to GET. It may hold a token, so it never appears
	// in an error, a log or an API answer.
	HTTPGet string `json:"-"`
	// TCP is the host:port to connect to, when HTTPGet is empty.
	TCP      string
	Interval time.Duration
	Timeout  time.Duration
}

// Selects reports whether the target should receive the alert.
func (t *Target) Selects(a *EnrichedAlert) bool {
	if a.Alert.Status == StatusResolved && !t.SendResolved {
		return false
	}
	return t.Selector == nil || t.Selector.Selects(a.Alert.Labels)
}

// HealthStrategy decides which targets a fan-out skips by their health;
// its value is the config's fanout.health_strategy.
type HealthStrategy string

// The health strategies.
const (
	// StrategySkipUnhealthy skips unhealthy targets; it delivers to
	// healthy, degraded and unknown ones.
	StrategySkipUnhealthy HealthStrategy = "skip_unhealthy"
	// StrategyPublishToAll ignores health.
	StrategyPublishToAll HealthStrategy = "publish_to_all"
	// StrategySkipUnhealthyAndDegraded delivers to healthy and unknown
	// targets only.
	StrategySkipUnhealthyAndDegraded HealthStrategy = "skip_unhealthy_and_degraded"
)

// HealthStrategies lists the health strategies.
func HealthStrategies() []HealthStrategy {
	return []HealthStrategy{StrategySkipUnhealthy, StrategyPublishToAll, StrategySkipUnhealthyAndDegraded}
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
