package receiver

import (
	"net/http"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/fanout"
)

// TargetStatus is what the status API tells about one target. It never
// holds a secret.
type TargetStatus struct {
	Name         string            `json:"name"`
	Type         string            `json:"type"`
	Source       string            `json:"source"`
	Match        []string          `json:"match"`
	SendResolved bool              `json:"send_resolved"`
	Timeout      string            `json:"timeout"`
	Health       core.TargetHealth `json:"health"`
	Breaker      BreakerStatus     `json:"breaker"`
	Deliveries   fanout.Deliveries `json:"deliveries"`
	// Probe is the target's active health check; nil when it has none.
	Probe *ProbeStatus `json:"probe,omitempty"`
	// Lane is what the target's lane is doing and when it next sends.
	Lane fanout.LaneStatus `json:"lane"`
	// State is TargetActive, or TargetGone once the target said it no
	// longer exists (a deleted webhook): it is skipped until its
	// configuration changes.
	State string `json:"state"`
	// Gone says since when and why, when State is TargetGone.
	Gone *GoneStatus `json:"gone,omitempty"`
}

// The states of a target.
const (
	TargetActive = "active"
	TargetGone   = "gone"
)

// GoneStatus is since when, and why, a target is gone.
type GoneStatus struct {
	Since time.Time `json:"since"`
	Error string    `json:"error"`
}

// ProbeStatus describes a target's probe and its last outcome. The probe's
// URL is left out, since it may hold a token.
type ProbeStatus struct {
	// Kind is "http_get" or "tcp".
	Kind     string `json:"kind"`
	Interval string `json:"interval"`
	// LastAt is zero until the first probe has finished.
	LastAt       time.Time `json:"last_at,omitzero"`
	LastDuration string    `json:"last_duration,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
}

// BreakerStatus is the state of a target's circuit breaker.
type BreakerStatus struct {
	State               string `json:"state"`
	Requests            uint32 `json:"requests"`
	ConsecutiveFailures uint32 `json:"consecutive_failures"`
	TotalFailures       uint32 `json:"total_failures"`
	TotalSuccesses      uint32 `json:"total_successes"`
}

// Status is what the status API tells about the process.
type Status struct {
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	Uptime      string    `json:"uptime"`
	ConfigFiles []string  `json:"config_files"`
	LastReload  Reload    `json:"last_reload"`
	// AdminAPI says the admin endpoints (dead-letter replay and purge,
	// test sends) are enabled.
	AdminAPI bool `json:"admin_api"`
}

// Reload is the outcome of the last configuration (re)load.
type Reload struct {
	At      time.Time `json:"at"`
	Success bool      `json:"success"`
	Error   string    `json:"error,omitempty"`
}

// StatusSource provides the state the status API shows.
type StatusSource interface {
	TargetStatuses() []TargetStatus
	Status() Status
}

// TargetsHandler serves GET /api/v1/targets.
func TargetsHandler(src StatusSource) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		writeJSON(rw, http.StatusOK, struct {
			Targets []TargetStatus `json:"targets"`
		}{src.TargetStatuses()})
	})
}

// StatusHandler serves GET /api/v1/status.
func StatusHandler(src StatusSource) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		writeJSON(rw, http.StatusOK, src.Status())
	})
}
