package config

import (
	"net"
	"net/url"
	"time"

	"github.com/am-fanout/am-fanout/publish"
	"github.com/prometheus/common/model"
)

// Health configures how the health monitor judges targets from the
// outcomes of their deliveries.
type Health struct {
	// Window is how far back the success ratio and latency look.
	Window model.Duration `yaml:"window"`
	// MinSamples is how many outcomes the window must hold before its
	// success ratio and latency are judged.
	MinSamples int `yaml:"min_samples"`
	// DegradedAfter and UnhealthyAfter are the consecutive failures that
	// make a target degraded and unhealthy.
	DegradedAfter  int `yaml:"degraded_after"`
	UnhealthyAfter int `yaml:"unhealthy_after"`
	// DegradedSuccessRatio and UnhealthySuccessRatio are the success
	// ratios over the window below which a target is degraded, or
	// unhealthy while it keeps failing.
	DegradedSuccessRatio  float64 `yaml:"degraded_success_ratio"`
	UnhealthySuccessRatio float64 `yaml:"unhealthy_success_ratio"`
	// DegradedLatency is the mean latency over the window above which a
	// target is degraded.
	DegradedLatency model.Duration `yaml:"degraded_latency"`
	// RecheckAfter is how long a degraded or unhealthy target is left
	// alone before a trial delivery is let through.
	RecheckAfter model.Duration `yaml:"recheck_after"`
}

// DefaultHealth is the health section used for every key the file omits.
func DefaultHealth() Health {
	return Health{
		Window:                model.Duration(5 * time.Minute),
		MinSamples:            5,
		DegradedAfter:         1,
		UnhealthyAfter:        3,
		DegradedSuccessRatio:  0.9,
		UnhealthySuccessRatio: 0.5,
		DegradedLatency:       model.Duration(5 * time.Second),
		RecheckAfter:          model.Duration(30 * time.Second),
	}
}

func (h *Health) validate(pos *position) error {
	durations := []struct {
		key string
		d   model.Duration
	}{{"window", h.Window}, {"degraded_latency", h.DegradedLatency}, {"recheck_after", h.RecheckAfter}}
	for _, f := range durations {
		if f.d <= 0 {
			return pos.errorf("health."+f.key, "must be positive")
		}
	}
	counts := []struct {
		key string
		n   int
	}{{"min_samples", h.MinSamples}, {"degraded_after", h.DegradedAfter}, {"unhealthy_after", h.UnhealthyAfter}}
	for _, f := range counts {
		if f.n < 1 {
			return pos.errorf("health."+f.key, "must be at least 1, got %d", f.n)
		}
	}
	if h.UnhealthyAfter < h.DegradedAfter {
		return pos.errorf("health.unhealthy_after", "must not be below degraded_after (%d), got %d", h.DegradedAfter, h.UnhealthyAfter)
	}
	ratios := []struct {
		key string
		r   float64
	}{{"degraded_success_ratio", h.DegradedSuccessRatio}, {"unhealthy_success_ratio", h.UnhealthySuccessRatio}}
	for _, f := range ratios {
		if f.r <= 0 || f.r > 1 {
			return pos.errorf("health."+f.key, "must be above 0 and at most 1, got %g", f.r)
		}
	}
	if h.UnhealthySuccessRatio > h.DegradedSuccessRatio {
		return pos.errorf("health.unhealthy_success_ratio", "must not be above degraded_success_ratio (%g), got %g",
			h.DegradedSuccessRatio, h.UnhealthySuccessRatio)
	}
	return nil
}

// Probe is a target's optional active health check: an HTTP GET that must
// answer 2xx, or a TCP connection that must open. Targets without one are
// never probed, since vendor APIs do not answer probes sensibly.
type Probe struct {
	// HTTPGet is the URL to GET; a Secret, since it may hold a token.
	HTTPGet publish.Secret `yaml:"http_get"`
	// TCP is the host:port to connect to.
	TCP      string         `yaml:"tcp"`
	Interval model.Duration `yaml:"interval"`
	Timeout  model.Duration `yaml:"timeout"`
}

// The defaults of a probe's interval and timeout.
const (
	DefaultProbeInterval = 30 * time.Second
	DefaultProbeTimeout  = 5 * time.Second
)

// validate checks the probe of the target name and sets its defaults.
func (p *Probe) validate(pos *position, name string) error {
	if p.Interval == 0 {
		p.Interval = model.Duration(DefaultProbeInterval)
	}
	if p.Timeout == 0 {
		p.Timeout = model.Duration(min(DefaultProbeTimeout, time.Duration(p.Interval)))
	}
	switch {
	case (p.HTTPGet == "") == (p.TCP == ""):
		return pos.errorf("probe", "target %q: exactly one of http_get or tcp is required", name)
	case p.Interval < 0:
		return pos.errorf("probe.interval", "target %q: must be positive", name)
	case p.Timeout <= 0 || p.Timeout > p.Interval:
		return pos.errorf("probe.timeout", "target %q: must be positive and at most the interval (%s)", name, p.Interval)
	}
	if p.HTTPGet != "" {
		// The parse error would quote the URL, so only say what is wrong.
		u, err := url.Parse(string(p.HTTPGet))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return pos.errorf("probe.http_get", "target %q: must be an absolute http or https URL", name)
		}
		return nil
	}
	if _, port, err := net.SplitHostPort(p.TCP); err != nil || port == "" {
		return pos.errorf("probe.tcp", "target %q: %q must be host:port", name, p.TCP)
	}
	return nil
}
