package main

import (
	"time"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/health"
	"github.com/am-fanout/am-fanout/receiver"
)

// healthOptions turns the config's health section into monitor options.
func healthOptions(h config.Health) health.Options {
	return health.Options{
		UnhealthyAfter:        h.UnhealthyAfter,
		DegradedAfter:         h.DegradedAfter,
		RecheckAfter:          time.Duration(h.RecheckAfter),
		Window:                time.Duration(h.Window),
		MinSamples:            h.MinSamples,
		DegradedSuccessRatio:  h.DegradedSuccessRatio,
		UnhealthySuccessRatio: h.UnhealthySuccessRatio,
		DegradedLatency:       time.Duration(h.DegradedLatency),
	}
}

// probesOf returns the probe of every target that configures one.
func probesOf(ts []*builtTarget) map[string]health.Probe {
	out := make(map[string]health.Probe)
	for _, bt := range ts {
		if p := bt.conf.Probe; p != nil {
			out[bt.conf.Name] = health.Probe{
				HTTPGet: string(p.HTTPGet), TCP: p.TCP,
				Interval: time.Duration(p.Interval), Timeout: time.Duration(p.Timeout),
			}
		}
	}
	return out
}

// applyHealth brings the health monitor and the probes in line with a new
// set of targets; s.mu must be held. An unchanged target keeps its
// health. A changed one (another URL, type, matchers, ...; config.Target
// Key) starts unknown, like its breaker starts closed: its history was
// earned by a destination it no longer delivers to, and keeping a stale
// "unhealthy" would skip the corrected target until the next recheck.
func (s *server) applyHealth(cfg *config.Config, old, current []*builtTarget) {
	s.health.SetOptions(healthOptions(cfg.Health))
	was := make(map[string]string, len(old))
	for _, bt := range old {
		was[bt.conf.Name] = bt.conf.Key()
	}
	for _, bt := range current {
		if key, ok := was[bt.conf.Name]; ok && key != bt.conf.Key() {
			s.health.Forget(bt.conf.Name)
		}
	}
	s.prober.Update(probesOf(current))
}

// probeStatus describes the target's probe for the status API; nil when
// it has none.
func (s *server) probeStatus(t *config.Target) *receiver.ProbeStatus {
	if t.Probe == nil {
		return nil
	}
	ps := &receiver.ProbeStatus{Kind: "tcp", Interval: t.Probe.Interval.String()}
	if t.Probe.HTTPGet != "" {
		ps.Kind = "http_get"
	}
	if last, ok := s.health.LastProbe(t.Name); ok {
		ps.LastAt, ps.LastError = last.At, last.Error
		ps.LastDuration = last.Duration.Round(time.Microsecond).String()
	}
	return ps
}
