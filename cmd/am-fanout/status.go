package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"

	"github.com/am-fanout/am-fanout/breaker"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/fanout"
	"github.com/am-fanout/am-fanout/health"
	"github.com/am-fanout/am-fanout/receiver"
)

// TargetStatuses implements receiver.StatusSource.
func (s *server) TargetStatuses() []receiver.TargetStatus {
	built := s.targets.Targets()
	deliveries := s.metrics.Deliveries()
	lanes := s.durable.box.Lanes()
	out := make([]receiver.TargetStatus, 0, len(built))
	for _, t := range built {
		t := t
		h, _ := s.health.GetHealthByName(context.Background(), t.Name)
		var counts breaker.Counts
		state := breaker.Closed
		if b, ok := s.breakers.Lookup(t.Name); ok {
			counts, state = b.Counts(), b.State()
		}
		st := receiver.TargetStatus{
			Name: t.Name, Type: t.Type, Source: t.Source, Match: t.Match,
			SendResolved: t.SendResolved, Timeout: model.Duration(t.Timeout).String(),
			Breaker: receiver.BreakerStatus{
				State:               state.String(),
				Requests:            counts.Requests,
				ConsecutiveFailures: counts.ConsecutiveFailures,
				TotalFailures:       counts.TotalFailures,
				TotalSuccesses:      counts.TotalSuccesses,
			},
			Deliveries: deliveries[t.Name],
			Probe:      s.probeStatus(t),
			State:      receiver.TargetActive,
			Lane:       lanes[t.Name],
		}
		if g, gone := s.gone.Lookup(t); gone {
			st.State, st.Gone = receiver.TargetGone, &receiver.GoneStatus{Since: g.Since, Error: g.Error}
		}
		if h != nil {
			st.Health = *h
		}
		if st.Lane.State == "" {
			st.Lane.State = fanout.LaneIdle
		}
		if st.Match == nil {
			st.Match = []string{}
		}
		out = append(out, st)
	}
	return out
}

// Status implements receiver.StatusSource.
func (s *server) Status() receiver.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return receiver.Status{
		Version: version.Version, StartedAt: s.started,
		Uptime:      time.Since(s.started).Round(time.Second).String(),
		ConfigFiles: s.files, LastReload: s.last,
		AdminAPI: s.flags.enableAdminAPI,
	}
}

// targetCollector exports per-target state read at scrape time, so that
// targets removed by a reload leave no stale series.
type targetCollector struct {
	s        *server
	breaker  *prometheus.Desc
	health   *prometheus.Desc
	failures *prometheus.Desc
	probe    *prometheus.Desc
	gone     *prometheus.Desc
}

func newTargetCollector(s *server) *targetCollector {
	return &targetCollector{
		s: s,
		breaker: prometheus.NewDesc("am_fanout_breaker_state",
			"State of a target's circuit breaker: 0 closed, 1 half-open, 2 open.", []string{"target"}, nil),
		health: prometheus.NewDesc("am_fanout_target_health",
			"Health of a target: 0 unknown, 1 healthy, 2 degraded, 3 unhealthy.", []string{"target"}, nil),
		failures: prometheus.NewDesc("am_fanout_target_consecutive_failures",
			"Consecutive failed deliveries or probes of a target.", []string{"target"}, nil),
		probe: prometheus.NewDesc("am_fanout_probe_duration_seconds",
			"Duration of a target's last probe; only targets with a probe have it.", []string{"target"}, nil),
		gone: prometheus.NewDesc("am_fanout_target_gone",
			"1 when a target said it no longer exists (a deleted webhook) and is skipped until its configuration changes, else 0.", []string{"target"}, nil),
	}
}

func (c *targetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.breaker
	ch <- c.health
	ch <- c.failures
	ch <- c.probe
	ch <- c.gone
}

func (c *targetCollector) Collect(ch chan<- prometheus.Metric) {
	built := c.s.targets.Targets()
	for _, t := range built {
		name := t.Name
		if b, ok := c.s.breakers.Lookup(name); ok {
			ch <- prometheus.MustNewConstMetric(c.breaker, prometheus.GaugeValue, float64(b.State()), name)
		}
		h := core.TargetHealth{Status: core.HealthUnknown}
		if got, err := c.s.health.GetHealthByName(context.Background(), name); err == nil && got != nil {
			h = *got
		}
		ch <- prometheus.MustNewConstMetric(c.health, prometheus.GaugeValue, health.StatusValue(h.Status), name)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.GaugeValue, float64(h.ConsecutiveFailures), name)
		gone := 0.0
		if _, ok := c.s.gone.Lookup(t); ok {
			gone = 1
		}
		ch <- prometheus.MustNewConstMetric(c.gone, prometheus.GaugeValue, gone, name)
		if p, ok := c.s.health.LastProbe(name); ok && t.Probe != nil {
			ch <- prometheus.MustNewConstMetric(c.probe, prometheus.GaugeValue, p.Duration.Seconds(), name)
		}
	}
}
