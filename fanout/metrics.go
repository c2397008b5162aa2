package fanout

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/am-fanout/am-fanout/core"
)

// Metrics are the fan-out's Prometheus metrics.
type Metrics struct {
	targetSuccess    *prometheus.CounterVec
	targetFailure    *prometheus.CounterVec
	targetSkipped    *prometheus.CounterVec
	deliveryDuration *prometheus.HistogramVec
	inFlight         prometheus.Gauge
}

// NewMetrics creates the fan-out metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		targetSuccess: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "am_fanout_target_success_total",
			Help: "Alerts delivered to a target.",
		}, []string{"target", "type"}),
		targetFailure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "am_fanout_target_failure_total",
			Help: "Failed deliveries to a target, by error type.",
		}, []string{"target", "type", "error_type"}),
		targetSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "am_fanout_target_skipped_total",
			Help: "Deliveries to a target skipped, by reason.",
		}, []string{"target", "type", "skip_reason"}),
		deliveryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "am_fanout_target_delivery_duration_seconds",
			Help:    "Duration of one delivery attempt to a target.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"target", "type"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "am_fanout_deliveries_in_flight",
			Help: "Deliveries being sent right now.",
		}),
	}
	reg.MustRegister(m.targetSuccess, m.targetFailure,
		m.targetSkipped, m.deliveryDuration, m.inFlight)
	return m
}

func (m *Metrics) recordTarget(r *core.TargetPublishResult) {
	switch {
	case r.Skipped:
		m.targetSkipped.WithLabelValues(r.TargetName, r.TargetType, r.SkipReason).Inc()
		return
	case r.Success:
		m.targetSuccess.WithLabelValues(r.TargetName, r.TargetType).Inc()
	default:
		m.targetFailure.WithLabelValues(r.TargetName, r.TargetType, core.ErrorType(r.Error)).Inc()
	}
	m.deliveryDuration.WithLabelValues(r.TargetName, r.TargetType).Observe(r.Duration.Seconds())
}

// InitTarget creates every series of a new target at zero, so that rates
// and alerts work from its first failure on.
func (m *Metrics) InitTarget(name, typ string) {
	m.targetSuccess.WithLabelValues(name, typ)
	m.deliveryDuration.WithLabelValues(name, typ)
	for _, et := range core.ErrorTypes() {
		m.targetFailure.WithLabelValues(name, typ, et)
	}
	for _, sr := range core.SkipReasons() {
		m.targetSkipped.WithLabelValues(name, typ, sr)
	}
}

// DeleteTarget removes every series of a target that is no longer
// configured.
func (m *Metrics) DeleteTarget(name string) {
	l := prometheus.Labels{"target": name}
	m.targetSuccess.DeletePartialMatch(l)
	m.targetFailure.DeletePartialMatch(l)
	m.targetSkipped.DeletePartialMatch(l)
	m.deliveryDuration.DeletePartialMatch(l)
}

// Deliveries counts a target's delivery outcomes since it was configured;
// skipped deliveries are not outcomes.
type Deliveries struct {
	Success uint64 `json:"success"`
	Failure uint64 `json:"failure"`
}

// Deliveries reads every target's counts from the counters of
// am_fanout_target_success_total and am_fanout_target_failure_total, so
// that the status API and the metrics cannot disagree.
func (m *Metrics) Deliveries() map[string]Deliveries {
	out := map[string]Deliveries{}
	eachTarget(m.targetSuccess, func(target string, n uint64) {
		d := out[target]
		d.Success += n
		out[target] = d
	})
	eachTarget(m.targetFailure, func(target string, n uint64) {
		d := out[target]
		d.Failure += n
		out[target] = d
	})
	return out
}

// eachTarget calls fn with the target label and value of every counter
// of vec.
func eachTarget(vec *prometheus.CounterVec, fn func(target string, n uint64)) {
	ch := make(chan prometheus.Metric)
	go func() {
		vec.Collect(ch)
		close(ch)
	}()
	for c := range ch {
		var pb dto.Metric
		if c.Write(&pb) != nil {
			continue
		}
		for _, l := range pb.GetLabel() {
			if l.GetName() == "target" {
				fn(l.GetValue(), uint64(pb.GetCounter().GetValue()))
			}
		}
	}
}
