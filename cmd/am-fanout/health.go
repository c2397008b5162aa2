package main

import (
	"time"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/receiver"
	"github.com/prometheus/common/model"
)

// probesOf returns the probe of every target that configures one.
func probesOf(ts []*core.Target) map[string]core.Probe {
	out := make(map[string]core.Probe)
	for _, t := range ts {
		if t.Probe != nil {
			out[t.Name] = *t.Probe
		}
	}
	return out
}

// applyHealth brings the health monitor and the probes in line with a new
// set of targets; s.mu must be held. An unchanged target keeps its
// health. A changed one (another URL, type, matchers, ...; core.Target
// Key) starts unknown, like its breaker starts closed: its history was
// earned by a destination it no longer delivers to, and keeping a stale
// "unhealthy" would skip the corrected target until the next recheck.
func (s *server) applyHealth(cfg *config.Config, old, current []*core.Target) {
	s.health.SetOptions(cfg.Health.Options())
	was := make(map[string]string, len(old))
	for _, t := range old {
		was[t.Name] = t.Key
	}
	for _, t := range current {
		if key, ok := was[t.Name]; ok && key != t.Key {
			s.health.Forget(t.Name)
		}
	}
	s.prober.Update(probesOf(current))
}

// probeStatus describes the target's probe for the status API; nil when
// it has none.
func (s *server) probeStatus(t *core.Target) *receiver.ProbeStatus {
	if t.Probe == nil {
		return nil
	}
	ps := &receiver.ProbeStatus{Kind: "tcp", Interval: model.Duration(t.Probe.Interval).String()}
	if t.Probe.HTTPGet != "" {
		ps.Kind = "http_get"
	}
	if last, ok := s.health.LastProbe(t.Name); ok {
		ps.LastAt, ps.LastError = last.At, last.Error
		ps.LastDuration = last.Duration.Round(time.Microsecond).String()
	}
	return ps
}
